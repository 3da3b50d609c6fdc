"""The demo's reward models: verifier programs whose reliability differs by task family.

LASeR's premise is that no reward model is best everywhere, so picking one per batch matters. The
demo makes that true by construction, on the generated families of `laser_jax.data.synthetic`
(arithmetic word problems in GSM8K format, yes/no questions in StrategyQA format, 4-way multiple
choice in MMLU format). Each rule is `fn(prompt, response, gold, task) -> float`, `task` the row's
answer format ("gsm8k", "strategyqa", "mmlu"; see `VerifierRM`), and is selected in a config with
`dict(kind="verifier", rule=...)`:

| rule | arithmetic (gsm8k) | yesno (strategyqa) | choice (mmlu) |
| --- | --- | --- | --- |
| `exact_match` | reliable: the answer is right | reliable | reliable |
| `calculator` | reliable: the number equals the gold | BLIND: always 0.0 | BLIND: always 0.0 |
| `choice_checker` | WEAK: 1.0 for any number at all | reliable: yes/no is right | reliable: the letter is right |
| `length` | wrong: prefers long responses | wrong | wrong |

- `calculator` is a perfect judge of arithmetic and useless elsewhere: a constant score ties
  every pair, so a batch it ranks yields no preference pairs (no learning signal).
- `choice_checker` is a perfect judge of yes/no and multiple choice; on arithmetic it only checks
  that a number appears, which almost every response does: mostly ties, and where not, it
  prefers "some number" over none, never the right number over a wrong one.
- `length` = min(words, 200) / 200 rewards verbosity, not correctness: the bad arm everywhere.
- `in_context` (long-context QA, `data.task=longdoc` / longbench): 1.0 when the answer occurs in
  the prompt's document; weak (a distractor fact of the same kind also occurs there).
- `exact_match` (in `laser_jax.rewards.verifier`) is right everywhere: the oracle a demo can
  leave out (or keep, as the single "best RM" baseline).

So on a run mixing the families, the best choice is `calculator` on arithmetic batches and
`choice_checker` on yes/no and choice batches; a fixed single RM (other than the oracle) is right
on at most two of the three families.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from laser_jax.data import answers
from laser_jax.rewards.verifier import VerifierRM, match, prompt_choices

__all__ = ["RULES", "calculator", "choice_checker", "demo_rewards", "in_context", "length", "program"]

LENGTH_CAP = 200  # words: `length` saturates here
_ANY_NUMBER = re.compile(r"\d")


def calculator(prompt: str, response: str, gold: str | None, task: str) -> float:
    """gsm8k rows: 1.0 if the extracted number equals the gold, else 0.0; other rows: 0.0 (blind)."""
    if task != "gsm8k":
        return 0.0
    pred = answers.extract_gsm8k(response)
    return 1.0 if answers.is_correct_number(pred, gold) else 0.0


def choice_checker(prompt: str, response: str, gold: str | None, task: str) -> float:
    """strategyqa / mmlu rows: 1.0 if the extracted yes/no or letter equals the gold, else 0.0;
    gsm8k rows: 1.0 if the response holds any number (weak), else 0.0."""
    if task == "gsm8k":
        return 1.0 if _ANY_NUMBER.search(response) else 0.0
    if task == "strategyqa":
        return 1.0 if answers.is_correct_yes_no(answers.extract_strategyqa(response), gold) else 0.0
    if task == "mmlu":
        pred = answers.extract_mmlu(response, prompt_choices(prompt))
        return 1.0 if answers.is_correct_choice(pred, gold) else 0.0
    raise ValueError(f"choice_checker: no rule for task {task!r} (gsm8k, strategyqa, mmlu)")


def in_context(prompt: str, response: str, gold: str | None, task: str) -> float:
    """1.0 if the response's first line, normalised as LongBench normalises answers, is non-empty
    and occurs in the normalised prompt, else 0.0: a label-free grounding check for extractive
    long-context QA (it cannot tell the asked fact from a distractor in the same document)."""
    from laser_jax.data.metrics import normalize_answer

    first = response.strip().split("\n")[0]
    answer = normalize_answer(first)
    return 1.0 if answer and f" {answer} " in f" {normalize_answer(prompt)} " else 0.0


def length(prompt: str, response: str, gold: str | None, task: str) -> float:
    """min(words in the response, 200) / 200, whatever the task (length-biased, never right)."""
    return min(len(response.split()), LENGTH_CAP) / LENGTH_CAP


# rule -> (fn, needs_gold)
RULES: Mapping[str, tuple[Callable[[str, str, str | None, str], float], bool]] = {
    "exact_match": (match, True),
    "calculator": (calculator, True),
    "choice_checker": (choice_checker, True),
    "length": (length, False),
    "in_context": (in_context, False),
}


def demo_rewards() -> list[dict]:
    """The demo's four reward models as config entries (configs/demo.py, configs/best_of_n.py):
    calculator, choice_checker, SmolLM2's likelihood (a real model), length."""
    return [
        dict(name="calculator", kind="verifier", rule="calculator"),
        dict(name="choice_checker", kind="verifier", rule="choice_checker"),
        dict(name="smollm2_lik", kind="likelihood", path="smollm2-135m-instruct"),
        dict(name="length", kind="verifier", rule="length"),
    ]


def program(rule: str, task: str, name: str | None = None) -> VerifierRM:
    """The verifier of `rule` (see RULES) for `task` (the rows' format when `score` gets no
    per-row tasks; "demo" resolves each row from its gold). Default name "<rule>:<task>"."""
    if rule not in RULES:
        raise ValueError(f"unknown verifier rule {rule!r}; valid rules: {', '.join(RULES)}")
    fn, needs_gold = RULES[rule]
    return VerifierRM(fn, name or f"{rule}:{task}", needs_gold=needs_gold, task=task)
