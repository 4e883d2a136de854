"""Closed-form Gaussian expectations vs quadrature and Monte Carlo; quadrature vs closed forms."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from _testutil import assert_close
from ntk.activations import (ACTIVATION_NAMES, get_activation, quadrature_maps, quadrature_rule)

CLOSED = ["relu", "erf", "gelu", "abs", "sin", "identity", ("leaky_relu", {"alpha": 0.2})]
SMOOTH = ["erf", "gelu", "sin", "identity"]  # kinked ReLU family: quadrature is not the reference


def _pairs(seed, scale, n=40):
    rng = np.random.default_rng(seed)
    q1 = jnp.asarray(rng.uniform(0.5, 1.0, n) * scale)
    q2 = jnp.asarray(rng.uniform(0.5, 1.0, n) * scale)
    rho = jnp.asarray(np.concatenate([[1.0, -1.0, 0.0], rng.uniform(-0.99, 0.99, n - 3)]))
    return q1, q2, rho


def _mc(fn, q1, q2, rho, n=400_000, seed=0):
    """Monte Carlo E[fn(u) fn(v)] with its standard error."""
    rng = np.random.default_rng(seed)
    z1, z2 = rng.normal(size=(2, n))
    u = np.sqrt(q1) * z1
    v = np.sqrt(q2) * (rho * z1 + np.sqrt(1 - rho**2) * z2)
    s = np.asarray(fn(jnp.asarray(u)) * fn(jnp.asarray(v)))
    return s.mean(), s.std() / np.sqrt(n)


@pytest.mark.parametrize("spec", SMOOTH, ids=str)
def test_closed_forms_match_quadrature(spec):
    """Smooth activations: quadrature converges to the closed form to ~1e-9; kinked ones (ReLU
    family) are compared with Monte Carlo instead (see next test)."""
    act = get_activation(spec)
    for scale in (0.3, 1.0, 4.0, 25.0):
        q1, q2, rho = _pairs(1, scale)
        rule = quadrature_rule(float(max(q1.max(), q2.max())))
        qn, qd = quadrature_maps(act.fn, rule)
        scale_n = jnp.sqrt(q1 * q2) + 1e-3
        assert float(jnp.max(jnp.abs(qn(q1, q2, rho) - act.nngp_map(q1, q2, rho)) / scale_n)) < 1e-8
        d_ref = act.dot_map(q1, q2, rho)
        err = jnp.abs(qd(q1, q2, rho) - d_ref) / jnp.maximum(jnp.abs(d_ref), 1e-3)
        assert float(jnp.max(err)) < 1e-7, (spec, scale)


@pytest.mark.parametrize("spec", CLOSED, ids=str)
def test_closed_forms_match_monte_carlo(spec):
    act = get_activation(spec)
    for q1, q2, rho in [(1.0, 1.0, 0.5), (2.0, 0.5, -0.3), (1.5, 1.5, 1.0), (0.7, 3.0, 0.9)]:
        val = float(act.nngp_map(jnp.asarray(q1), jnp.asarray(q2), jnp.asarray(rho)))
        mc, se = _mc(act.fn, q1, q2, rho)
        assert abs(val - mc) < 5 * se + 1e-12, (spec, q1, q2, rho, val, mc, se)
        dval = float(act.dot_map(jnp.asarray(q1), jnp.asarray(q2), jnp.asarray(rho)))
        dmc, dse = _mc(act.derivative, q1, q2, rho, seed=1)
        assert abs(dval - dmc) < 5 * dse + 1e-12, (spec, "dot", q1, q2, rho, dval, dmc, dse)


def test_relu_arccos_closed_form_by_hand():
    """Arc-cosine kernel of degree 1 (Cho & Saul) at known angles."""
    act = get_activation("relu")
    one = jnp.asarray(1.0)
    assert_close(act.nngp_map(one, one, one), 0.5)  # E[relu(u)^2] = q/2
    assert_close(act.nngp_map(one, one, jnp.asarray(0.0)), 1 / (2 * np.pi))
    assert_close(act.dot_map(one, one, jnp.asarray(0.0)), 0.25)
    assert_close(act.dot_map(one, one, jnp.asarray(-1.0)), 0.0)


def test_erf_arcsin_closed_form_by_hand():
    act = get_activation("erf")
    q = jnp.asarray(0.5)
    # E[erf(u)^2] = 2/pi arcsin(2q / (1 + 2q))
    assert_close(act.nngp_map(q, q, jnp.asarray(1.0)), 2 / np.pi * np.arcsin(1 / 2))


def test_quadrature_large_variance_against_converged_reference():
    """tanh at sqrt(q) ~ 6 (the design's trap): auto rule vs a 4x finer rule."""
    fn = jnp.tanh
    q1, q2, rho = _pairs(3, 36.0)
    rule = quadrature_rule(float(max(q1.max(), q2.max())))
    n, d = quadrature_maps(fn, rule)
    nr, dr = quadrature_maps(fn, ("trap", 4 * rule[1] + 1))
    assert_close(n(q1, q2, rho), nr(q1, q2, rho), rtol=1e-8, atol=1e-10)
    assert_close(d(q1, q2, rho), dr(q1, q2, rho), rtol=1e-7, atol=1e-10)
    # A fixed 64-node Gauss-Hermite rule is measurably worse there (why the rule is scaled).
    _, d64 = quadrature_maps(fn, ("gh", 64))
    assert float(jnp.max(jnp.abs(d64(q1, q2, rho) - dr(q1, q2, rho)))) > 1e-5


def test_registry_names_and_errors():
    for name in ACTIVATION_NAMES:
        if name != "leaky_relu":
            assert get_activation(name).name == name
    a = get_activation(("leaky_relu", {"alpha": 0.1}))
    assert a.params == (("alpha", 0.1),) and a.closed_form
    custom = get_activation(lambda x: jnp.cos(x))
    assert not custom.closed_form
    with pytest.raises(ValueError, match="Unknown activation"):
        get_activation("relux")
    with pytest.raises(ValueError, match="alpha"):
        get_activation(("leaky_relu", {"beta": 1}))
    with pytest.raises(TypeError):
        get_activation(3)
    assert "relu" in repr(get_activation("relu"))


def test_gelu_is_exact_gelu():
    x = jnp.linspace(-4, 4, 101)
    assert_close(get_activation("gelu").fn(x), jax.nn.gelu(x, approximate=False))
