"""The demo's verifier programs (calculator, choice_checker, length), per-row task names through
every scoring path, and building them from config entries."""

from __future__ import annotations

import numpy as np
import pytest

from laser_jax.data import format_prompt
from laser_jax.data.example import Example
from laser_jax.errors import ConfigError
from laser_jax.rewards import NoisyRM, RMSet, VerifierRM, build_reward_model, exact_match, score_with
from laser_jax.rewards.programs import RULES, calculator, choice_checker, length, program

ARITH = Example("a", "gsm8k", "Mia has 7 pencils and buys 5 more. How many pencils does she have now?", "12")
YESNO = Example("y", "strategyqa", "Is 23 larger than 31?", "no")
CHOICE = Example("c", "mmlu", "Which of these is a fruit?", "B", ("Carrot", "Apple", "Dog", "Red"))
# (example, response): right answer / wrong answer / a number but no answer / nothing checkable
ROWS = [
    (ARITH, "7 + 5 = 12. Final answer: 12"), (ARITH, "Final answer: 13"), (ARITH, "I am not sure."),
    (YESNO, "23 is smaller. Final answer: No"), (YESNO, "Final answer: yes"), (YESNO, "23 and 31 are numbers."),
    (CHOICE, "Final answer: B"), (CHOICE, "Final answer: A"), (CHOICE, "Final answer: Apple"),
]
PROMPTS = [format_prompt(e) for e, _ in ROWS]
RESPONSES = [r for _, r in ROWS]
GOLDS = [e.answer for e, _ in ROWS]
TASKS = [e.task for e, _ in ROWS]

EXACT = [1, 0, 0, 1, 0, 0, 1, 0, 1]
CALCULATOR = [1, 0, 0, 0, 0, 0, 0, 0, 0]  # blind outside arithmetic
CHOICE_CHECKER = [1, 1, 0, 1, 0, 0, 1, 0, 1]  # arithmetic: any number at all
LENGTH = [min(len(r.split()), 200) / 200 for r in RESPONSES]


def test_rules_on_hand_examples():
    def run(fn):
        return [fn(p, r, g, t) for p, r, g, t in zip(PROMPTS, RESPONSES, GOLDS, TASKS)]

    assert run(calculator) == CALCULATOR
    assert run(choice_checker) == CHOICE_CHECKER
    assert run(length) == pytest.approx(LENGTH)
    assert length("q", " ".join(["w"] * 500), None, "gsm8k") == 1.0 and length("q", "", None, "mmlu") == 0.0
    # blind: calculator is constant on yes/no and choice rows whatever the response says
    assert {calculator(PROMPTS[6], r, "B", "mmlu") for r in ("B", "Final answer: B", "12")} == {0.0}
    assert set(RULES) == {"exact_match", "calculator", "choice_checker", "length", "in_context", "ifeval_length",
                          "ifeval_format", "ifeval_words", "ifeval_all"}


@pytest.mark.parametrize("rule, want", [("exact_match", EXACT), ("calculator", CALCULATOR),
                                        ("choice_checker", CHOICE_CHECKER), ("length", LENGTH)])
def test_programs_score_mixed_rows(rule, want):
    # one RM configured for "demo": per-row tasks, or else the format each gold is written in
    rm = program(rule, "demo")
    assert rm.name == f"{rule}:demo" and isinstance(rm, VerifierRM)
    np.testing.assert_allclose(rm.score(PROMPTS, RESPONSES, GOLDS, tasks=TASKS), want, rtol=1e-6)
    np.testing.assert_allclose(rm.score(PROMPTS, RESPONSES, GOLDS), want, rtol=1e-6)
    # an RM configured for gsm8k scores each row as its own task when tasks are given
    np.testing.assert_allclose(program(rule, "gsm8k").score(PROMPTS, RESPONSES, GOLDS, tasks=TASKS), want, rtol=1e-6)


def test_tasks_override_the_configured_task():
    rm = exact_match("gsm8k")
    # "Final answer: B" read as a number has none; read as MMLU it is right
    assert rm.score([PROMPTS[6]], [RESPONSES[6]], ["B"], tasks=["mmlu"]).tolist() == [1.0]
    assert rm.score([PROMPTS[6]], [RESPONSES[6]], ["B"]).tolist() == [0.0]  # configured gsm8k: no number
    assert rm.row_tasks(["B", "12", "yes"], ["mmlu", "demo", "demo"]) == ["mmlu", "gsm8k", "strategyqa"]
    with pytest.raises(ValueError, match="3 prompts but 2 tasks"):
        rm.score(PROMPTS[:3], RESPONSES[:3], GOLDS[:3], tasks=TASKS[:2])
    with pytest.raises(TypeError, match="not a single string"):
        rm.score(PROMPTS[:1], RESPONSES[:1], GOLDS[:1], tasks="gsm8k")
    with pytest.raises(ValueError, match="unknown task 'squad'"):
        rm.score(PROMPTS[:1], RESPONSES[:1], GOLDS[:1], tasks=["squad"])
    with pytest.raises(ValueError, match="unknown verifier rule 'f1'"):
        program("f1", "gsm8k")
    # a three-argument verifier ignores tasks
    plain = VerifierRM(lambda p, r, g: len(r), "len", needs_gold=False)
    assert plain.score(["a"], ["xy"], tasks=["mmlu"]).tolist() == [2.0]


def test_tasks_through_rmset_score_with_and_noise():
    rms = [program("calculator", "demo"), program("choice_checker", "demo"), program("length", "demo"),
           NoisyRM(program("calculator", "demo", name="noisy_calc"), 0.0)]
    want = np.array([CALCULATOR, CHOICE_CHECKER, LENGTH, CALCULATOR], np.float32)
    gsm = [program(r, "gsm8k") for r in ("calculator", "choice_checker", "length")]
    for scores in (RMSet(rms).score_all(PROMPTS, RESPONSES, GOLDS, tasks=TASKS),
                   score_with(rms, PROMPTS, RESPONSES, GOLDS, tasks=TASKS),
                   score_with(gsm + [rms[3]], PROMPTS, RESPONSES, GOLDS, tasks=TASKS)):
        np.testing.assert_allclose(scores, want, rtol=1e-6)
    noisy = NoisyRM(program("choice_checker", "gsm8k"), 0.1, seed=3)
    got = noisy.score(PROMPTS, RESPONSES, GOLDS, tasks=TASKS)
    np.testing.assert_allclose(got, noisy.perturb(np.array(CHOICE_CHECKER, np.float32), PROMPTS, RESPONSES))
    with pytest.raises(ValueError, match="9 prompts but 1 tasks"):
        RMSet(rms).score_all(PROMPTS, RESPONSES, GOLDS, tasks=["gsm8k"])

    class OldRM:  # written before `tasks` existed: still scored when no tasks are passed
        name = "old"

        def score(self, prompts, responses, golds=None):
            return np.ones(len(prompts), np.float32)

    assert RMSet([OldRM()]).score_all(PROMPTS, RESPONSES, GOLDS).tolist() == [[1.0] * 9]


def test_build_with_rule_names():
    rm = build_reward_model({"kind": "verifier", "rule": "calculator"}, default_task="demo")
    assert rm.name == "calculator:demo" and rm.task == "demo"
    assert rm.score(PROMPTS, RESPONSES, GOLDS).tolist() == CALCULATOR
    named = build_reward_model({"name": "len", "kind": "verifier", "rule": "length", "task": "mmlu"})
    assert named.name == "len" and not named.needs_gold
    assert named.score(PROMPTS[:1], ["a b c d"]).tolist() == [pytest.approx(0.02)]
    checker = build_reward_model({"kind": "verifier", "rule": "choice_checker", "task": "gsm8k", "noise": 0.2})
    assert isinstance(checker, NoisyRM) and checker.name == "choice_checker:gsm8k+noise0.2"
    assert build_reward_model({"kind": "verifier", "task": "gsm8k"}).name == "exact_match:gsm8k"
    with pytest.raises(ValueError, match=r"rewards\[1\]\.rule='oracle' is not one of \('exact_match', "
                                         r"'calculator', 'choice_checker', 'length', 'in_context', 'ifeval_length', "
                                         r"'ifeval_format', 'ifeval_words', 'ifeval_all'\)"):
        build_reward_model({"kind": "verifier", "rule": "oracle", "task": "gsm8k"}, index=1)
    with pytest.raises(ValueError, match=r"rewards\[0\]\.task: unknown task 'squad'"):
        build_reward_model({"kind": "verifier", "rule": "length", "task": "squad"}, index=0)


def test_in_context_checks_grounding_without_the_gold():
    from laser_jax.rewards.programs import in_context

    prompt = "Doc: Mira Holt moved to Lisbon in 1987. Ines Berg moved to Oslo.\nQuestion: Which city?"
    assert in_context(prompt, "Lisbon.", None, "longbench") == 1.0
    assert in_context(prompt, "Oslo\nbecause", None, "longbench") == 1.0  # a distractor passes too
    assert in_context(prompt, "Paris", None, "longbench") == 0.0
    assert in_context(prompt, "  ", None, "longbench") == 0.0
    assert in_context(prompt, "Lis", None, "longbench") == 0.0  # whole words only


def test_choice_checker_on_a_task_it_has_no_rule_for_is_a_config_error():
    """A verifier entry rule=choice_checker passes the config check on any task with gold answers;
    scoring longdoc rows with it then names the field to change (exit 2, not a bug's exit 1)."""
    with pytest.raises(ConfigError, match=r"no rule for task 'longdoc' rows .*rewards\[\]\.rule"):
        choice_checker("prompt", "response", "gold", "longdoc")
