"""Spectrum page: why the network's per-mode residuals stop above the linear-theory lines (issue 15).

The lines are |1 − ηλᵢ/N|ᵗ with the kernel Θ₀ at initialization. Pinned here:
- the linearized model (fixed kernel Θ₀) follows them to round-off of its dtype;
- the network stops orders of magnitude above round-off even in float64 (so not a float32 floor);
- that floor falls with the width (a finite-width effect: the kernel moves during training).
"""
import numpy as np
import pytest

from ntk.analysis.views import spectrum_data

CFG = dict(n_train=16, steps=150)


@pytest.fixture(scope="module")
def runs():
    return {w: spectrum_data(width=w, dtype="float64", **CFG) for w in (64, 1024)}


def test_linearized_model_follows_theory_to_round_off(runs):
    for d in runs.values():
        th, lin, ro = d["theory"], d["lin_residual_proj"], d["round_off"]
        assert lin.shape == th.shape and np.all(np.isfinite(ro))
        np.testing.assert_array_less(np.abs(lin - th), 20 * (th * 1e-6 + ro[None, :]) + 1e-300)
        assert d["lin_plateau"] < 1e-12  # float64: the learned modes reach ~1e-15


def test_network_floor_is_finite_width_not_round_off(runs):
    narrow, wide = runs[64], runs[1024]
    for d in (narrow, wide):
        assert d["learned_modes"].sum() >= 3
        # float64 round-off is ~1e-15 of a mode's start; the network stops 10 orders higher.
        assert d["network_plateau"] > 1e6 * np.max(d["round_off"][d["learned_modes"]])
        assert d["network_plateau"] > 1e6 * d["lin_plateau"]
    # Wider: the kernel moves less and the floor sinks (~1/width: 16x wider, > 4x lower).
    assert wide["kernel_change"] < narrow["kernel_change"] / 3
    assert wide["network_plateau"] < narrow["network_plateau"] / 4


def test_float32_linearized_floor_is_round_off():
    d = spectrum_data(width=64, **CFG)
    assert d["dtype"] == "float32"
    assert 1e-9 < d["lin_plateau"] < 1e-5  # float32 eps 1.2e-7
    assert d["network_plateau"] > 100 * d["lin_plateau"]


def test_float64_needs_x64():
    import jax

    with pytest.raises(ValueError, match="dtype"):
        spectrum_data(width=8, n_train=4, steps=2, dtype="float16")
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(ValueError, match="jax_enable_x64"):
            spectrum_data(width=8, n_train=4, steps=2, dtype="float64")
    finally:
        jax.config.update("jax_enable_x64", True)
