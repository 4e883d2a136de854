"""Cross-check of ntk.stax against neural-tangents 0.6.5 (the pinned reference env, .venv-ref).

Pipeline (part "stax" of tests/reference/pipelines.py: started in the background at session start,
or run once per session by the first worker that needs it):
  1. ``stax_cases.py OUT`` in a subprocess of this interpreter (main env, float64);
  2. ``.venv-ref/bin/python nt_stax_oracle.py OUT/cases.npz OUT/nt.npz``;
  3. one test per case compares ``stax_cases.comparisons(case)`` under test_against_nt.TOLERANCES
     (closed-form kernels 1e-6 relative, quadrature 1e-4 where NT's own rule is converged, exact
     float64 algebra 1e-8).

Without .venv-ref the tests skip locally but FAIL under CI=true (as test_against_nt.py).
"""
from __future__ import annotations

import pytest

import stax_cases as sc
from pipelines import load_npz
from test_against_nt import _ready, assert_case_matches

pytestmark = pytest.mark.reference


@pytest.fixture(scope="session")
def stax_results(tmp_path_factory):
    """(ours, nt) dicts of the "stax" pipeline part."""
    d = _ready("stax", tmp_path_factory) / "stax"
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
    assert_case_matches(ours, nt, name, sc.comparisons(case), f"{case['kind']}, desc={case['desc']}",
                        fix="raise its deg")
