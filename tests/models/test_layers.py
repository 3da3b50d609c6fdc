"""The gated MLP product's custom gradient against autodiff of the plain expression and, for
SiLU, against the derivative written out in float64 numpy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from laser_jax.models.layers import ACTIVATIONS, gated


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_gated_value_and_gradient_equal_autodiff_of_the_plain_product(activation):
    rng = np.random.default_rng(0)
    gate, up, dy = (jnp.asarray(3 * rng.standard_normal((4, 7, 16)), jnp.float32) for _ in range(3))
    plain = lambda g, u: ACTIVATIONS[activation](g) * u
    want, want_vjp = jax.vjp(plain, gate, up)
    got, got_vjp = jax.vjp(lambda g, u: gated(activation, g, u), gate, up)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    # |dy * up| reaches ~80 here: float32 rounding of a differently ordered product is ~1e-5 of it
    for g, w in zip(got_vjp(dy), want_vjp(dy)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-4)
    # under jit and a second-level transform (grad of a sum) as in the train step
    grad = jax.jit(jax.grad(lambda g, u: jnp.sum(gated(activation, g, u) * dy), argnums=(0, 1)))(gate, up)
    for g, w in zip(grad, want_vjp(dy)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-4)


def test_gated_silu_gradient_matches_the_derivative_in_float64():
    rng = np.random.default_rng(1)
    g, u, dy = (3 * rng.standard_normal((5, 9)) for _ in range(3))
    s = 1 / (1 + np.exp(-g))
    want_dg = dy * u * (s + g * s * (1 - s))  # d/dg [g sigmoid(g)] = s + g s (1 - s)
    want_du = dy * g * s
    _, vjp = jax.vjp(lambda a, b: gated("silu", a, b), jnp.asarray(g, jnp.float32), jnp.asarray(u, jnp.float32))
    dg, du = vjp(jnp.asarray(dy, jnp.float32))
    np.testing.assert_allclose(np.asarray(dg), want_dg, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(du), want_du, rtol=1e-4, atol=1e-5)
