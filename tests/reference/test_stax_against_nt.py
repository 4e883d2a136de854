"""Cross-check of ntk.stax against neural-tangents 0.6.5 (the pinned reference env, .venv-ref).

Pipeline (once per test session, shared by xdist workers through a lock file):
  1. ``stax_cases.py OUT`` in a subprocess of this interpreter (main env, float64);
  2. ``.venv-ref/bin/python nt_stax_oracle.py OUT/cases.npz OUT/nt.npz``;
  3. one test per case compares ``stax_cases.comparisons(case)`` under test_against_nt.TOLERANCES
     (closed-form kernels 1e-6 relative, quadrature 1e-4 where NT's own rule is converged, exact
     float64 algebra 1e-8).

Without .venv-ref the tests skip locally but FAIL under CI=true (as test_against_nt.py).
"""
from __future__ import annotations

import pathlib
import sys

import numpy as np
import pytest

import stax_cases as sc
from pipelines import load_npz, once_per_session
from test_against_nt import QUAD_REFERENCE_MAX, TOLERANCES, _require_ref_env, _shared_dir, rel_err

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
REF_PY = ROOT / ".venv-ref" / "bin" / "python"

pytestmark = pytest.mark.reference

PIPELINE_TIMEOUT = 1200


@pytest.fixture(scope="session")
def stax_results(tmp_path_factory):
    """(ours, nt) dicts, computed once per session whichever worker gets here first."""
    _require_ref_env()
    d = _shared_dir(tmp_path_factory) / "stax"
    once_per_session(d, [[sys.executable, HERE / "stax_cases.py", d],
                         [REF_PY, HERE / "nt_stax_oracle.py", d / "cases.npz", d / "nt.npz"]],
                     PIPELINE_TIMEOUT, "NT stax reference")
    return load_npz(d / "ours.npz"), load_npz(d / "nt.npz")


def test_case_table_covers_the_contract():
    """Every layer of the issue alone, >= 20 random compositions, x2 given and None, NNGP and NTK."""
    names = set(sc.CASE_BY_NAME)
    kinds = {c["desc"][0] for c in sc.CASES if c["kind"] == "stax"}
    for layer in ("Dense", "Conv", "AvgPool", "GlobalAvgPool", "Flatten", "LayerNorm", "FanInSum", "FanInConcat",
                  "Relu", "LeakyRelu", "ABRelu", "Abs", "Erf", "Gelu", "Sin", "Sigmoid_like", "Identity",
                  "Elementwise", "ElementwiseNumerical"):
        assert any(layer in str(c["desc"]) for c in sc.CASES if c["name"].startswith("layer_")), layer
    assert sum(n.startswith("random_") for n in names) >= 20
    assert "serial" in kinds
    keys = {k for c in sc.CASES if c["kind"] == "stax" for k, _, _ in sc.comparisons(c)}
    assert {"nngp_x2", "ntk_x2", "nngp_same", "ntk_same", "f_x1"} <= keys


@pytest.mark.parametrize("name", [c["name"] for c in sc.CASES])
def test_stax_case(stax_results, name):
    ours, nt = stax_results
    case = sc.CASE_BY_NAME[name]
    qerr = nt.get(f"{name}/quad_check_err")
    problems, report = [], []
    for our_key, nt_key, tier in sc.comparisons(case):
        a, b = ours[f"{name}/{our_key}"], nt[f"{name}/{nt_key}"]
        if a.shape != b.shape:
            problems.append(f"{our_key}: shape {a.shape} vs NT {nt_key} {b.shape}")
            continue
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            problems.append(f"{our_key}: non-finite values (ours or NT's {nt_key})")
            continue
        if tier == "quad":
            assert qerr is not None and float(qerr) <= QUAD_REFERENCE_MAX, (
                f"NT's quadrature is not converged for {name} (deg vs 2 deg: {qerr}); raise its deg")
        err, tol = rel_err(a, b), TOLERANCES[tier]
        report.append(f"{our_key} vs NT {nt_key}: {err:.1e} (tol {tol:.0e}, {tier})")
        if not err <= tol:
            problems.append(report[-1])
    assert not problems, (f"{name} ({case['kind']}, desc={case['desc']}):\n  " + "\n  ".join(problems)
                          + "\nall:\n  " + "\n  ".join(report))
