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

Instruction following (`data.task=ifeval_like`, `laser_jax.data.ifeval`): each prompt's
instructions come from one group (the family: `length`, `format`, `words`), and the gold is the
prompt's instruction list (JSON). One verifier per group:

| rule | length prompts | format prompts | words prompts |
| --- | --- | --- | --- |
| `ifeval_length` | reliable: share of its length instructions followed | BLIND: 0.0 | BLIND: 0.0 |
| `ifeval_format` | BLIND | reliable (bullets, JSON, title, case, no comma) | BLIND |
| `ifeval_words` | BLIND | BLIND | reliable (keywords, forbidden words, end phrase) |
| `ifeval_all` | reliable: share of all instructions followed (the oracle) | reliable | reliable |

Each scores a response by the share of the prompt's instructions of ITS group that the response
follows (IFEval's strict rule, `ifeval.follows_strict`), and is blind (0.0, a constant: every
pair ties, nothing trains) on a prompt with none of them, or on a row of another task. With
SmolLM2's likelihood RM beside them (`ifeval_rewards()`), the right RM differs by family: a
selection problem whose answer is known.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from laser_jax.data import answers, ifeval
from laser_jax.data.metrics import normalize_answer
from laser_jax.errors import ConfigError
from laser_jax.rewards.verifier import VerifierRM, match, prompt_choices

__all__ = ["RULES", "calculator", "choice_checker", "demo_rewards", "ifeval_group_share", "ifeval_rewards",
           "in_context", "length", "program"]

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
    # reachable from a config: a verifier entry with rule=choice_checker on data.task=longbench, say
    raise ConfigError(f"choice_checker: no rule for task {task!r} rows (gsm8k, strategyqa, mmlu); give that "
                      f"verifier entry (rewards[].rule) another rule, one of {', '.join(RULES)}")


def in_context(prompt: str, response: str, gold: str | None, task: str) -> float:
    """1.0 if the response's first line, normalised as LongBench normalises answers, is non-empty
    and occurs in the normalised prompt, else 0.0: a label-free grounding check for extractive
    long-context QA (it cannot tell the asked fact from a distractor in the same document)."""

    first = response.strip().split("\n")[0]
    answer = normalize_answer(first)
    return 1.0 if answer and f" {answer} " in f" {normalize_answer(prompt)} " else 0.0


def length(prompt: str, response: str, gold: str | None, task: str) -> float:
    """min(words in the response, 200) / 200, whatever the task (length-biased, never right)."""
    return min(len(response.split()), LENGTH_CAP) / LENGTH_CAP


def ifeval_group_share(group: str | None, response: str, gold: str | None, task: str) -> float:
    """The share of the prompt's instructions of ``group`` (None: all of them) that ``response``
    follows (strict); 0.0 when the prompt has none of them or the row is not an ifeval_like row."""
    if task != ifeval.TASK or gold is None:
        return 0.0
    mine = [i for i in ifeval.instructions_from_json(gold, where="ifeval verifier gold")
            if group is None or ifeval.group_of(i.id) == group]
    return sum(ifeval.follows_strict(i, response) for i in mine) / len(mine) if mine else 0.0


def _ifeval_rule(group: str | None) -> Callable[[str, str, str | None, str], float]:
    def rule(prompt: str, response: str, gold: str | None, task: str) -> float:
        return ifeval_group_share(group, response, gold, task)

    rule.__name__ = f"ifeval_{group or 'all'}"
    rule.__doc__ = (f"ifeval_like rows: the share of the prompt's {group or 'all'} instructions followed "
                    "(strict); 0.0 without any (blind).")
    return rule


# rule -> (fn, needs_gold)
RULES: Mapping[str, tuple[Callable[[str, str, str | None, str], float], bool]] = {
    "exact_match": (match, True),
    "calculator": (calculator, True),
    "choice_checker": (choice_checker, True),
    "length": (length, False),
    "in_context": (in_context, False),
    **{f"ifeval_{g}": (_ifeval_rule(g), True) for g in ifeval.GROUPS},
    "ifeval_all": (_ifeval_rule(None), True),
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


def ifeval_rewards(oracle: bool = False) -> list[dict]:
    """The ifeval_like reward models as config entries (configs/ifeval_like.py): SmolLM2's
    likelihood, then one verifier per instruction group (ifeval_length, ifeval_format,
    ifeval_words); ``oracle`` appends ifeval_all (every instruction: the "best RM")."""
    out = [dict(name="smollm2_lik", kind="likelihood", path="smollm2-135m-instruct")]
    out += [dict(name=f"ifeval_{g}", kind="verifier", rule=f"ifeval_{g}", task=ifeval.TASK) for g in ifeval.GROUPS]
    if oracle:
        out.append(dict(name="ifeval_all", kind="verifier", rule="ifeval_all", task=ifeval.TASK))
    return out


def program(rule: str, task: str, name: str | None = None) -> VerifierRM:
    """The verifier of `rule` (see RULES) for `task` (the rows' format when `score` gets no
    per-row tasks; "demo" resolves each row from its gold). Default name "<rule>:<task>"."""
    if rule not in RULES:  # a config entry's rule is checked by build.check_spec: a caller's error
        raise ValueError(f"unknown verifier rule {rule!r}; valid rules: {', '.join(RULES)}")
    fn, needs_gold = RULES[rule]
    return VerifierRM(fn, name or f"{rule}:{task}", needs_gold=needs_gold, task=task)
