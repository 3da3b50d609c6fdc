"""exact_match verifiers on GSM8K / StrategyQA / MMLU strings."""

from __future__ import annotations

import numpy as np
import pytest

from laser_jax.errors import DataError

from laser_jax.rewards import VerifierRM, exact_match
from laser_jax.rewards.verifier import prompt_choices


def test_gsm8k():
    rm = exact_match("gsm8k")
    assert rm.name == "exact_match:gsm8k"
    got = rm.score(["q"] * 5, ["9 * 2 = 18 so Final answer: 18", "Final answer: $1,234.50", "It is 17.",
                                "#### 18", "no idea"], ["18", "1234.5", "18", "18", "18"])
    assert got.tolist() == [1.0, 1.0, 0.0, 1.0, 0.0] and got.dtype == np.float32


def test_strategyqa():
    got = exact_match("strategyqa").score(["q"] * 4, ["Final answer: Yes", "So no.", "Final answer: true", "maybe"],
                                          ["yes", "yes", "yes", "no"])
    assert got.tolist() == [1.0, 0.0, 1.0, 0.0]


def test_mmlu_reads_letters_and_choice_text_from_the_prompt():
    prompt = "Question: Which is a fruit?\nA. Carrot\nB. Apple\nC. Potato\nD. Leek\nSolution: "
    assert prompt_choices(prompt) == ("Carrot", "Apple", "Potato", "Leek")
    got = exact_match("mmlu").score([prompt] * 4, ["Final answer: B", "Final answer: (C)", "Final answer: Apple",
                                                   "The answer is B."], ["B", "B", "B", "B"])
    assert got.tolist() == [1.0, 0.0, 1.0, 1.0]


def test_verifier_needs_golds_and_known_task():
    rm = exact_match("gsm8k")
    with pytest.raises(DataError, match="needs a gold answer"):
        rm.score(["q"], ["Final answer: 3"])
    with pytest.raises(ValueError, match="unknown task"):
        exact_match("squad")
    custom = VerifierRM(lambda p, r, g: len(r), "length", needs_gold=False)
    assert custom.score(["a", "b"], ["xy", ""]).tolist() == [2.0, 0.0]
