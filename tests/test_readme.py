"""The README's tour runs as written and prints what its comments say it prints."""
import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _tour_block():
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    tour = [b for b in blocks if "width_sweep" in b and "import jax, ntk" in b]
    assert len(tour) == 1, "the README's tour block (imports jax and ntk, runs a width sweep) is missing"
    return tour[0]


@pytest.mark.slow
def test_readme_tour_prints_what_it_says():
    code = _tour_block()
    out = io.StringIO()
    ns = {"__name__": "readme_tour"}
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), ns)
    printed = out.getvalue().strip().splitlines()
    # the sweep's line: the comment after print(...) is exactly the printed text
    claim = re.search(r"print\(f\"\{fit\['slope'\].*?#\s*(\S+ \[\S+, \S+\])", code).group(1)
    assert printed[-1] == claim, (printed[-1], claim)
    slope, lo, hi = (float(v) for v in re.findall(r"-?\d+\.\d+", claim))
    assert abs(slope + 0.5) <= 0.1 and lo <= -0.5 <= hi
    assert printed[0].startswith("TrainResult(") and np.isfinite(float(re.search(
        r"final train loss=([\d.e+-]+)", printed[0]).group(1)))
    _check_conv_lines(ns)


def _check_conv_lines(ns):
    """The conv net's lines: shapes as commented; the structured empirical NTK equals a plain
    jax.jacrev contraction (traced over the 10 outputs)."""
    import jax
    import jax.numpy as jnp

    x, params, apply_fn = ns["img"].x_train, ns["cnn_params"], ns["apply_fn"]
    assert x.shape == (6, 8, 8, 1)
    k, theta = ns["k_cnn"], ns["theta_cnn"]
    assert k.nngp.shape == k.ntk.shape == theta.shape == (6, 6)
    assert np.all(np.linalg.eigvalsh(np.asarray(k.ntk, np.float64)) > 0)
    jac = jax.jacrev(apply_fn)(params, jnp.asarray(x))
    flat = jnp.concatenate([j.reshape(6, 10, -1) for j in jax.tree_util.tree_leaves(jac)], axis=-1)
    want = jnp.einsum("iap,jap->ij", flat, flat) / 10
    np.testing.assert_allclose(np.asarray(theta), np.asarray(want), rtol=1e-5, atol=1e-6)
