"""A judge as a reward model (kind ``judge``): an instruction-tuned LM is asked a yes/no question
about each (prompt, response) and the score is its log-odds of answering yes:

    score = log p(yes) - log p(no)

both log-softmax over the full vocabulary at the answer position (the position after the judge's
input), read from the first token of each answer string. Nothing is sampled.

    dict(name="j", kind="judge", path="smollm2-135m-instruct")
    dict(name="j", kind="judge", path=..., question="Is the final answer correct?", yes="Yes", no="No")

The judge's input. The user message is ``FRAME`` with the prompt, the response and a question
filled in; the question is ``question`` when the entry gives one, else the default of the row's
task (`default_question`: the row's ``Example.task``, e.g. gsm8k / strategyqa / mmlu for the demo
task's rows, else the run's data.task): a number's final answer for math, a yes/no answer, a
multiple-choice option, instructions followed, or "correct and helpful" for open-ended requests.
A ``question`` holding ``{response}`` (and usually ``{prompt}``) is the whole user message instead
of the frame's question line. With a chat template (``chat_template``: null = when the tokenizer
has one, as other neural RMs) the message is the user turn (after an optional ``system`` turn) with
the generation prompt; without one the text ends in ``PLAIN_SUFFIX``. Rows longer than
``max_length`` (default: the model's context) keep their last tokens (a warning says so).

Answer tokens. ``yes`` / ``no`` unset: "Yes" / "No", bare or space-prefixed as
`laser_jax.rewards.answers.answer_pair` picks (bare first under a chat template); set: the first
token of each string as given. Two answers starting with the same token, or an empty answer, are
a ConfigError naming the RM and the field.

Prompt-once (``share_prompt``, default true). Every row is tokenised whole (the canonical ids of
the full text); the text before the response (chat header, frame, prompt) is tokenised alone, and
where the whole row's ids start with it, that prefix is the row's shared part: the n rows of one
prompt that share it run it once (`rewards.batching.shared_batches`,
`rewards.answers.shared_answer_logits`) and only their tails (response, question, generation
prompt) run per response. A template that puts ``{response}`` before ``{prompt}`` still shares
the text before the response (the frame), only less. Rows whose prefix does not tokenise apart
(a BPE merge across the boundary), and every row with share_prompt false, run whole
(`rewards.answers.read_answer_logits`). Both give the same numbers (tests/rewards/test_judge_rm.py).

Weights come from the builder's model cache, so a judge on the policy's checkpoint (or on another
RM's) shares its weights. The judge is scored on its own (never stacked with other RMs).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from flax import nnx

from laser_jax.data.example import DataError
from laser_jax.data.tasks import row_task
from laser_jax.errors import ConfigError
from laser_jax.models import CausalLM
from laser_jax.rewards.answers import answer_pair, first_token, has_chat_template, read_answer_logits, \
    shared_answer_logits
from laser_jax.rewards.base import check_inputs
from laser_jax.rewards.batching import placed_shared, prompt_groups, shared_batches
from laser_jax.rewards.neural import DEFAULT_BATCH, check_vocab
from laser_jax.rewards.text import Encoded, _leading_special_ids
from laser_jax.sharding import mesh_of, replicated_for, to_host

log = logging.getLogger("laser_jax")

FRAME = """\
[Request]
{prompt}

[Response]
{response}

{question} Answer with a single word: {yes} or {no}."""
PLAIN_SUFFIX = "\n\nAnswer:"
QUESTIONS = {
    "math": "Is the final answer of this response correct?",
    "yes_no": "Is the yes/no answer given in this response correct?",
    "choice": "Is the option this response chooses the correct one?",
    "instructions": "Does this response follow every instruction of the request?",
    "open": "Is this response correct and helpful?",
}
FAMILIES = {"gsm8k": "math", "strategyqa": "yes_no", "mmlu": "choice", "ifeval_like": "instructions",
            "jsonl:numeric": "math", "jsonl:choice": "choice"}
SENTINEL = "\u0000response\u0000"


def task_family(task: str | None, gold: str | None = None) -> str:
    """The question family of a row's task: math, yes_no, choice, instructions or open (the rest:
    wildchat, longbench, jsonl files with text answers, no task). A mixed task's row (demo) is its
    gold's answer format."""
    if task and gold is not None:
        try:
            task = row_task(task, gold)
        except (DataError, KeyError, ValueError):
            pass
    return FAMILIES.get(task or "", "open")


def default_question(task: str | None, gold: str | None = None) -> str:
    """The question asked about a row of `task` when the entry gives none (`QUESTIONS`)."""
    return QUESTIONS[task_family(task, gold)]


def judge_message(prompt: str, response: str, question: str | None = None, task: str | None = None,
                  gold: str | None = None, yes: str = "Yes", no: str = "No") -> str:
    """The judge's user message for one row: `question` (None: `default_question` of the row's
    task and gold) in ``FRAME``, or, a question holding {response}, that template filled in one
    pass (a prompt may itself hold "{response}"). Shared by kind ``judge`` and the
    ``openai_completions`` form of kind ``http`` (`laser_jax.rewards.http`)."""
    q = question if question is not None else default_question(task, gold)
    if "{response}" in q:
        fill = {"{prompt}": prompt, "{response}": response}
        return re.sub(r"\{prompt\}|\{response\}", lambda m: fill[m.group(0)], q)
    return FRAME.format(prompt=prompt, response=response, question=q, yes=yes.strip(), no=no.strip())


def check_question(question: Any, where: str) -> list[str]:
    """Problems of a `question` field: a non-empty string; a whole template ({response} in it)
    uses no placeholder but {prompt} and {response}."""
    if question is None:
        return []
    if not isinstance(question, str) or not question.strip():
        return [f"{where}.question={question!r} must be a non-empty string (a question, or a template with "
                "{prompt} and {response})"]
    if "{prompt}" in question and "{response}" not in question:
        return [f"{where}.question: a template with {{prompt}} must also hold {{response}} (where the response "
                "goes); a question without placeholders is put in the default frame"]
    return []


class JudgeRM:
    """score = log p(yes) - log p(no) of `model` asked about each (prompt, response) (module doc).

    task: the question's task when the rows carry none (the builder's data.task)."""

    kind = "judge"

    def __init__(self, model: CausalLM, tokenizer: Any, name: str, *, question: str | None = None,
                 yes: str | None = None, no: str | None = None, task: str | None = None,
                 batch_size: int = DEFAULT_BATCH, max_length: int | None = None, chat_template: bool | None = None,
                 system: str | None = None, share_prompt: bool = True, where: str = "rewards"):
        who = f"{where} (reward model {name!r})"
        if not isinstance(model, CausalLM):
            raise ConfigError(f"{where}.path: reward model {name!r} of kind 'judge' needs a causal LM "
                              f"(*ForCausalLM), this model loads as {type(model).__name__}")
        problems = check_question(question, where)
        if problems:
            raise ConfigError(problems[0])
        self.model, self.tokenizer, self.name = model, tokenizer, name
        self.question, self.task, self.system = question, task, system
        self.batch_size, self.share_prompt = int(batch_size), bool(share_prompt)
        has = has_chat_template(tokenizer)
        if chat_template and not has:
            raise ConfigError(f"{where}.chat_template=True but reward model {name!r}'s tokenizer has no chat "
                              "template; set chat_template to false (plain text) or null")
        self.chat = has if chat_template is None else bool(chat_template)
        self.max_length = max_length or model.cfg.max_position_embeddings or None
        self.lead = _leading_special_ids(tokenizer)
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else (tokenizer.eos_token_id or 0))
        self.yes_id, self.no_id, self.yes, self.no = self._answers(yes, no, who, where)

    def _answers(self, yes: str | None, no: str | None, who: str, where: str) -> tuple[int, int, str, str]:
        for field, v in (("yes", yes), ("no", no)):
            if v is not None and (not isinstance(v, str) or not v):
                raise ConfigError(f"{where}.{field}={v!r}: reward model {self.name!r}'s answer must be a non-empty "
                                  "string")
        if yes is None and no is None:
            found = answer_pair(self.tokenizer, "Yes", "No")
            if found is None:
                raise ConfigError(f"{where}.yes / .no: {who}'s tokenizer starts 'Yes' and 'No' (also ' Yes' and "
                                  "' No') with the same token; give yes and no answers that start differently")
            return found[0], found[1], found[2], found[2].replace("Yes", "No")
        yes, no = yes or "Yes", no or "No"
        ids = [first_token(self.tokenizer, v) for v in (yes, no)]
        for field, v, i in (("yes", yes, ids[0]), ("no", no, ids[1])):
            if i is None:
                raise ConfigError(f"{where}.{field}={v!r}: {who}'s tokenizer gives no token for it")
        if ids[0] == ids[1]:
            tok = self.tokenizer.convert_ids_to_tokens(ids[0])
            raise ConfigError(f"{where}.yes={yes!r} and .no={no!r}: {who}'s tokenizer starts both with the same "
                              f"token {tok!r} (id {ids[0]}), so its answer cannot be read from one position; "
                              "give answers whose first tokens differ")
        return ids[0], ids[1], yes, no

    def __repr__(self):
        return f"JudgeRM(name={self.name!r})"

    def models(self) -> list:
        return [self.model]

    # ---- text ------------------------------------------------------------------------------------
    def message(self, prompt: str, response: str, task: str | None = None, gold: str | None = None) -> str:
        """The judge's user message for one row (module doc)."""
        return judge_message(prompt, response, self.question, task or self.task, gold, self.yes, self.no)

    def _render(self, message: str) -> str:
        if not self.chat:
            return message + PLAIN_SUFFIX
        turns = [{"role": "system", "content": self.system}] if self.system else []
        turns.append({"role": "user", "content": message})
        return self.tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)

    def _ids(self, text: str) -> list[int]:
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        n = len(self.lead)
        return list(self.lead) + ids if n and tuple(ids[:n]) != self.lead else ids

    def encode(self, prompts: Sequence[str], responses: Sequence[str], golds: Sequence[str | None] | None = None,
               tasks: Sequence[str] | None = None) -> list[Encoded]:
        """The judge's ids per row; n_prompt = the shared prefix's length (0: the row runs whole)."""
        golds = [None] * len(prompts) if golds is None else golds
        rows = []
        for i, (prompt, response) in enumerate(zip(prompts, responses)):
            task = tasks[i] if tasks is not None else None
            full = self._render(self.message(prompt, response, task, golds[i]))
            marked = self._render(self.message(prompt, SENTINEL, task, golds[i]))
            at = marked.find(SENTINEL)
            ids = self._ids(full)
            n_prompt = 0
            if at > 0 and full.startswith(marked[:at]):
                head = self._ids(marked[:at])
                n_prompt = len(head) if ids[:len(head)] == head else 0
            if self.max_length is not None and len(ids) > self.max_length:
                cut = len(ids) - self.max_length
                log.warning("judge %r: an input of %d tokens exceeds max_length=%d; dropping its first %d",
                            self.name, len(ids), self.max_length, cut)
                ids, n_prompt = ids[cut:], max(0, n_prompt - cut)
            rows.append(Encoded(tuple(int(x) for x in ids), n_prompt))
        check_vocab(rows, self.model.cfg.vocab_size, f"reward model {self.name!r}")
        return rows

    # ---- scores ----------------------------------------------------------------------------------
    def score(self, prompts: Sequence[str], responses: Sequence[str],
              golds: Sequence[str | None] | None = None, *, tasks: Sequence[str] | None = None) -> np.ndarray:
        """[N] float32 log p(yes) - log p(no); `tasks` / `golds` pick each row's default question."""
        golds = check_inputs(prompts, responses, golds, f"reward model {self.name!r}", tasks=tasks)
        return self.score_rows(self.encode(prompts, responses, golds, tasks))

    def answer_logits(self, rows: Sequence[Encoded]) -> tuple[np.ndarray, np.ndarray]:
        """(logits of yes and no [N, 2], logsumexp over the vocabulary [N]) at each row's answer
        position, float64; prompt-once where rows share a prefix and share_prompt is on."""
        pair, lse = np.zeros((len(rows), 2)), np.zeros(len(rows))
        groups, alone = prompt_groups(rows) if self.share_prompt else ([], list(range(len(rows))))
        if groups:
            graphdef, state = nnx.split(self.model)
            mesh, out_sh = mesh_of(state), replicated_for(state)
            target = np.asarray([self.yes_id, self.no_id], np.int32)
            for sb in shared_batches(rows, groups, self.batch_size, self.pad_id):
                p = placed_shared(sb, mesh)
                two, total = to_host(shared_answer_logits(graphdef, state, p.prompt_ids, p.prompt_mask, p.ids,
                                                          p.mask, target, out_sharding=out_sh))
                g, valid = sb.index.shape[0], sb.index >= 0
                pair[sb.index[valid]] = np.asarray(two, np.float64)[:g][valid]
                lse[sb.index[valid]] = np.asarray(total, np.float64)[:g][valid]
        if alone:
            p2, l2 = read_answer_logits(self.model, [rows[i].ids for i in alone], (self.yes_id, self.no_id),
                                        batch_size=self.batch_size, pad_id=self.pad_id)
            pair[alone], lse[alone] = p2, l2
        return pair, lse

    def score_rows(self, rows: Sequence[Encoded]) -> np.ndarray:
        pair, lse = self.answer_logits(rows)
        return ((pair[:, 0] - lse) - (pair[:, 1] - lse)).astype(np.float32)
