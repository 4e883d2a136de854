"""Width sweeps: the lazy-regime diagnostics (`ntk.analysis.metrics`) over widths × seeds, as
tidy tables, and log-log fits of their scaling with width.

    r = ntk.width_sweep([128, 256, 512], seeds=range(4), x_train=x, y_train=y, x_test=xt)
    r.table()     # column arrays: width, seed, kernel_error, weight_change, kernel_change, lin_gap
    r.fits        # {metric: fit_loglog_slope(...)}: slope, 95 % interval, r2

A diverged training run (NaN/inf loss) is recorded, not raised: its training metrics are NaN and
`diverged` is True, and the fits leave it out.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional, Sequence

import jax
import numpy as np

from .. import _validate as V
from .metrics import kernel_error, lin_gap
from .progress import as_progress

METRICS = ("kernel_error", "weight_change", "kernel_change", "lin_gap")
_TRAINING_METRICS = ("weight_change", "kernel_change", "lin_gap")


def fit_loglog_slope(x, y, level: float = 0.95) -> dict:
    """Least-squares fit log y = a + s log x. Returns slope, intercept, stderr, CI and r2.

    Non-positive or non-finite points are dropped; fewer than 3 points give NaN uncertainty.
    """
    from scipy.special import stdtrit  # Student-t quantile (lighter import than scipy.stats)

    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    lx, ly = np.log(x[ok]), np.log(y[ok])
    n = lx.size
    if n < 2 or np.ptp(lx) == 0:
        nan = float("nan")
        return dict(slope=nan, intercept=nan, stderr=nan, ci_low=nan, ci_high=nan, r2=nan, n=n)
    A = np.stack([np.ones_like(lx), lx], 1)
    coef, *_ = np.linalg.lstsq(A, ly, rcond=None)
    resid = ly - A @ coef
    dof = n - 2
    ss_tot = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else 1.0
    if dof > 0:
        s2 = float(np.sum(resid**2)) / dof
        se = math.sqrt(s2 / float(np.sum((lx - lx.mean()) ** 2)))
        q = float(stdtrit(dof, 0.5 + level / 2))
    else:
        se, q = float("nan"), float("nan")
    slope = float(coef[1])
    return dict(slope=slope, intercept=float(coef[0]), stderr=se, ci_low=slope - q * se,
                ci_high=slope + q * se, r2=r2, n=n)


def log_widths(w_min: int, w_max: int, count: int) -> list:
    """`count` log-spaced integer widths from w_min to w_max (duplicates removed; at least two
    distinct widths, since these widths are for fitting a slope)."""
    w_min, w_max, count = int(w_min), int(w_max), int(count)
    if w_min < 1:
        raise ValueError(f"The smallest width must be at least 1, got {w_min}.")
    if w_max < w_min:
        raise ValueError(f"The largest width ({w_max}) is below the smallest ({w_min}).")
    if count < 2:
        raise ValueError("Use at least 2 widths to fit a slope.")
    if w_max == w_min:
        raise ValueError(f"The smallest and largest width are both {w_min}: a slope needs two "
                         "different widths; raise the largest width.")
    return sorted({int(round(v)) for v in np.geomspace(w_min, w_max, count)})


@dataclasses.dataclass
class SweepResult:
    """Tidy results: one record per (width, seed), plus log-log fits per metric."""

    records: list
    fits: dict
    config: dict

    def table(self) -> dict:
        """Column-wise numpy arrays (width, seed and each metric)."""
        if not self.records:
            return {}
        keys = self.records[0].keys()
        return {k: np.asarray([r[k] for r in self.records]) for k in keys}

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame.from_records(self.records)

    def summary(self) -> dict:
        """Per width: mean and std over seeds of each metric."""
        t = self.table()
        out = {}
        for w in sorted(set(t["width"].tolist())):
            m = t["width"] == w
            out[w] = {k: (float(np.nanmean(t[k][m])), float(np.nanstd(t[k][m])))
                      for k in METRICS if k in t}
        return out

    def __repr__(self):
        fits = ", ".join(f"{k}: slope {v['slope']:.3f}" for k, v in self.fits.items())
        ws = sorted({r["width"] for r in self.records})
        return f"SweepResult({len(self.records)} runs, widths={ws}; {fits})"


def _check_sweep(widths, seeds, metrics, y_train, fit):
    widths = [V.check_positive_int(w, "width") for w in widths]
    if not widths:
        raise ValueError("widths is empty; pass at least one width.")
    dup = sorted({w for w in widths if widths.count(w) > 1})
    if dup:
        raise ValueError(f"widths contains duplicates {dup}; pass each width once (use more "
                         "seeds for repeated runs of one width).")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty; pass at least one seed.")
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"Unknown metrics {sorted(unknown)}; choose from {METRICS}.")
    need_train = any(m in metrics for m in _TRAINING_METRICS)
    if need_train and y_train is None:
        raise ValueError("y_train is needed for the training metrics (weight/kernel change, lin_gap).")
    if fit and len(widths) < 2:
        raise ValueError(f"A log-log slope needs at least 2 widths, got {widths}; add a width or "
                         "pass fit=False.")
    return widths, seeds, need_train


def _measure(net, params, rec, metrics, need_train, x_train, y_train, x_eval, kinf, train_kw):
    """Fill `rec` with the metrics of one (width, seed) run."""
    from ..dynamics import train

    if "kernel_error" in metrics:
        rec["kernel_error"] = kernel_error(net, params, x_train, kinf)
    if not need_train:
        return rec
    res = train(net, params, x_train, y_train, x_eval, None, record_steps=[train_kw["steps"]],
                track_kernel="kernel_change" in metrics, check_stability=False, **train_kw)
    rec["diverged"] = bool(res.diverged)
    if res.diverged:
        rec.update({m: float("nan") for m in metrics if m != "kernel_error"})
        return rec
    if "weight_change" in metrics:
        rec["weight_change"] = float(res.weight_change[-1])
    if "kernel_change" in metrics:
        rec["kernel_change"] = float(res.kernel_change[-1])
    if "lin_gap" in metrics:
        rec["lin_gap"] = lin_gap(res.f_test[-1], res.lin_f_test[-1])
    return rec


def width_sweep(widths: Sequence[int], seeds: Sequence[int] = (0, 1, 2), *, x_train, y_train=None,
                x_test=None, depth: int = 2, activation="relu", W_std: float = 1.5,
                b_std: float = 0.05, parameterization: str = "ntk", out_dim: Optional[int] = None,
                metrics: Sequence[str] = METRICS, learning_rate: Optional[float] = None,
                steps: int = 200, optimizer="sgd", fit: bool = True,
                progress: Optional[Callable] = None) -> SweepResult:
    """Measure lazy-regime diagnostics over widths x seeds (see `ntk.analysis.metrics`).

    `learning_rate=None` uses half the largest stable rate of the infinite-width NTK, the same for
    every width. Training metrics need y_train; lin_gap is measured on x_test (default x_train).
    `fit=True` fits log-log slopes and so needs at least two distinct widths.
    `progress(done, total, label)` after each run.
    """
    from ..dynamics import max_learning_rate
    from ..infinite import infinite_kernel
    from ..nets import mlp

    widths, seeds, need_train = _check_sweep(widths, seeds, metrics, y_train, fit)
    x_train = V.check_inputs(x_train, "x_train")
    if y_train is not None:
        y_train = np.asarray(y_train)
        y_train = V.as_jax(y_train[:, None] if y_train.ndim == 1 else y_train)
    k = out_dim or (y_train.shape[1] if y_train is not None else 1)
    x_eval = x_train if x_test is None else V.check_inputs(x_test, "x_test")
    ref = mlp([widths[0]] * depth, k, activation, W_std, b_std, parameterization)
    k_inf = infinite_kernel(ref, x_train, get="ntk").ntk if parameterization == "ntk" else None
    lr = learning_rate
    if need_train and lr is None:
        kk = k_inf if k_inf is not None else infinite_kernel(ref, x_train, get="ntk").ntk
        lr = 0.5 * max_learning_rate(kk, y_train.size)
    train_kw = dict(learning_rate=lr, steps=steps, optimizer=optimizer)
    prog, records = as_progress(progress), []
    for w in widths:
        net = mlp([w] * depth, k, activation, W_std, b_std, parameterization)
        kinf_w = k_inf if k_inf is not None else infinite_kernel(net, x_train, get="ntk").ntk
        for s in seeds:
            params = net.init(jax.random.PRNGKey(s), x_train.shape[1], dtype=x_train.dtype)
            records.append(_measure(net, params, {"width": w, "seed": s}, metrics, need_train,
                                    x_train, y_train, x_eval, kinf_w, train_kw))
            prog(len(records), len(widths) * len(seeds), f"width {w}, seed {s}")
    fits = {m: fit_loglog_slope([r["width"] for r in records if m in r],
                                [r[m] for r in records if m in r]) for m in metrics} if fit else {}
    config = dict(widths=widths, seeds=seeds, depth=depth, activation=str(activation), W_std=W_std,
                  b_std=b_std, parameterization=parameterization, learning_rate=lr, steps=steps,
                  optimizer=str(optimizer))
    return SweepResult(records, fits, config)


__all__ = ["METRICS", "SweepResult", "fit_loglog_slope", "log_widths", "width_sweep"]
