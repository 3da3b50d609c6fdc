"""``wildchat``: open-ended instruction-following prompts, the paper's instruction-following setting.
No gold answers: responses are judged pairwise against another run's (``python -m laser_jax.judge``).

Hub (``data.path`` unset): ``allenai/WildChat-1M`` (``HUB_PATH``), split ``train`` (its only split;
any split string ``datasets.load_dataset`` takes works, e.g. ``train[:10%]``). A row holds
``conversation`` (a list of turns with ``role``, ``content``, ``language``, ``toxic``, ...), the
conversation's ``language`` (a name: "English"), ``toxic`` and ``conversation_hash``
(``conversation_id`` in the older ``allenai/WildChat`` / ``WildChat-nontoxic``, read too). WildChat
has no category field, so every hub prompt's family is ``"wildchat"``.

Local (``data.path``): a ``.jsonl`` file (one object per line) or a ``.json`` list of objects,
each either ``{"prompt": str, "category": str (optional), "id": str|int (optional)}`` or a
WildChat row as above (``conversation`` ...; e.g. a hub split saved with ``to_json``). The file is
the split (``data.train_split == data.test_split`` holds out ``data.holdout_fraction``). A
malformed row is a DataError naming the file and line (``.jsonl``) or item (``.json``).

Every row, hub or local, goes through the same rules, in this order (``read_rows``):
  1. the prompt is the first user turn (``conversation``'s first turn with role "user"; a
     ``prompt`` row is its own first turn); a row without one is dropped;
  2. English only: a row (or its first user turn) whose ``language`` is given and is not
     "English" / "en" (any case) is dropped; a row without a language is kept;
  3. non-toxic: a row whose ``toxic`` (or its first user turn's) is true is dropped (so the hub
     reader keeps WildChat-1M's non-toxic part, what ``allenai/WildChat-nontoxic`` was of the
     older release);
  4. length: ``MIN_WORDS`` <= words (whitespace-separated) <= ``MAX_WORDS`` and at most
     ``MAX_CHARS`` characters (3..256 words, 2,000 characters: a greeting is no task, and a longer
     prompt would not fit the policy's ``sampling.max_prompt_tokens`` = 512 with a reply);
  5. de-duplicated: the first row of each prompt text, compared exactly after whitespace
     normalisation (runs of whitespace -> one space, ends stripped); the kept prompt keeps its own
     whitespace.
How many rows each rule dropped is logged (one line per load).

Each kept prompt is an ``Example``: ``task`` "wildchat", ``question`` the prompt (the whole prompt:
``TaskSpec.raw_prompt``; the policy's chat template wraps it), ``answer`` None (no gold),
``meta``: ``family`` (the row's ``category``, else "wildchat"), ``source`` (file:line, or the hub
row), ``language`` when given. ``uid``: "wildchat-<id>" (a local row's ``id``, a hub row's
``conversation_hash`` / ``conversation_id``), else "wildchat-<file stem>-<index:06d>" / "wildchat-
<split>-<index:06d>", index = the row's position in the file or split before filtering; the same
row keeps its uid whatever the filters drop.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from laser_jax.data.example import DataError, Example
from laser_jax.data.sources import jsonl_records, read_text
from laser_jax.outputs import write_text_atomic

log = logging.getLogger("laser_jax")

TASK = "wildchat"
HUB_PATH = "allenai/WildChat-1M"
FAMILY = "wildchat"  # the family of a prompt without a category
MIN_WORDS, MAX_WORDS, MAX_CHARS = 3, 256, 2000
ENGLISH = frozenset({"english", "en"})
_SPACE = re.compile(r"\s+")
_FIX = ('a wildchat file is JSON Lines (.jsonl, one object per line) or one JSON list (.json) of '
        '{"prompt": "...", "category": "..." (optional), "id": ... (optional)} objects, or of '
        'WildChat rows with a "conversation" list of {"role", "content"} turns')
REASONS = ("no user turn", "not English", "toxic", "too short", "too long", "duplicate")


def normalise(text: str) -> str:
    """Whitespace runs to one space, ends stripped: the key de-duplication compares."""
    return _SPACE.sub(" ", text).strip()


def _first_user_turn(row: Mapping[str, Any], where: str) -> Mapping[str, Any] | None:
    turns = row["conversation"]
    if isinstance(turns, (str, Mapping)) or not isinstance(turns, Iterable):
        raise DataError(f"{where}: 'conversation' must be a list of turns, got {type(turns).__name__}; {_FIX}")
    for n, turn in enumerate(turns):
        if not (isinstance(turn, Mapping) and "role" in turn and "content" in turn):
            raise DataError(f"{where}: conversation turn {n} must be an object with 'role' and 'content'; {_FIX}")
        if turn["role"] == "user":
            if not isinstance(turn["content"], str):
                raise DataError(f"{where}: conversation turn {n} 'content' must be a string, got "
                                f"{type(turn['content']).__name__}")
            return turn
    return None


def _row(row: Any, where: str) -> tuple[str | None, str | None, str | None, bool, str | None]:
    """(prompt or None, category, language, toxic, id) of one row; DataError if malformed."""
    if not isinstance(row, Mapping):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}; {_FIX}")
    if "prompt" in row:
        prompt, turn = row["prompt"], {}
        if not isinstance(prompt, str) or not prompt.strip():
            raise DataError(f"{where}: 'prompt' must be a non-blank string, got {prompt!r:.80}; {_FIX}")
    elif "conversation" in row:
        turn = _first_user_turn(row, where) or {}
        prompt = turn.get("content")
    else:
        raise DataError(f"{where}: no 'prompt' or 'conversation' key (has {sorted(row)}); {_FIX}")
    category = row.get("category")
    if category is not None and not (isinstance(category, str) and category.strip()):
        raise DataError(f"{where}: 'category' must be a non-blank string when given, got {category!r}")
    language = turn.get("language") or row.get("language")
    if language is not None and not isinstance(language, str):
        raise DataError(f"{where}: 'language' must be a string when given, got {language!r}")
    toxic = bool(row.get("toxic")) or bool(turn.get("toxic"))
    uid = next((row[k] for k in ("id", "conversation_hash", "conversation_id") if row.get(k) not in (None, "")),
               None)
    if uid is not None and (isinstance(uid, bool) or not isinstance(uid, (str, int))):
        raise DataError(f"{where}: 'id' must be a string or an integer, got {uid!r}")
    return prompt, category and category.strip(), language, toxic, None if uid is None else str(uid)


def read_rows(rows: Iterable[tuple[Any, str]], fallback_uid: str, origin: str) -> list[Example]:
    """Examples from ``(row, where)`` pairs by the module docstring's rules; ``fallback_uid`` with
    ``{index}`` names a row without an id; ``origin`` names the source in the log line."""
    dropped: Counter = Counter()
    seen: set[str] = set()
    examples = []
    total = 0
    for index, (row, where) in enumerate(rows):
        total += 1
        prompt, category, language, toxic, uid = _row(row, where)
        key = None if prompt is None else normalise(prompt)
        words = len(key.split(" ")) if key else 0
        reason = ("no user turn" if not key
                  else "not English" if language is not None and language.strip().lower() not in ENGLISH
                  else "toxic" if toxic
                  else "too short" if words < MIN_WORDS
                  else "too long" if words > MAX_WORDS or len(prompt) > MAX_CHARS
                  else "duplicate" if key in seen
                  else None)
        if reason:
            dropped[reason] += 1
            continue
        seen.add(key)
        meta = {"family": category or FAMILY, "source": where} | ({"language": language} if language else {})
        examples.append(Example(uid=f"{TASK}-{uid}" if uid is not None else fallback_uid.format(index=index),
                                task=TASK, question=prompt, answer=None, meta=meta))
    log.info("%s: %d of %d rows kept as wildchat prompts (dropped: %s)", origin, len(examples), total,
             ", ".join(f"{dropped[r]} {r}" for r in REASONS if dropped[r]) or "none")
    return examples


def _file_rows(path: Path) -> list[tuple[Any, str]]:
    if path.suffix == ".json":
        try:
            items = json.loads(read_text(path))
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{err.lineno}: not valid JSON ({err.msg} at column {err.colno}); {_FIX}") from None
        if not isinstance(items, list):
            raise DataError(f"{path}: expected one JSON list of objects, got {type(items).__name__}; {_FIX}")
        return [(item, f"{path} item {n}") for n, item in enumerate(items)]
    return jsonl_records(path, _FIX)


def load_path(path: Path, split: str) -> list[Example]:
    """The prompts of a local ``.jsonl`` / ``.json`` file (the file is the split; ``split`` unused)."""
    if path.is_dir():
        raise DataError(f"{path}: a folder; give data.path as one .jsonl or .json file of prompts ({_FIX})")
    if path.suffix not in (".jsonl", ".json"):
        raise DataError(f"{path}: unknown file type {path.suffix!r}; {_FIX}")
    return read_rows(_file_rows(path), f"{TASK}-{path.stem}-{{index:06d}}", str(path))


def load_hub(split: str) -> list[Example]:
    """The prompts of ``HUB_PATH``'s ``split`` (module docstring), read with ``datasets``."""
    try:
        import datasets  # slow to import; only the hub path needs it

        rows = datasets.load_dataset(HUB_PATH, split=split)
    except Exception as err:  # noqa: BLE001 - network, auth, cache and split errors alike
        raise DataError(f"could not load {HUB_PATH} split {split!r} from the Hugging Face hub "
                        f"({type(err).__name__}: {err}); without network access set config.data.path to a "
                        f"local .jsonl / .json file of prompts ({_FIX})") from err
    return read_rows(((row, f"hub {HUB_PATH} split {split!r} row {i}") for i, row in enumerate(rows)),
                     f"{TASK}-{split}-{{index:06d}}", f"hub {HUB_PATH} split {split!r}")


SAMPLE_PROMPTS = {  # a small offline prompt set in three categories (configs/wildchat.py:quick)
    "writing": ("Write a short poem about the first snow of winter.",
                "Write a friendly email inviting my neighbours to a garden party on Saturday.",
                "Write a two-sentence story about a lost umbrella.",
                "Describe a sunrise over the sea in three sentences.",
                "Write a thank-you note to a teacher who helped me learn to read.",
                "Write a product description for a wooden chess set."),
    "coding": ("Write a Python function that returns the largest number in a list.",
               "Explain what a for loop does in Python, with a short example.",
               "How do I reverse a string in JavaScript?",
               "Write a SQL query that counts the rows of a table named orders.",
               "What is the difference between a list and a tuple in Python?",
               "Write a bash command that lists the ten largest files in a folder."),
    "advice": ("How can I sleep better when I am stressed about exams?",
               "Give me three tips for keeping a small vegetable garden.",
               "How should I prepare for my first job interview?",
               "What are some ways to save money on groceries each week?",
               "How do I start running if I have never exercised before?",
               "What should I pack for a three-day hiking trip?"),
}


def write_sample(path: str | Path) -> Path:
    """``SAMPLE_PROMPTS`` as a local prompt file (JSON Lines with prompt, category, id)."""

    lines = [json.dumps({"id": f"{category}-{i}", "prompt": prompt, "category": category})
             for category, prompts in SAMPLE_PROMPTS.items() for i, prompt in enumerate(prompts)]
    return write_text_atomic(path, "\n".join(lines) + "\n")
