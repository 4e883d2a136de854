"""Empirical NTK of plain-JAX models against neural-tangents 0.6.5 (the pinned reference env).

Pipeline (part "empirical" of tests/reference/pipelines.py: started in the background at session
start, or run once per session by the first worker that needs it):
  1. ``empirical_cases.py OUT`` in a subprocess of this interpreter (main env, float64): inputs
     and our kernels (structured method) for every model of ``empirical_models.py`` and every
     configuration of ``empirical_cases.CONFIGS`` (trace / full / diagonal outputs, vmap_axes 0 and
     None, x2 given or None);
  2. ``.venv-ref/bin/python nt_empirical_oracle.py``: NT's implementations 1 (Jacobian
     contraction) and 3 (structured derivatives) on the same models, rebuilt from the same code;
  3. one test per model compares every kernel under the ``exact`` tier (1e-8; measured ~1e-15).
Without .venv-ref the tests skip locally but fail under CI=true (as test_against_nt.py).
"""
from __future__ import annotations

import json

import pytest

import empirical_cases as ec
import empirical_models as em
from pipelines import load_npz
from test_against_nt import TOLERANCES, _ready, rel_err

pytestmark = pytest.mark.reference


@pytest.fixture(scope="session")
def emp_results(tmp_path_factory):
    d = _ready("empirical", tmp_path_factory) / "empirical"
    ours, nt = load_npz(d / "emp_ours.npz"), load_npz(d / "emp_nt.npz")
    return ours, nt, json.loads(str(nt.pop("meta.json")))


def test_oracle_versions(emp_results):
    v = emp_results[2]["versions"]
    assert (v["neural_tangents"], v["jax"], v["x64"]) == ("0.6.5", "0.4.25", True)


@pytest.mark.parametrize("model", list(em.MODELS))
def test_model_against_nt(emp_results, model):
    ours, nt, _ = emp_results
    problems, report = [], []
    for cfg in ec.CONFIGS:
        for impl in ec.OUR_IMPLS:
            leaves = sorted(k for k in ours if k.startswith(f"{model}/{cfg}/ours{impl}/"))
            assert leaves, f"no kernels of ours for {model}/{cfg}"
            for k in leaves:
                leaf = k.rsplit("/", 1)[1]
                for nt_impl in ec.NT_IMPLS:
                    b = nt[f"{model}/{cfg}/nt{nt_impl}/{leaf}"]
                    a = ours[k]
                    if a.shape != b.shape:
                        problems.append(f"{cfg} leaf {leaf}: shape {a.shape} vs NT impl {nt_impl} {b.shape}")
                        continue
                    err = rel_err(a, b)
                    report.append(f"{cfg} leaf {leaf} ours{impl} vs NT impl {nt_impl}: {err:.1e}")
                    if not err <= TOLERANCES["exact"]:
                        problems.append(report[-1])
    assert not problems, f"{model}:\n  " + "\n  ".join(problems) + "\nall:\n  " + "\n  ".join(report)
