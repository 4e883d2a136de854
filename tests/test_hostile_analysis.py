"""Hostile inputs to ntk.analysis (width sweeps, log-log fits, metrics): the exact error type with a
message naming the argument; degenerate sweeps (one width, duplicate widths, every run diverged)
are refused or explained, never a NaN fit."""

import jax
import numpy as np
import pytest

import ntk
from ntk import _health as H
from ntk.analysis import metrics, sweeps
from _testutil import assert_refused

X = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
Y = np.array([0.5, 1.0, -0.2])
V, T = ValueError, TypeError
NET = ntk.mlp([8], 1)
P0 = NET.init(jax.random.PRNGKey(0), 2)


def sw(widths=(8, 16), **kw):
    kw.setdefault("x_train", X)
    kw.setdefault("metrics", ("kernel_error",))
    return ntk.width_sweep(widths, **kw)


CASES = [
    # issue 16: degenerate sweeps
    ("why-duplicate-widths", lambda: sw([8, 8]), V, r"widths contains duplicates \[8\]"),
    ("why-single-width-fit", lambda: sw([8]), V, r"A log-log slope needs at least 2 widths, got widths=\[8\]"),
    ("why-smallest-equals-largest", lambda: sweeps.log_widths(64, 64, 5), V,
     r"smallest and largest width \(w_min, w_max\) are both 64"),
    ("widths-empty", lambda: sw([]), V, r"widths is empty"),
    ("widths-float", lambda: sw([8.0, 16]), T, r"widths\[0\] must be a positive integer"),
    ("widths-bool", lambda: sw([True, 16]), T, r"widths\[0\] must be a positive integer"),
    ("widths-zero", lambda: sw([0, 16]), V, r"widths\[0\] must be a positive integer"),
    ("widths-string", lambda: sw("816"), T, r"widths must be a sequence of positive integers"),
    ("widths-int", lambda: sw(8), T, r"widths must be a sequence of positive integers"),
    ("seeds-empty", lambda: sw(seeds=[]), V, r"seeds is empty"),
    ("seeds-string", lambda: sw(seeds=["a"]), T, r"seeds\[0\] must be an integer"),
    ("seeds-float", lambda: sw(seeds=[0.5]), T, r"seeds\[0\] must be an integer"),
    ("seeds-duplicate", lambda: sw(seeds=[1, 1]), V, r"seeds contains duplicates \[1\]"),
    ("seeds-negative", lambda: sw(seeds=[-1]), V, r"seeds\[0\] must be an integer >= 0"),
    ("seeds-not-iterable", lambda: sw(seeds=3), T, r"seeds must be a sequence of integers"),
    ("metrics-unknown", lambda: sw(metrics=("speed",)), V, r"Unknown metrics \['speed'\]"),
    ("metrics-one-string-unknown", lambda: sw(metrics="speed"), V, r"Unknown metrics \['speed'\]"),
    ("training-metric-no-y", lambda: sw(metrics=("weight_change",)), V, r"y_train is needed"),
    ("fit-string", lambda: sw(fit="yes"), T, r"fit must be True or False"),
    ("x-nan", lambda: sw(x_train=np.array([[np.nan, 1.0]])), V, r"x_train contains 1 NaN"),
    ("x-1d", lambda: sw(x_train=np.ones(3)), V, r"x_train must have 2 dimensions"),
    ("x-test-nan", lambda: sw(x_test=np.array([[np.nan, 1.0]]), y_train=Y, metrics=("lin_gap",)), V,
     r"x_test contains 1 NaN"),
    ("steps-float", lambda: sw(y_train=Y, metrics=("weight_change",), steps=2.5, learning_rate=0.1), T,
     r"steps must be an integer"),
    ("lr-negative", lambda: sw(y_train=Y, metrics=("weight_change",), steps=2, learning_rate=-1.0), V,
     r"learning_rate must be > 0"),
    ("y-rows", lambda: sw(y_train=Y[:2], metrics=("weight_change",), steps=2, learning_rate=0.1), V,
     r"x_train has 3 points but y_train has 2"),
    ("log-widths-order", lambda: sweeps.log_widths(64, 8, 3), V, r"largest width \(w_max = 8\) is below"),
    ("log-widths-zero", lambda: sweeps.log_widths(0, 8, 3), V, r"smallest width \(w_min\) must be at least 1"),
    ("log-widths-count", lambda: sweeps.log_widths(8, 64, 1), V, r"at least 2 widths \(count = 1\)"),
    ("log-widths-float", lambda: sweeps.log_widths(8.5, 64, 3), T, r"w_min must be an integer"),
    ("log-widths-string", lambda: sweeps.log_widths(8, "64", 3), T, r"w_max must be an integer"),
    ("fit-one-x", lambda: ntk.fit_loglog_slope([8, 8, 8], [1.0, 2.0, 3.0]), V,
     r"fit_loglog_slope needs points at two or more distinct x"),
    ("fit-all-nonpositive", lambda: ntk.fit_loglog_slope([8, 16], [0.0, -1.0]), V,
     r"0 usable point\(s\).*2 of 2 left out"),
    ("fit-all-nan", lambda: ntk.fit_loglog_slope([8, 16], [np.nan, np.nan]), V, r"left out as non-finite"),
    ("fit-lengths", lambda: ntk.fit_loglog_slope([8, 16, 32], [1.0, 2.0]), V, r"x and y must have the same length"),
    ("fit-strings", lambda: ntk.fit_loglog_slope(["a", "b"], [1.0, 2.0]), T, r"x and y must be numeric"),
    ("fit-level", lambda: ntk.fit_loglog_slope([8, 16, 32], [1.0, 0.5, 0.2], level=95), V,
     r"level must be a probability in \(0, 1\)"),
    ("metric-lin-gap-shapes", lambda: metrics.lin_gap(np.ones((3, 1)), np.ones((1, 3))), V,
     r"lin_gap: f \(3, 1\) and f_lin \(1, 3\) must have the same shape"),
    ("metric-lin-gap-nan", lambda: metrics.lin_gap(np.array([np.nan, 1.0]), np.ones(2)), V, r"f contains 1 NaN"),
    ("metric-lin-gap-curve-shapes", lambda: metrics.lin_gap_curve(np.ones((2, 3)), np.ones((3, 3))), V,
     r"lin_gap_curve: f \(2, 3\) and f_lin \(3, 3\)"),
    ("metric-relative-structure", lambda: metrics.relative_change([np.ones(2)], [np.ones(2), np.ones(2)]), V,
     r"must have the same structure"),
    ("metric-relative-shapes", lambda: metrics.relative_change([np.ones(2)], [np.ones(3)]), V,
     r"leaf 0 of `new` has shape \(2,\) but `old` has \(3,\)"),
    ("metric-weight-change-nan", lambda: metrics.weight_change([np.array([np.nan])], [np.ones(1)]), V,
     r"new\[0\] contains 1 NaN"),
    ("metric-kernel-change-string", lambda: metrics.kernel_change("K", np.eye(2)), T, r"new must be a numeric"),
    ("metric-kernel-error-nan-params", lambda: metrics.kernel_error(
        NET, [(P0[0][0].at[0, 0].set(np.nan), P0[0][1])] + list(P0[1:]), X), V, r"params\[0\]\[0\] contains 1 NaN"),
    ("metric-kernel-error-overflow", lambda: metrics.kernel_error(NET, P0, np.full((2, 2), 1e20, np.float32)), V,
     r"x is too large for float32"),
    ("metric-kernel-error-nan-kinf", lambda: metrics.kernel_error(NET, P0, X, np.full((3, 3), np.nan)), V,
     r"k_inf contains 9 NaN"),
]


@pytest.mark.parametrize("fn,exc,match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_with_a_clear_error(fn, exc, match):
    assert_refused(fn, exc, match)


def test_every_run_diverged_is_explained_not_a_nan_fit():
    """Issue 16 ("Lazy at 5x the stable rate"): all runs diverge -> an error naming the learning rate."""
    with pytest.raises(H.NonFiniteError, match=r"2 of 2 training runs diverged at learning_rate=.*lower the "
                                               r"learning rate"):
        sw([8, 16], seeds=[0], y_train=Y, metrics=("weight_change",), steps=200, learning_rate=1e3)
    # fit=False keeps the records (diverged, NaN training metrics) without a fit
    r = sw([8, 16], seeds=[0], y_train=Y, metrics=("weight_change",), steps=200, learning_rate=1e3, fit=False)
    assert r.fits == {} and all(rec["diverged"] for rec in r.records)


def test_single_width_without_fit_is_a_valid_result():
    r = sw([8], seeds=[0, 1], fit=False)
    assert r.fits == {} and len(r.records) == 2
    assert all(np.isfinite(rec["kernel_error"]) for rec in r.records)
    # two widths: an exact line and an honest, unbounded interval (not NaN)
    fit = sw([8, 16], seeds=[0]).fits["kernel_error"]
    assert np.isfinite(fit["slope"]) and fit["ci_low"] == -np.inf and fit["ci_high"] == np.inf
