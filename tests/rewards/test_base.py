"""NoisyRM and standardise."""

from __future__ import annotations

import numpy as np
import pytest

from laser_jax.bandit.combine import standardise
from laser_jax.rewards import NoisyRM, VerifierRM

ZERO = VerifierRM(lambda p, r, g: 0.0, "zero", needs_gold=False)


def test_noise_has_mean_zero_and_std_sigma_and_is_deterministic():
    n = 20000
    prompts = [f"p{i % 50}" for i in range(n)]
    responses = [f"r{i}" for i in range(n)]
    rm = NoisyRM(ZERO, sigma=0.3, seed=7)
    a = rm.score(prompts, responses)
    assert rm.name == "zero+noise0.3" and a.dtype == np.float32
    assert abs(a.mean()) < 4 * 0.3 / np.sqrt(n) and abs(a.std() - 0.3) < 0.01
    # roughly Gaussian: 68% / 95% within 1 / 2 sigma
    assert abs(np.mean(np.abs(a) < 0.3) - 0.6827) < 0.01 and abs(np.mean(np.abs(a) < 0.6) - 0.9545) < 0.006
    np.testing.assert_array_equal(a, NoisyRM(ZERO, 0.3, seed=7).score(prompts, responses))  # new object, same noise
    np.testing.assert_array_equal(a[:10], rm.score(prompts[:10], responses[:10]))  # per pair, not per call
    b = NoisyRM(ZERO, 0.3, seed=8).score(prompts, responses)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.05  # another seed, independent noise
    # (prompt, response) boundaries matter: ("ab", "c") and ("a", "bc") differ
    c = rm.score(["ab", "a"], ["c", "bc"])
    assert c[0] != c[1]


def test_noise_adds_to_the_wrapped_scores():
    base = VerifierRM(lambda p, r, g: float(len(r)), "len", needs_gold=False)
    assert NoisyRM(base, 0.0).score(["a"], ["xyz"]).tolist() == [3.0]
    with pytest.raises(ValueError, match="sigma"):
        NoisyRM(base, -1.0)


def test_standardise_global_and_grouped():
    s = np.array([[1.0, 2.0, 3.0, 4.0], [10.0, 10.0, 10.0, 10.0]])
    z = standardise(s)
    np.testing.assert_allclose(z[0], (s[0] - 2.5) / np.std(s[0]), rtol=1e-6)
    assert (z[1] == 0).all()  # constant scores: 0, not nan
    zg = standardise(s, groups=[0, 0, 1, 1])
    np.testing.assert_allclose(zg[0], [-1, 1, -1, 1], rtol=1e-6)
    zg1 = standardise(np.array([[5.0, 1.0, 2.0]]), groups=["a", "b", "b"])
    np.testing.assert_allclose(zg1[0], [0, -1, 1], rtol=1e-6)  # a group of one -> 0
    assert z.dtype == np.float64 and np.isfinite(standardise(np.array([[1.0, 1.0 + 1e-9]]))).all()
    with pytest.raises(ValueError, match=r"\[K, N\]"):
        standardise(np.zeros(3))
