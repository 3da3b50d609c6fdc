"""Scoring responses to ``ifeval_like`` prompts, strict and loose, and the accuracies over them.

Strict and loose (IFEval's ``evaluation_lib``). Strict: an instruction is followed when the
response is not blank (``response.strip() != ""``) and its checker passes on the response. Loose:
followed when the checker passes on any non-blank one of ``loose_variants(response)``, the eight
texts: the response; the response with every "*" removed; with its first line removed; with its
last line removed; with both removed; and each of the last three with every "*" removed (lines
are split on "\\n"; a removed-line text is re-joined with "\\n" and stripped). So loose forgives a
chatty first line ("Sure, here it is:") or a closing remark, and markdown emphasis.

Metrics (``accuracy``) over scored prompts, each ``score(...)`` of one response:
  prompt-level accuracy       = share of prompts whose instructions are all followed;
  instruction-level accuracy  = followed instructions / all instructions, pooled over prompts
                                (a prompt with three instructions weighs three times one with one);
each strict and loose.

"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from laser_jax.data.example import Example
from laser_jax.data.ifeval.kinds import TASK, Instruction, _instructions, instructions_from_json
from laser_jax.errors import DataError


def _spec(example_or_spec: Example | str | Sequence) -> tuple[Instruction, ...]:
    if isinstance(example_or_spec, Example):
        if example_or_spec.task != TASK:
            raise DataError(f"example {example_or_spec.uid} is a {example_or_spec.task!r} example, "
                            f"not {TASK!r}: only {TASK} examples carry instructions to check")
        return instructions_from_json(example_or_spec.answer,
                                      where=f"example {example_or_spec.uid} answer")
    if isinstance(example_or_spec, str):
        return instructions_from_json(example_or_spec)
    return _instructions(example_or_spec, "instruction list")



def loose_variants(response: str) -> tuple[str, ...]:
    """IFEval's eight texts for loose checking, in its order: the response, without "*", without
    its first line, without its last line, without both, and those three without "*"."""
    lines = response.split("\n")
    first = "\n".join(lines[1:]).strip()
    last = "\n".join(lines[:-1]).strip()
    both = "\n".join(lines[1:-1]).strip()
    return (response, response.replace("*", ""), first, last, both,
            first.replace("*", ""), last.replace("*", ""), both.replace("*", ""))


def follows_strict(instruction: Instruction, response: str) -> bool:
    """The response is not blank and the checker passes on it."""
    return bool(response.strip()) and instruction.check(response)


def follows_loose(instruction: Instruction, response: str) -> bool:
    """The checker passes on some non-blank text of ``loose_variants(response)``."""
    return any(v.strip() and instruction.check(v) for v in loose_variants(response))


def score(example_or_spec: Example | str | Sequence, response: str) -> dict[str, list]:
    """Per instruction of the prompt, in order: ``{"ids": [...], "strict": [bool, ...],
    "loose": [bool, ...]}``. ``example_or_spec``: an ``ifeval_like`` Example, its ``answer`` JSON,
    or a list of Instructions or ``{"id", "kwargs"}`` dicts."""
    if not isinstance(response, str):
        raise DataError(f"the response must be a string, got {type(response).__name__}")
    instructions = _spec(example_or_spec)
    return {"ids": [i.id for i in instructions],
            "strict": [follows_strict(i, response) for i in instructions],
            "loose": [follows_loose(i, response) for i in instructions]}


def accuracy(scores: Sequence[Mapping[str, Sequence[bool]]]) -> dict[str, float | int]:
    """Prompt- and instruction-level accuracy, strict and loose, over ``score`` results (one per
    prompt), with the numbers of prompts and instructions."""
    if not scores:
        raise DataError("accuracy needs at least one scored prompt; got none")
    out: dict[str, float | int] = {"prompts": len(scores)}
    for mode in ("strict", "loose"):
        followed = [list(s[mode]) for s in scores]
        for n, f in enumerate(followed):
            if not f:
                raise DataError(f"scored prompt {n} has no instructions under {mode!r}; each "
                                "prompt needs at least one (score() gives them)")
        out[f"prompt_{mode}"] = sum(all(f) for f in followed) / len(followed)
        out[f"instruction_{mode}"] = sum(map(sum, followed)) / sum(map(len, followed))
    out["instructions"] = sum(len(s["strict"]) for s in scores)
    return out

