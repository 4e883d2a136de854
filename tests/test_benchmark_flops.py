"""The FLOP count behind the CNN roofline of `benchmarks/race_empirical.py` against two independent
counts: a per-layer sum written out here, and the engine's own cost model (`ntk.estimate_cost`,
which counts FLOPs primitive by primitive from the traced model)."""
import importlib.util
import os
import sys

import jax.numpy as jnp
import numpy as np
import pytest

import ntk

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


def _load(name):
    """benchmarks/<name>.py as a module; sys.path is left as it was (the race script adds its folder)."""
    saved = list(sys.path)
    sys.path.insert(0, BENCH)
    try:
        spec = importlib.util.spec_from_file_location(name, os.path.join(BENCH, f"{name}.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path[:] = saved


def test_cnn_useful_flops_by_hand():
    race = _load("race_empirical")
    n, hw, t = 128, 256, 9
    fwd = 2 * n * hw * t * (3 * 32 + 32 * 64 + 64 * 128)          # forward convolutions
    bwd = 2 * n * hw * t * (32 * 64 + 64 * 128)                   # input gradients (not layer 1)
    gram = 2 * n * n * t * (3 * 32 + 32 * 64 + 64 * 128)          # Gram of the weight gradients
    assert race.cnn_useful_flops(n, hw, 3, (32, 64, 128)) == fwd + bwd + fwd + gram
    assert race.cnn_useful_flops(n, hw, 3, (32, 64, 128)) == pytest.approx(2.13e10, rel=1e-2)


@pytest.mark.parametrize("n", [8, 128])
def test_cnn_useful_flops_match_the_engine_cost_model(n):
    race, models = _load("race_empirical"), _load("_emp_models")
    rng = np.random.default_rng(0)
    params = [tuple(jnp.asarray(a, jnp.float64) for a in p) for p in models.cnn_params(rng)]
    x = jnp.zeros((n, 16, 16, 3), jnp.float64)    # float64: the suite runs with x64 on
    cost = ntk.estimate_cost(models.cnn_apply_fn("ntk"), params, x, vmap_axes=0)
    assert cost.method == "structured"
    # the engine also counts biases, the readout and elementwise work: within 2%
    assert cost.flops == pytest.approx(race.cnn_useful_flops(n, 256, 3, models.CNN_CHANNELS), rel=2e-2)
