"""ntk.predict against neural_tangents.predict 0.6.5, live (reference env .venv-ref).

Pipeline, once per test session (tests/reference/pipelines.py, part "predict", started in the
background at session start): ``predict_cases.py OUT`` (main env: inputs and our outputs) ->
``.venv-ref/bin/python predict_oracle.py`` (NT's outputs) -> one test per case comparing every
output of every call under the "exact" tier (float64 algebra, relative error <= 1e-8; measured
when written: <= 3e-14). Skips locally without .venv-ref, fails under CI=true.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import predict_cases as pc
from test_against_nt import TOLERANCES, _ready, rel_err

pytestmark = pytest.mark.reference


@pytest.fixture(scope="session")
def predict_results(tmp_path_factory):
    """(ours, nt, meta), computed once per session (in the background from its start)."""
    d = _ready("predict", tmp_path_factory)
    with np.load(d / "predict_ours.npz", allow_pickle=False) as z:
        ours = {k: z[k] for k in z.files}
    with np.load(d / "predict_nt.npz", allow_pickle=False) as z:
        nt = {k: z[k] for k in z.files}
    meta = json.loads(str(nt.pop("meta.json")))
    return ours, nt, meta


def test_predict_oracle_environment(predict_results):
    v = predict_results[2]["versions"]
    assert (v["neural_tangents"], v["jax"]) == ("0.6.5", "0.4.25") and v["x64"] is True
    assert tuple(int(p) for p in v["scipy"].split(".")[:2]) < (1, 14)  # NT's max_learning_rate


@pytest.mark.parametrize("name", [c["name"] for c in pc.CASES])
def test_predict_case(predict_results, name):
    ours, nt, _ = predict_results
    keys = sorted(k for k in nt if k.startswith(name + "/"))
    assert keys, f"NT produced no output for {name}"
    assert sorted(k for k in ours if k.startswith(name + "/")) == keys
    calls = pc.CASE_BY_NAME[name].get("calls", [None])
    assert {k.split("/")[1] for k in keys} == {str(i) for i in range(len(calls))}
    problems, report = [], []
    for k in keys:
        a, b = ours[k], nt[k]
        if a.shape != b.shape:
            problems.append(f"{k}: shape {a.shape} vs NT {b.shape}")
            continue
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            problems.append(f"{k}: non-finite values")
            continue
        err = rel_err(a, b)
        report.append(f"{k}: {err:.1e}")
        if not err <= TOLERANCES["exact"]:
            problems.append(report[-1])
    assert not problems, "\n  ".join([f"{name}: beyond {TOLERANCES['exact']:g}"] + problems + ["all:"] + report)
