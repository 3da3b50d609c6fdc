"""The IFEval verifier RMs (ifeval_length, ifeval_format, ifeval_words, ifeval_all) on hand-written
responses, with the numbers worked out by hand; blind rows; config entries and their checks."""

import numpy as np
import pytest

from laser_jax.errors import DataError

from laser_jax.data import ifeval
from laser_jax.rewards import build_reward_model
from laser_jax.rewards.spec import check_spec
from laser_jax.rewards.programs import RULES, ifeval_group_share, ifeval_rewards, program

I = ifeval.Instruction  # noqa: E741
LENGTH = ifeval.instructions_to_json([I("length_constraints:number_words", {"num_words": 10, "relation": "less than"}),
                                      I("length_constraints:number_sentences",
                                        {"num_sentences": 2, "relation": "at least"})])
# one instruction of "words", one of "format", one of "words" again: a mixed list (not generated,
# but the rules must count only their own group's)
MIXED = ifeval.instructions_to_json([I("keywords:existence", {"keywords": ["harbor"]}),
                                     I("punctuation:no_comma", {}),
                                     I("startend:end_checker", {"end_phrase": "Any other questions?"})])
ROWS = [  # (gold, response)
    (LENGTH, "I like tea. It is warm."),  # 6 words < 10, 2 sentences >= 2: both followed
    (LENGTH, "Tea."),  # 1 word, 1 sentence: words followed, sentences not
    (LENGTH, "one two three four five six seven eight nine ten eleven"),  # 11 words, 1 sentence: neither
    (MIXED, "The harbor is calm. Any other questions?"),  # keyword, no comma, end phrase: all three
    (MIXED, "The harbor, at dusk."),  # keyword only (a comma; no end phrase)
    (MIXED, "   "),  # blank: strict follows nothing
]
#            length     format    words    all
WANT = {"ifeval_length": [1.0, 0.5, 0.0, 0.0, 0.0, 0.0],  # blind (0.0) on the MIXED rows: no length instruction
        "ifeval_format": [0.0, 0.0, 0.0, 1.0, 0.0, 0.0],  # blind on LENGTH rows; MIXED: no_comma
        "ifeval_words": [0.0, 0.0, 0.0, 1.0, 0.5, 0.0],   # keyword + end phrase: 2/2, 1/2, 0/2
        "ifeval_all": [1.0, 0.5, 0.0, 1.0, 1 / 3, 0.0]}


@pytest.mark.parametrize("rule", sorted(WANT))
def test_rules_by_hand(rule):
    rm = program(rule, "ifeval_like")
    prompts = ["Write something."] * len(ROWS)
    got = rm.score(prompts, [r for _, r in ROWS], [g for g, _ in ROWS])
    np.testing.assert_allclose(got, WANT[rule], rtol=1e-6)
    assert got.dtype == np.float32 and rm.needs_gold
    # blind: a constant on the rows without the group's instructions, whatever the response says
    other = MIXED if rule == "ifeval_length" else LENGTH if rule != "ifeval_all" else None
    if other is not None:
        assert {RULES[rule][0]("p", r, other, "ifeval_like") for r in ("a", "I like tea. It is warm.", "x, y")} == {0.0}


def test_other_tasks_and_missing_golds():
    # a row of another task is blind; the verifier refuses a missing gold (it would score 0 silently)
    assert ifeval_group_share("length", "I like tea. It is warm.", LENGTH, "gsm8k") == 0.0
    rm = program("ifeval_length", "ifeval_like")
    with pytest.raises(DataError, match="needs a gold answer"):
        rm.score(["p"], ["r"], [None])
    got = rm.score(["p", "p"], ["I like tea. It is warm."] * 2, [LENGTH, LENGTH], tasks=["ifeval_like", "gsm8k"])
    np.testing.assert_allclose(got, [1.0, 0.0])


def test_config_entries():
    entries = ifeval_rewards()
    assert [e["name"] for e in entries] == ["smollm2_lik", "ifeval_length", "ifeval_format", "ifeval_words"]
    assert ifeval_rewards(oracle=True)[-1]["rule"] == "ifeval_all"
    for e in entries[1:]:
        assert check_spec(e) == []
        rm = build_reward_model(e)
        assert rm.name == e["name"]
        np.testing.assert_allclose(rm.score(["p"] * 3, [r for _, r in ROWS[:3]], [LENGTH] * 3),
                                   WANT[e["rule"]][:3])
    # a verifier that checks golds on a task without any is refused before anything loads
    problems = check_spec(dict(kind="verifier", rule="ifeval_words"), index=2, default_task="wildchat")
    assert len(problems) == 1 and problems[0].startswith("rewards[2].rule='ifeval_words'")
    assert "task 'wildchat' has none" in problems[0]
    assert check_spec(dict(kind="verifier", rule="exact_match", task="wildchat"), index=0) != []
    assert check_spec(dict(kind="verifier", rule="length"), default_task="wildchat") == []
