"""The ifeval_like prompts (laser_jax.data.ifeval): each checker on hand-written responses, IFEval's
strict and loose rules, the two accuracies, and the generator (determinism, no contradictory
instructions, every generated prompt answerable)."""

import json
import re
import sys

import pytest

from laser_jax.data import DataError, Example
from laser_jax.data import ifeval
from laser_jax.data.ifeval import Instruction, follows_loose, follows_strict

# (id, kwargs, a response that follows it, one that does not); the counts are by hand.
CASES = [
    # "One two three four." = 4 words < 5; five words is not < 5.
    ("length_constraints:number_words", {"num_words": 5, "relation": "less than"},
     "One two three four.", "One two three four five."),
    # "it's fine" is 3 \w+ runs (it / s / fine) >= 3; "two words" is 2.
    ("length_constraints:number_words", {"num_words": 3, "relation": "at least"},
     "it's fine", "two words"),
    # "Dr." does not end a sentence, "3.5" neither: 3 sentences; the second text has 2.
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "at least"},
     "Dr. Smith arrived. He sat down! Was it 3.5 hours?", "Dr. Smith arrived. He sat down"),
    ("length_constraints:number_sentences", {"num_sentences": 2, "relation": "less than"},
     "Only one sentence here, no more", "One. Two."),
    # substring, case-insensitive: "LANTERNS" holds "lantern"
    ("keywords:existence", {"keywords": ["lantern", "Harbor"]},
     "The harbor had LANTERNS.", "The harbor was dark."),
    # whole word, case-insensitive: "Cats" is not "cat"; "CAT" is
    ("keywords:forbidden_words", {"forbidden_words": ["cat", "dog"]},
     "Cats and puppies.", "A CAT sat."),
    # two real bullets (an intro line is fine); "*bold*" and "---" lines are not bullets
    ("detectable_format:number_bullet_lists", {"num_bullets": 2},
     "Intro:\n* one\n  - two", "* one\n*bold* line\n---"),
    ("detectable_format:json_format", {},
     '```json\n{"a": [1, 2]}\n```', '{"a": 1,}'),
    ("change_case:english_lowercase", {}, "all quiet here, 123.", "All quiet."),
    ("change_case:english_capital", {}, "ALL QUIET, 123.", "ALL QUIeT"),
    # lower-cased, outer whitespace and double quotes dropped
    ("startend:end_checker", {"end_phrase": "Any other questions?"},
     ' "Thanks. ANY other questions?" \n', "Any other questions? Bye."),
    ("punctuation:no_comma", {}, "No commas here.", "Yes, one."),
    ("detectable_format:title", {}, "<<A day at sea>>\nText.", "<< >> and <<\nbroken>>"),
    ("language:response_language", {"language": "fr"},
     "Je suis très content de vous voir aujourd'hui, mes amis.",
     "I am very happy to see you today, my friends."),
]


def test_every_kind_has_a_case():
    assert {c[0] for c in CASES} == set(ifeval.KINDS)


@pytest.mark.parametrize("kind,kwargs,good,bad", CASES, ids=[c[0] for c in CASES])
def test_checker_passes_and_fails(kind, kwargs, good, bad):
    instruction = Instruction(kind, kwargs)
    assert follows_strict(instruction, good)
    assert not follows_strict(instruction, bad)
    assert instruction.description.endswith(".")


def test_counts_by_hand():
    assert ifeval.count_words("Hello, world! It's 3.5 km.") == 7  # hello world it s 3 5 km
    assert ifeval.count_sentences("") == 0
    assert ifeval.count_sentences("Wait... what?! (Really.) Yes") == 4
    assert ifeval.count_sentences("e.g. this one. And Mr. Jones.") == 2
    assert ifeval.count_sentences("* a\n* b\nEnd.") == 1  # lines without an end mark run on
    assert ifeval.count_bullets("* a\n- b\n-c\n*d*\n\t* e\n**bold**") == 3


def test_blank_response_never_follows_strictly():
    no_comma = Instruction("punctuation:no_comma")
    assert no_comma.check("  \n") and not follows_strict(no_comma, "  \n")
    assert not follows_loose(no_comma, "  \n")


def test_loose_variants_are_ifevals_eight():
    got = ifeval.loose_variants("Sure:\n**{\"a\": 1}**\nbye *")
    assert got == ("Sure:\n**{\"a\": 1}**\nbye *", "Sure:\n{\"a\": 1}\nbye ",
                   "**{\"a\": 1}**\nbye *", "Sure:\n**{\"a\": 1}**", "**{\"a\": 1}**",
                   "{\"a\": 1}\nbye ", "Sure:\n{\"a\": 1}", "{\"a\": 1}")


LOOSE_ONLY = [
    ("detectable_format:json_format", {}, 'Sure, here it is:\n```json\n{"a": 1}\n```'),
    ("detectable_format:json_format", {}, '**{"a": 1}**'),  # once "*" is removed
    ("startend:end_checker", {"end_phrase": "Any other questions?"},
     "Text.\nAny other questions?\nHope this helps."),
    ("change_case:english_capital", {}, "Sure!\nALL CAPS FROM HERE."),
    ("punctuation:no_comma", {}, "Sure, here you go:\nNo commas below."),
    ("keywords:forbidden_words", {"forbidden_words": ["cat"]}, "Dogs only.\nNo cat here."),
    ("length_constraints:number_words", {"num_words": 4, "relation": "less than"},
     "Here is my short answer:\nThree words only."),
]


@pytest.mark.parametrize("kind,kwargs,response", LOOSE_ONLY, ids=[c[0] for c in LOOSE_ONLY])
def test_loose_passes_where_strict_fails(kind, kwargs, response):
    instruction = Instruction(kind, kwargs)
    assert not follows_strict(instruction, response)
    assert follows_loose(instruction, response)


def test_loose_still_fails_when_no_variant_passes():
    assert not follows_loose(Instruction("detectable_format:json_format"), 'Sure:\n{"a": 1,}\nOk.')
    assert not follows_loose(Instruction("punctuation:no_comma"), "a, b\nc, d\ne, f")


def test_accuracies_by_hand():
    words_lt5 = {"id": "length_constraints:number_words",
                 "kwargs": {"num_words": 5, "relation": "less than"}}
    no_comma = {"id": "punctuation:no_comma", "kwargs": {}}
    title = {"id": "detectable_format:title", "kwargs": {}}
    as_json = {"id": "detectable_format:json_format", "kwargs": {}}
    prompts = [
        ([words_lt5, no_comma], "Short and clean."),              # strict T T, loose T T
        ([words_lt5, no_comma, title],
         "Well, this reply is long.\nFine."),                      # strict F F F, loose T T F
        ([as_json], 'Sure:\n{"x": 2}'),                            # strict F,     loose T
        ([title], "<<Hi>>"),                                       # strict T,     loose T
    ]
    scores = [ifeval.score(spec, response) for spec, response in prompts]
    assert [s["strict"] for s in scores] == [[True, True], [False, False, False], [False], [True]]
    assert [s["loose"] for s in scores] == [[True, True], [True, True, False], [True], [True]]
    got = ifeval.accuracy(scores)
    assert got["prompts"] == 4 and got["instructions"] == 7
    assert got["prompt_strict"] == 2 / 4       # prompts 1 and 4
    assert got["prompt_loose"] == 3 / 4        # prompts 1, 3 and 4
    assert got["instruction_strict"] == 3 / 7  # 2 + 0 + 0 + 1 of 7
    assert got["instruction_loose"] == 6 / 7   # 2 + 2 + 1 + 1 of 7


def test_bad_specs_say_what_and_where():
    with pytest.raises(DataError, match="unknown instruction id 'nope'.*known ids"):
        Instruction("nope")
    with pytest.raises(DataError, match="relation must be one of"):
        Instruction("length_constraints:number_words", {"num_words": 5, "relation": "at most"})
    with pytest.raises(DataError, match=r"takes the kwargs \['num_bullets'\]"):
        Instruction("detectable_format:number_bullet_lists", {"n": 2})
    with pytest.raises(DataError, match="item 1: .*keywords must be a non-empty list"):
        ifeval.score([{"id": "punctuation:no_comma"},
                      {"id": "keywords:existence", "kwargs": {"keywords": "cat"}}], "x")
    with pytest.raises(DataError, match="example q1 is a 'gsm8k' example"):
        ifeval.score(Example("q1", "gsm8k", "2+2?", "4"), "4")
    with pytest.raises(DataError, match="example i7 answer: not JSON"):
        ifeval.score(Example("i7", "ifeval_like", "Write.", "[{"), "x")
    with pytest.raises(DataError, match="non-empty list of instructions"):
        ifeval.score("[]", "x")


def test_language_without_langdetect_is_a_clear_error(monkeypatch):
    ifeval._language_detector_factory.cache_clear()
    monkeypatch.setitem(sys.modules, "langdetect.detector_factory", None)
    try:
        with pytest.raises(DataError, match="needs the langdetect package.*pip install langdetect"):
            Instruction("language:response_language", {"language": "de"}).check("Guten Tag")
    finally:
        ifeval._language_detector_factory.cache_clear()


# --------------------------------------------------------------------------------- the generator

@pytest.fixture(scope="module")
def prompts():
    return ifeval.make_prompts(seed=0, count=500)


def _instructions(example):
    return ifeval.instructions_from_json(example.answer)


def test_same_seed_same_prompts(prompts):
    assert ifeval.make_prompts(seed=0, count=500) == prompts
    assert ifeval.make_prompts(seed=0, count=20) == prompts[:20]
    other = ifeval.make_prompts(seed=1, count=500)
    assert [e.question for e in other] != [e.question for e in prompts]


def test_prompt_fields(prompts):
    for i, e in enumerate(prompts):
        assert e.uid == f"ifeval_like-0-{i:04d}" and e.task == "ifeval_like"
        instructions = _instructions(e)
        assert 1 <= len(instructions) <= 3
        meta = e.meta_dict()
        assert e.question.startswith(ifeval.TEMPLATES[meta["template"]].format(topic=meta["topic"]))
        assert e.question.endswith(" ".join(x.description for x in instructions))
        # the answer is JSON of {"id", "kwargs"} records, read back to the same instructions
        records = json.loads(e.answer)
        assert [r["id"] for r in records] == [x.id for x in instructions]
        assert [Instruction(r["id"], r["kwargs"]) for r in records] == list(instructions)
    counts = {n: sum(len(_instructions(e)) == n for e in prompts) for n in (1, 2, 3)}
    assert all(c > 100 for c in counts.values()), counts  # ~1/3 each of 500
    drawn = {x.id for e in prompts for x in _instructions(e)}
    assert drawn == set(ifeval.DEFAULT_KINDS)
    assert "language:response_language" not in drawn


# Pairs that no response can satisfy, or that IFEval never combines; written out here, not read
# from the module's table.
JSON_ONLY_WITH = {"keywords:existence", "keywords:forbidden_words"}
NEVER_TOGETHER = {frozenset({"change_case:english_lowercase", "change_case:english_capital"})} | {
    frozenset({"detectable_format:json_format", k}) for k in ifeval.KINDS
    if k not in JSON_ONLY_WITH | {"detectable_format:json_format"}} | {
    frozenset({"language:response_language", k}) for k in (
        "keywords:existence", "keywords:forbidden_words", "startend:end_checker",
        "change_case:english_capital", "change_case:english_lowercase")}


def _check_no_contradiction(example):
    instructions = _instructions(example)
    ids = [x.id for x in instructions]
    assert len(set(ids)) == len(ids), example
    for a in ids:
        for b in ids:
            assert frozenset({a, b}) not in NEVER_TOGETHER, example
    kw = {x.id: x.kwargs_dict() for x in instructions}
    required = set(kw.get("keywords:existence", {}).get("keywords", []))
    forbidden = set(kw.get("keywords:forbidden_words", {}).get("forbidden_words", []))
    assert not required & forbidden, example
    task_sentence = ifeval.TEMPLATES[example.meta_dict()["template"]].format(
        topic=example.meta_dict()["topic"])
    assert not any(re.search(rf"\b{w}\b", task_sentence, re.I) for w in forbidden), example


def test_drawn_words_never_occur_in_a_task_sentence():
    sentences = " ".join(t.format(topic=topic) for t in ifeval.TEMPLATES for topic in ifeval.TOPICS)
    assert not {w for w in ifeval.WORDS if re.search(rf"\b{w}\b", sentences, re.I)}


def test_no_contradictory_instructions(prompts):
    for e in prompts:
        _check_no_contradiction(e)
    with_language = ifeval.make_prompts(seed=3, count=300, kinds=tuple(ifeval.KINDS))
    assert any("language:response_language" in e.answer for e in with_language)
    for e in with_language:
        _check_no_contradiction(e)


FILLER = ("stone", "cloud", "river", "bread")  # not in ifeval.WORDS, so never forbidden


def _answer(example):
    """A response built to follow every instruction of a generated (default-kinds) prompt."""
    kw = {x.id: x.kwargs_dict() for x in _instructions(example)}
    keywords = kw.get("keywords:existence", {}).get("keywords", [])
    if "detectable_format:json_format" in kw:
        return json.dumps({"words": keywords or ["note"]})
    sentences = kw.get("length_constraints:number_sentences")
    n = sentences["num_sentences"] if sentences and sentences["relation"] == "at least" else 1
    body = [f"{FILLER[k % 4].capitalize()} {FILLER[(k + 1) % 4]}." for k in range(n)]
    body[0] = " ".join(["Keywords"] + keywords + [body[0]])
    words = kw.get("length_constraints:number_words")
    if words and words["relation"] == "at least":
        body[0] = " ".join(["stone"] * words["num_words"] + [body[0]])
    lines = []
    if "detectable_format:title" in kw:
        lines.append("<<A note>>")
    bullets = kw.get("detectable_format:number_bullet_lists")
    lines += [f"* stone {k}" for k in range(bullets["num_bullets"] if bullets else 0)]
    lines.append(" ".join(body))
    if "startend:end_checker" in kw:
        lines.append(kw["startend:end_checker"]["end_phrase"])
    text = "\n".join(lines)
    if "change_case:english_lowercase" in kw:
        text = text.lower()
    if "change_case:english_capital" in kw:
        text = text.upper()
    return text


def test_every_generated_prompt_can_be_followed(prompts):
    for e in prompts:
        response = _answer(e)
        result = ifeval.score(e, response)
        assert all(result["strict"]) and all(result["loose"]), (e.question, response, result)
