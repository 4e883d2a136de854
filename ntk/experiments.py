"""Width sweeps and the diagnostics of the lazy (kernel) regime, as tidy tables.

For each width n and seed, `width_sweep` measures
  kernel_error   |Theta_emp(theta_0) - Theta_inf|_F / |Theta_inf|_F         at initialization
  weight_change  |theta_T - theta_0| / |theta_0|                            after T steps of GD
  kernel_change  |Theta_emp(theta_T) - Theta_emp(theta_0)|_F / |Theta_emp(theta_0)|_F
  lin_gap        RMS(f_T - f_T^lin) / RMS(f_T^lin) on the test points
Theory (NTK parameterization): all four scale like n^(-1/2) (Jacot et al. 2018, Lee et al. 2019);
`fit_loglog_slope` estimates the exponent with a 95% confidence interval.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import _validate as V
from .dynamics import max_learning_rate, train
from .empirical import empirical_ntk
from .infinite import infinite_kernel
from .nets import mlp

METRICS = ("kernel_error", "weight_change", "kernel_change", "lin_gap")


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


def kernel_error(net, params, x, k_inf=None) -> float:
    """|Theta_emp - Theta_inf|_F / |Theta_inf|_F on inputs x."""
    if k_inf is None:
        k_inf = infinite_kernel(net, x, get="ntk").ntk
    th = empirical_ntk(net, params, x)
    return float(jnp.linalg.norm(th - k_inf) / jnp.linalg.norm(k_inf))


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


def width_sweep(widths: Sequence[int], seeds: Sequence[int] = (0, 1, 2), *, x_train, y_train=None,
                x_test=None, depth: int = 2, activation="relu", W_std: float = 1.5,
                b_std: float = 0.05, parameterization: str = "ntk", out_dim: Optional[int] = None,
                metrics: Sequence[str] = METRICS, learning_rate: Optional[float] = None,
                steps: int = 200, optimizer="sgd",
                progress: Optional[Callable[[int, int], None]] = None) -> SweepResult:
    """Measure lazy-regime diagnostics over widths x seeds (see module docstring).

    `learning_rate=None` uses half the largest stable rate of the infinite-width NTK, the same for
    every width. Training metrics need y_train; lin_gap needs x_test (defaults to x_train).
    """
    widths = [V.check_positive_int(w, "width") for w in widths]
    if not widths:
        raise ValueError("widths is empty; pass at least one width.")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty; pass at least one seed.")
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"Unknown metrics {sorted(unknown)}; choose from {METRICS}.")
    x_train = V.check_inputs(x_train, "x_train")
    need_train = any(m in metrics for m in ("weight_change", "kernel_change", "lin_gap"))
    if need_train and y_train is None:
        raise ValueError("y_train is needed for the training metrics (weight/kernel change, lin_gap).")
    if y_train is not None:
        y_train = np.asarray(y_train)
        if y_train.ndim == 1:
            y_train = y_train[:, None]
        y_train = V.as_jax(y_train)
    k = out_dim or (y_train.shape[1] if y_train is not None else 1)
    x_eval = x_train if x_test is None else V.check_inputs(x_test, "x_test")
    ref = mlp([widths[0]] * depth, k, activation, W_std, b_std, parameterization)
    k_inf = infinite_kernel(ref, x_train, get="ntk").ntk if parameterization == "ntk" else None
    lr = learning_rate
    if need_train and lr is None:
        kk = k_inf if k_inf is not None else infinite_kernel(ref, x_train, get="ntk").ntk
        lr = 0.5 * max_learning_rate(kk, y_train.size)
    records = []
    total, done = len(widths) * len(seeds), 0
    for w in widths:
        net = mlp([w] * depth, k, activation, W_std, b_std, parameterization)
        kinf_w = k_inf if k_inf is not None else infinite_kernel(net, x_train, get="ntk").ntk
        for s in seeds:
            params = net.init(jax.random.PRNGKey(s), x_train.shape[1], dtype=x_train.dtype)
            rec = {"width": w, "seed": s}
            if "kernel_error" in metrics:
                rec["kernel_error"] = kernel_error(net, params, x_train, kinf_w)
            if need_train:
                res = train(net, params, x_train, y_train, x_eval, None, learning_rate=lr,
                            steps=steps, optimizer=optimizer, record_steps=[steps],
                            track_kernel="kernel_change" in metrics, check_stability=False)
                if res.diverged:
                    rec.update({m: float("nan") for m in metrics if m != "kernel_error"})
                    rec["diverged"] = True
                else:
                    rec["diverged"] = False
                    if "weight_change" in metrics:
                        rec["weight_change"] = float(res.weight_change[-1])
                    if "kernel_change" in metrics:
                        rec["kernel_change"] = float(res.kernel_change[-1])
                    if "lin_gap" in metrics:
                        f, fl = res.f_test[-1], res.lin_f_test[-1]
                        rec["lin_gap"] = float(np.sqrt(np.mean((f - fl) ** 2))
                                               / max(np.sqrt(np.mean(fl**2)), 1e-30))
            records.append(rec)
            done += 1
            if progress is not None:
                progress(done, total)
    fits = {}
    for m in metrics:
        xs = [r["width"] for r in records if m in r]
        ys = [r[m] for r in records if m in r]
        fits[m] = fit_loglog_slope(xs, ys)
    config = dict(widths=widths, seeds=seeds, depth=depth, activation=str(activation), W_std=W_std,
                  b_std=b_std, parameterization=parameterization, learning_rate=lr, steps=steps,
                  optimizer=str(optimizer))
    return SweepResult(records, fits, config)
