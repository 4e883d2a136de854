"""Width sweeps: the lazy-regime diagnostics (`ntk.analysis.metrics`) over widths × seeds, as
tidy tables, and log-log fits of their scaling with width.

    r = ntk.width_sweep([128, 256, 512], seeds=range(4), x_train=x, y_train=y, x_test=xt)
    r.table()     # column arrays: width, seed, kernel_error, weight_change, kernel_change, lin_gap
    r.fits        # {metric: fit_loglog_slope(...)}: slope, 95 % interval, r2

A diverged training run (NaN/inf loss) is recorded, not raised: its training metrics are NaN and
`diverged` is True, and the fits leave it out; when that leaves fewer than two widths to fit,
`width_sweep` raises `NonFiniteError` (a ValueError) saying so. Fits never hold NaN: a slope from
exactly two widths has an infinite interval.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Iterable, Optional, Sequence

import jax
import numpy as np

from .. import _health as H
from .. import _validate as V
from .metrics import kernel_error, lin_gap
from .progress import as_progress

METRICS = ("kernel_error", "weight_change", "kernel_change", "lin_gap")
_TRAINING_METRICS = ("weight_change", "kernel_change", "lin_gap")


def fit_loglog_slope(x, y, level: float = 0.95) -> dict:
    """Least-squares fit log y = a + s log x. Returns slope, intercept, stderr, CI and r2 (and n).

    Points with non-positive or non-finite x or y are left out (e.g. diverged runs). Raises
    ValueError when fewer than two points with distinct x remain (no slope exists). With exactly two
    distinct points the line is exact: stderr is inf and the interval (-inf, inf) (no residual to
    estimate the noise from), never NaN.
    """
    from scipy.special import stdtrit  # Student-t quantile (lighter import than scipy.stats)

    if isinstance(level, bool) or not isinstance(level, (int, float, np.integer, np.floating)) \
            or not 0 < float(level) < 1:
        raise ValueError(f"level must be a probability in (0, 1), got {level!r}.")
    try:
        x = np.asarray(x, dtype=float).ravel()
        y = np.asarray(y, dtype=float).ravel()
    except (TypeError, ValueError):
        raise TypeError("fit_loglog_slope: x and y must be numeric sequences.") from None
    if x.shape != y.shape:
        raise ValueError(f"fit_loglog_slope: x and y must have the same length, got {x.size} and {y.size}.")
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    lx, ly = np.log(x[ok]), np.log(y[ok])
    n = lx.size
    if n < 2 or np.ptp(lx) == 0:
        left = f" ({x.size - n} of {x.size} left out as non-finite or <= 0, e.g. diverged runs)" if n < x.size else ""
        raise ValueError(f"fit_loglog_slope needs points at two or more distinct x (widths) with finite "
                         f"positive y; got {n} usable point(s) at {len(set(lx.tolist()))} distinct x{left}.")
    A = np.stack([np.ones_like(lx), lx], 1)
    coef, *_ = np.linalg.lstsq(A, ly, rcond=None)
    resid = ly - A @ coef
    dof = n - 2
    ss_tot = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else 1.0
    slope = float(coef[1])
    if dof > 0:
        s2 = float(np.sum(resid**2)) / dof
        se = math.sqrt(s2 / float(np.sum((lx - lx.mean()) ** 2)))
        q = float(stdtrit(dof, 0.5 + level / 2))
        lo, hi = slope - q * se, slope + q * se
    else:
        se, lo, hi = math.inf, -math.inf, math.inf
    return dict(slope=slope, intercept=float(coef[0]), stderr=se, ci_low=lo, ci_high=hi, r2=r2, n=n)


def log_widths(w_min: int, w_max: int, count: int) -> list:
    """`count` log-spaced integer widths from w_min to w_max (duplicates removed; at least two
    distinct widths, since these widths are for fitting a slope)."""
    w_min, w_max = V.check_int(w_min, "w_min", None), V.check_int(w_max, "w_max", None)
    count = V.check_int(count, "count", None)
    if w_min < 1:
        raise ValueError(f"The smallest width (w_min) must be at least 1, got {w_min}.")
    if w_max < w_min:
        raise ValueError(f"The largest width (w_max = {w_max}) is below the smallest (w_min = {w_min}).")
    if count < 2:
        raise ValueError(f"Use at least 2 widths (count = {count}) to fit a slope.")
    if w_max == w_min:
        raise ValueError(f"The smallest and largest width (w_min, w_max) are both {w_min}: a slope needs two "
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
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Iterable):
        raise TypeError(f"widths must be a sequence of positive integers, got {widths!r}.")
    widths = [V.check_positive_int(w, f"widths[{i}]") for i, w in enumerate(widths)]
    if not widths:
        raise ValueError("widths is empty; pass at least one width.")
    dup = sorted({w for w in widths if widths.count(w) > 1})
    if dup:
        raise ValueError(f"widths contains duplicates {dup}; pass each width once (use more "
                         "seeds for repeated runs of one width).")
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        raise TypeError(f"seeds must be a sequence of integers (e.g. range(3)), got {seeds!r}.")
    seeds = [V.check_int(s, f"seeds[{i}]", minimum=0) for i, s in enumerate(seeds)]
    if not seeds:
        raise ValueError("seeds is empty; pass at least one seed.")
    if len(set(seeds)) < len(seeds):
        raise ValueError(f"seeds contains duplicates {sorted({s for s in seeds if seeds.count(s) > 1})}: "
                         "repeated seeds repeat the same network; pass distinct seeds.")
    if isinstance(metrics, str):
        metrics = (metrics,)
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"Unknown metrics {sorted(unknown)}; choose from {METRICS}.")
    need_train = any(m in metrics for m in _TRAINING_METRICS)
    if need_train and y_train is None:
        raise ValueError("y_train is needed for the training metrics (weight/kernel change, lin_gap).")
    fit = V.check_bool(fit, "fit")
    if fit and len(widths) < 2:
        raise ValueError(f"A log-log slope needs at least 2 widths, got widths={widths}; add a width or "
                         "pass fit=False.")
    return widths, seeds, tuple(metrics), need_train, fit


def _fit_metric(records, m, lr):
    """fit_loglog_slope of one metric over the records; a clear error when diverged runs leave fewer
    than two widths to fit."""
    w = [r["width"] for r in records if m in r]
    v = [r[m] for r in records if m in r]
    good = {wi for wi, vi in zip(w, v) if np.isfinite(vi) and vi > 0}
    if len(good) < 2:
        bad = sum(1 for r in records if r.get("diverged"))
        why = (f"{bad} of {len(records)} training runs diverged at learning_rate={lr:g}; lower the learning "
               "rate (e.g. learning_rate=None for half the stable limit)") if bad else \
            f"{m} is zero or not finite at all but {len(good)} width(s)"
        raise H.NonFiniteError(f"No log-log slope of {m} can be fitted: {why}. Pass fit=False to keep the "
                               "records without fits.")
    return fit_loglog_slope(w, v)


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

    widths, seeds, metrics, need_train, fit = _check_sweep(widths, seeds, metrics, y_train, fit)
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
    fits = {m: _fit_metric(records, m, lr) for m in metrics} if fit else {}
    config = dict(widths=widths, seeds=seeds, depth=depth, activation=str(activation), W_std=W_std,
                  b_std=b_std, parameterization=parameterization, learning_rate=lr, steps=steps,
                  optimizer=str(optimizer))
    return SweepResult(records, fits, config)


__all__ = ["METRICS", "SweepResult", "fit_loglog_slope", "log_widths", "width_sweep"]
