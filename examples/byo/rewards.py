"""Two reward functions of your own, as kind="python" reward models (examples/byo/config.py).

Each is called once per batch with parallel lists and returns one number per response, or None
where it has no opinion (that response is then left out of that RM's rankings):

    fn(prompts: list[str], responses: list[str], golds: list[str | None], **the entry's other fields)
        -> list[float | None]

Neither reads `golds`: a reward model that compares with the gold answer is an oracle, not a
reward model (best-of-n's `oracle` method is that ceiling). Both are cheap heuristics with known
blind spots, which is the point: the bandit has to find out where each one helps.
Standard library only, so the file runs wherever the config does.
"""

from __future__ import annotations

import re

NUMBER = r"-?\d+(?:[.,]\d+)*"
# "a op b = c" with op one of + - * x × / ÷; several in a chain ("2 + 3 = 5 * 2 = 10") are read pairwise
EQUATION = re.compile(rf"({NUMBER})\s*([-+*/x×÷])\s*({NUMBER})\s*=\s*({NUMBER})")
FINAL = re.compile(rf"final answer\s*(?:is|:)?\s*\$?\s*({NUMBER})", re.IGNORECASE)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _apply(a: float, op: str, b: float) -> float | None:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op in "*x×":
        return a * b
    return a / b if b else None


def arithmetic_check(prompts, responses, golds, tolerance: float = 1e-6):
    """A calculator over the response's own working: the share of its written equations
    ("7 * 6 = 42") whose result is right. None for a response that writes no equation (nothing to
    check). Blind to a wrong plan with right sums, and to answers given without working."""
    out = []
    for response in responses:
        checks = []
        for a, op, b, c in EQUATION.findall(response):
            want = _apply(_number(a), op, _number(b))
            checks.append(want is not None and abs(want - _number(c)) <= tolerance * max(1.0, abs(want)))
        out.append(sum(checks) / len(checks) if checks else None)
    return out


def answer_format(prompts, responses, golds, max_words: int = 80):
    """A format and length prior: 1.0 for a "Final answer: <number>" line, 0.5 for a response
    that gives some number but no such line, 0.0 for one without a number; minus 0.5 when the
    response runs past `max_words` words (rambling). Says nothing about whether the number is right."""
    out = []
    for response in responses:
        if FINAL.search(response):
            score = 1.0
        elif re.search(NUMBER, response):
            score = 0.5
        else:
            score = 0.0
        if len(response.split()) > max_words:
            score -= 0.5
        out.append(score)
    return out
