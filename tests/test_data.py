"""Data sets: shapes, seeds, targets; and the import-time contract of the package."""
import os
import subprocess
import sys

import numpy as np
import pytest

import ntk


@pytest.mark.parametrize("name", ["sine", "circle", "moons", "spirals", "digits"])
def test_datasets_shapes_and_seeds(name):
    a = ntk.data.load(name, seed=3)
    b = ntk.data.load(name, seed=3)
    c = ntk.data.load(name, seed=4)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a.x_train, c.x_train)
    assert a.x_train.ndim == 2 and a.y_train.ndim == 2 and len(a.x_train) == len(a.y_train)
    assert np.all(np.isfinite(a.x_train)) and a.x_train.dtype == np.float32


def test_dataset_contents():
    s = ntk.data.sine_1d(5, 50, noise=0.0, seed=0)
    np.testing.assert_allclose(s.y_train, np.sin(s.x_train), atol=1e-6)
    assert s.x_train.min() >= -np.pi and s.x_train.max() <= np.pi
    c = ntk.data.unit_circle(7, 20, seed=0)
    np.testing.assert_allclose(np.linalg.norm(c.x_train, axis=1), 1.0, atol=1e-6)
    m = ntk.data.moons(50, 10, seed=0)
    assert set(np.unique(m.y_train)) == {-1.0, 1.0}
    d = ntk.data.digits(100, 50, classes=(3, 8), seed=0)
    assert d.x_train.shape == (100, 64) and set(np.unique(d.y_train)) == {-1.0, 1.0}
    d3 = ntk.data.digits(60, 30, classes=(0, 1, 2), seed=0)
    assert d3.y_train.shape == (60, 3)
    np.testing.assert_allclose(d3.y_train.sum(1), 0.0, atol=1e-6)


def test_dataset_errors():
    with pytest.raises(ValueError, match="Unknown dataset"):
        ntk.data.load("mnist")
    with pytest.raises(ValueError, match="n_train"):
        ntk.data.sine_1d(0)
    with pytest.raises(TypeError, match="seed"):
        ntk.data.sine_1d(5, seed="a")
    with pytest.raises(ValueError, match="reduce"):
        ntk.data.digits(400, 400, classes=(0, 1))


def test_import_is_light():
    """import ntk: no x64, no streamlit/plotly/sklearn, nothing compiled (no timing: CI load varies)."""
    code = (
        "import sys, jax; import ntk;"
        "assert not jax.config.jax_enable_x64;"
        "heavy = [m for m in ('streamlit', 'plotly', 'sklearn') if m in sys.modules];"
        "assert not heavy, heavy;"
        "print('ok')"
    )
    env = dict(os.environ, JAX_LOG_COMPILES="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "ok"
    assert "Compiling" not in out.stderr, out.stderr[-2000:]
