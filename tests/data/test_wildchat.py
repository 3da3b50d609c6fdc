"""The wildchat task: local prompt files and WildChat rows (first user turn, English, non-toxic,
length, de-duplication), the hub reader on a fake of the hub's rows (never the network), errors
naming file and line; and the generated ifeval_like task."""

import json
import logging

import datasets
import pytest

from laser_jax.batch import family
from laser_jax.data import DataError, Example, format_prompt, get_task, load_task
from laser_jax.data import ifeval, wildchat
from laser_jax.data.tasks import extract_answer, is_correct, score_response

LONG = " ".join(["word"] * 257)  # one word over MAX_WORDS
ROWS = [
    {"prompt": "Write a haiku about autumn leaves.", "category": "writing", "id": "a1"},  # kept
    {"prompt": "hi there"},  # 2 words: too short
    {"prompt": "Write  a haiku about\nautumn leaves. ", "category": "writing"},  # duplicate of row 0
    {"prompt": LONG},  # too long
    {"prompt": "Écris un poème sur la mer, s'il te plaît.", "language": "French"},  # not English
    {"conversation": [{"role": "user", "content": "How do I bake bread at home?", "language": "English"},
                      {"role": "assistant", "content": "Mix flour, water, yeast and salt ..."},
                      {"role": "user", "content": "And rye bread?"}], "language": "English"},  # kept: turn 1
    {"conversation": [{"role": "assistant", "content": "Hello! How can I help you today?"}]},  # no user turn
    {"prompt": "Tell me a very rude joke about my boss.", "toxic": True},  # toxic
    {"prompt": "Explain how vaccines train the immune system.", "category": "science"},  # kept
    {"conversation": [{"role": "user", "content": "¿Cómo estás hoy, amigo mío?", "language": "Spanish"}]},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_local_jsonl_filters_and_fields(tmp_path, caplog):
    path = write_jsonl(tmp_path / "prompts.jsonl", ROWS)
    with caplog.at_level(logging.INFO, logger="laser_jax"):
        examples = load_task("wildchat", path, "train")
    assert [e.uid for e in examples] == ["wildchat-a1", "wildchat-prompts-000005", "wildchat-prompts-000008"]
    assert [e.question for e in examples] == ["Write a haiku about autumn leaves.", "How do I bake bread at home?",
                                              "Explain how vaccines train the immune system."]
    assert [family(e) for e in examples] == ["writing", "wildchat", "science"]  # no category: "wildchat"
    assert all(e.task == "wildchat" and e.answer is None for e in examples)
    assert examples[0].meta_dict()["source"] == f"{path}:1"
    assert examples[1].meta_dict()["language"] == "English"
    # one log line counts every rule's drops
    assert "3 of 10 rows kept" in caplog.text
    for reason in ("1 no user turn", "2 not English", "1 toxic", "1 too short", "1 too long", "1 duplicate"):
        assert reason in caplog.text
    # the prompt is the whole prompt: no reasoning instruction around it
    assert format_prompt(examples[0]) == "Write a haiku about autumn leaves."
    # the same rows as one JSON list give the same examples (ids from the list position)
    listed = tmp_path / "prompts.json"
    listed.write_text(json.dumps(ROWS), encoding="utf-8")
    assert [e.question for e in load_task("wildchat", listed)] == [e.question for e in examples]


def test_length_bounds_are_inclusive(tmp_path):
    rows = [{"prompt": "one two three"}, {"prompt": " ".join(["w"] * 256) + " end"},
            {"prompt": " ".join(["x"] * 256)}, {"prompt": "y" * 1990 + " a b"}, {"prompt": "z" * 2001 + " a b"}]
    got = load_task("wildchat", write_jsonl(tmp_path / "p.jsonl", rows))
    assert [len(e.question.split()) for e in got] == [3, 256, 3]  # 257 words and 2,005 characters dropped
    assert (wildchat.MIN_WORDS, wildchat.MAX_WORDS, wildchat.MAX_CHARS) == (3, 256, 2000)


@pytest.mark.parametrize("text, where, match", [
    ('{"prompt": "a fine prompt here"}\n{"prompt": \n', "p.jsonl:2", "not valid JSON"),
    ('{"prompt": "a fine prompt here"}\n\n{"text": "x"}\n', "p.jsonl:3", r"no 'prompt' or 'conversation' key"),
    ('{"prompt": "   "}\n', "p.jsonl:1", "non-blank string"),
    ('{"prompt": "a fine prompt here", "category": 3}\n', "p.jsonl:1", "'category' must be a non-blank string"),
    ('["a fine prompt here"]\n', "p.jsonl:1", "expected a JSON object"),
    ('{"conversation": [{"role": "user"}]}\n', "p.jsonl:1", "turn 0 must be an object with 'role' and 'content'"),
    ('{"conversation": "hello"}\n', "p.jsonl:1", "must be a list of turns"),
    ('{"prompt": "a fine prompt here", "id": [1]}\n', "p.jsonl:1", "'id' must be a string or an integer"),
])
def test_bad_local_rows_name_file_and_line(tmp_path, text, where, match):
    path = tmp_path / "p.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=match) as err:
        load_task("wildchat", path)
    assert str(err.value).startswith(str(tmp_path / where))


def test_bad_local_files(tmp_path):
    listed = tmp_path / "p.json"
    listed.write_text('[{"prompt": "a fine prompt here"},\n {"prompt": 5}]', encoding="utf-8")
    with pytest.raises(DataError, match=r"p\.json item 1: 'prompt' must be a non-blank string"):
        load_task("wildchat", listed)
    listed.write_text('{"prompt": "a fine prompt here"}', encoding="utf-8")
    with pytest.raises(DataError, match="expected one JSON list"):
        load_task("wildchat", listed)
    listed.write_text('[{"prompt": "a"},\n  oops]', encoding="utf-8")
    with pytest.raises(DataError, match=r"p\.json:2: not valid JSON"):
        load_task("wildchat", listed)
    binary = tmp_path / "b.jsonl"
    binary.write_bytes(b'{"prompt": "fine prompt here"}\n{"prompt": "\xff\xfe"}\n')
    with pytest.raises(DataError, match=r"b\.jsonl:2: not UTF-8"):
        load_task("wildchat", binary)
    with pytest.raises(DataError, match="unknown file type '.txt'"):
        load_task("wildchat", write_jsonl(tmp_path / "p.txt", ROWS))
    with pytest.raises(DataError, match="a folder"):
        load_task("wildchat", tmp_path)
    empty = write_jsonl(tmp_path / "short.jsonl", [{"prompt": "hi"}])
    with pytest.raises(DataError, match="holds no wildchat examples"):
        load_task("wildchat", empty)
    dup = write_jsonl(tmp_path / "dup.jsonl", [{"prompt": "one two three", "id": 1}, {"prompt": "four five six", "id": 1}])
    with pytest.raises(DataError, match="share the id 'wildchat-1'"):
        load_task("wildchat", dup)


def hub_row(i, content, *, language="English", toxic=False, more=()):
    turns = [{"role": "user", "content": content, "language": language, "toxic": toxic, "redacted": False,
              "turn_identifier": 1000 + i},
             {"role": "assistant", "content": "Sure.", "language": language, "toxic": False, "redacted": False,
              "turn_identifier": 1000 + i}]
    turns += [{"role": "user", "content": m, "language": language, "toxic": False} for m in more]
    return {"conversation_hash": f"h{i:03d}", "model": "gpt-3.5-turbo", "conversation": turns,
            "turn": len(turns) // 2, "language": language, "toxic": toxic, "redacted": False}


FAKE_HUB = [
    hub_row(0, "Write a cover letter for a library assistant job."),
    hub_row(1, "写一首关于春天的诗", language="Chinese"),
    hub_row(2, "Write a cover letter for a   library assistant job."),  # duplicate after whitespace
    hub_row(3, "ok"),
    hub_row(4, "Summarise the plot of Hamlet in five sentences.", more=("Now in three.",)),
    hub_row(5, "Insult my neighbour in the worst possible words.", toxic=True),
]


def test_hub_reader_on_fake_rows(monkeypatch):
    calls = []

    def fake_load_dataset(path, name=None, split=None, **kwargs):
        calls.append((path, name, split))
        return list(FAKE_HUB)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    examples = load_task("wildchat", None, "train")
    assert calls == [("allenai/WildChat-1M", None, "train")]
    assert [(e.uid, e.question) for e in examples] == [
        ("wildchat-h000", "Write a cover letter for a library assistant job."),
        ("wildchat-h004", "Summarise the plot of Hamlet in five sentences."),  # the first user turn only
    ]
    assert {family(e) for e in examples} == {"wildchat"}  # WildChat has no category field
    assert examples[0].meta_dict()["source"] == "hub allenai/WildChat-1M split 'train' row 0"


def test_hub_failure_names_the_local_alternative(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError, match=r"allenai/WildChat-1M.*ConnectionError.*config\.data\.path"):
        load_task("wildchat", None, "train")


def test_no_gold_is_refused_by_name():
    spec = get_task("wildchat")
    assert not spec.has_gold and spec.raw_prompt
    ex = Example("wildchat-x", "wildchat", "Write a poem.", None)
    for call in (lambda: extract_answer("wildchat", "text"), lambda: is_correct("wildchat", "a", "b"),
                 lambda: score_response(ex, "text")):
        with pytest.raises(DataError, match="no gold answers"):
            call()


def test_sample_prompts_file(tmp_path):
    path = wildchat.write_sample(tmp_path / "s.jsonl")
    got = load_task("wildchat", path)
    assert len(got) == 18 and {family(e) for e in got} == {"writing", "coding", "advice"}


# ------------------------------------------------------------------------------------ ifeval_like


def test_ifeval_like_task_generated_disjoint_grouped():
    train = load_task("ifeval_like", split="train", seed=0)
    test = load_task("ifeval_like", split="test", seed=0)
    assert (len(train), len(test)) == (192, 96)
    assert not {e.question for e in train} & {e.question for e in test}
    assert len({e.question for e in train}) == 192
    for split, examples, per in (("train", train, 64), ("test", test, 32)):
        for g in ifeval.GROUPS:
            mine = [e for e in examples if family(e) == g]
            assert len(mine) == per and mine[0].uid == f"ifeval_like-{g}-{split}-000"
            # every instruction of a prompt is of the prompt's group
            assert all(ifeval.group_of(i.id) == g for e in mine for i in ifeval.instructions_from_json(e.answer))
    assert load_task("ifeval_like", split="train", seed=0) == train
    assert load_task("ifeval_like", split="train", seed=1) != train
    assert format_prompt(train[0]) == train[0].question  # the raw prompt
    with pytest.raises(DataError, match="generated splits"):
        load_task("ifeval_like", split="dev")
    with pytest.raises(DataError, match="reads no files"):
        load_task("ifeval_like", "/tmp", "train")


def test_ifeval_like_correct_and_score():
    gold = ifeval.instructions_to_json([ifeval.Instruction("length_constraints:number_words",
                                                           {"num_words": 10, "relation": "less than"}),
                                        ifeval.Instruction("length_constraints:number_sentences",
                                                           {"num_sentences": 2, "relation": "at least"})])
    ex = Example("u", "ifeval_like", "Write. Answer with less than 10 words.", gold)
    both, one = "I like tea. It is warm.", "Tea."  # 6 words, 2 sentences / 1 word, 1 sentence
    assert extract_answer("ifeval_like", both) == both  # the response itself
    assert is_correct("ifeval_like", both, gold) and not is_correct("ifeval_like", one, gold)
    assert score_response(ex, both) == 1.0 and score_response(ex, one) == 0.5
    assert score_response(ex, "   ") == 0.0  # strict: a blank response follows nothing
