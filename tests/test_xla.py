"""ntk._xla: the compile options of the library's kernel programs.

Checked: on CPU the option is applied (XLA's YNN library keeps the dot products and gives the
convolutions back to XLA), results equal a plain `jax.jit` of the same function, and a program
called inside another trace (where JAX refuses compile options) falls back to a plain jit.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import ntk
from ntk import _xla
from _testutil import assert_close


def _conv_net(w, x):
    y = lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.tanh(y).reshape(x.shape[0], -1) @ jnp.ones((y[0].size, 2), y.dtype)


def _data():
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.standard_normal((3, 3, 2, 4)), jnp.float32)
    x = jnp.asarray(rng.standard_normal((5, 6, 6, 2)), jnp.float32)
    return w, x


def test_options_on_cpu_only_when_supported():
    opts = _xla.compiler_options()
    if jax.default_backend() != "cpu" or not _xla._cpu_options_supported():
        assert opts is None
        return
    assert opts == {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}
    w, x = _data()
    hlo = _xla.jit(lambda w, x: lax.conv_general_dilated(
        x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))).lower(w, x).compile().as_text()
    assert "convolution(" in hlo and "__ynn_fusion" not in hlo   # XLA's own convolution


def test_same_numbers_as_plain_jit():
    w, x = _data()
    assert_close(np.asarray(_xla.jit(_conv_net)(w, x)), np.asarray(jax.jit(_conv_net)(w, x)),
                 rtol=1e-6, atol=1e-6)


def test_nested_call_falls_back_to_plain_jit():
    w, x = _data()
    inner = _xla.jit(_conv_net)
    outer = jax.jit(lambda w, x: 2.0 * inner(w, x))
    assert_close(np.asarray(outer(w, x)), 2.0 * np.asarray(inner(w, x)), rtol=1e-6, atol=1e-6)


def test_empirical_ntk_fn_inside_user_jit():
    """A user's jax.jit around our empirical kernel (the engine's program is then nested)."""
    w, x = _data()
    fn = ntk.empirical_ntk_fn(_conv_net, vmap_axes=0, implementation=3)
    top = np.asarray(fn(x, None, w))
    nested = np.asarray(jax.jit(lambda x, w: fn(x, None, w))(x, w))
    assert top.shape == (5, 5)
    assert_close(nested, top, rtol=1e-5, atol=1e-5)


def test_unrelated_errors_are_not_swallowed():
    f = _xla.jit(lambda a: a.reshape(7))
    with pytest.raises(TypeError):
        f(jnp.ones(6))
