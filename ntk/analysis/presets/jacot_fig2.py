"""Jacot et al. 2018, Fig. 2: quantiles of trained finite nets vs the infinite-width GP."""
from __future__ import annotations

import math
import time

import numpy as np

from ..ensemble import train_ensemble
from ._base import Progress, Tracker, pick, register, result, rms, stable_lr, work
from .text import jacot_fig2_labels

Z90 = 1.2815515655446004  # standard normal 90 % quantile


def _gp(net, ds, lr, steps):
    """Mean and std over the test grid of the infinite-width GP of trained nets at time lr·steps."""
    from ...dynamics import ensemble_mse
    from ...infinite import infinite_kernel

    ktt = infinite_kernel(net, ds.x_train)
    kst = infinite_kernel(net, ds.x_test, ds.x_train)
    kss = infinite_kernel(net, ds.x_test, get="nngp").nngp
    mean, cov = ensemble_mse(ktt.nngp, ktt.ntk, ds.y_train, kst.nngp, kst.ntk, kss, t=steps,
                             learning_rate=lr, get="ntk")
    return np.asarray(mean)[:, 0], np.sqrt(np.clip(np.diag(np.asarray(cov)), 0, None))


def _width_numbers(w, f, f_train, y_train, gp_mean, gp_std):
    q10, q50, q90 = np.percentile(f, [10, 50, 90], axis=0)
    return (q10, q50, q90), {
        f"median_rms_w{w}": rms(q50 - gp_mean),
        f"quantile_rms_w{w}": rms(np.concatenate([q10 - (gp_mean - Z90 * gp_std),
                                                   q90 - (gp_mean + Z90 * gp_std)])),
        f"std_ratio_w{w}": rms(f.std(0)) / rms(gp_std),
        f"train_rmse_w{w}": rms(f_train - y_train[:, 0])}


@register
def jacot_fig2(fast: bool = False, widths=None, n_nets=None, depth: int = 3, n_train: int = 4,
               n_angles=None, train_time=None, learning_rate=None, W_std: float = 1.0,
               b_std: float = 0.1, data_seed: int = 0, chunk=None, progress: Progress = None):
    """Distribution of trained finite nets vs the infinite-width GP (ntk.ensemble_mse, get='ntk').

    Paper setting: depth-4 (3 hidden layers) ReLU nets of widths 50 and 1000, many random
    initializations trained on 4 points of the unit circle; percentiles 10/50/90 of f compared
    with the limiting Gaussian. Here the GP is evaluated at the same gradient-flow time as the
    trained nets (train_time, default 1000). fast=True: widths (50, 200), 16 nets, 41 angles,
    train_time 200.
    """
    from ... import data
    from ...figures.presets import function_quantiles
    from ...nets import mlp

    t0 = time.time()
    widths = tuple(int(w) for w in pick(widths, (50, 1000), (50, 200), fast))
    n_nets = int(pick(n_nets, 100, 16, fast))
    n_angles = int(pick(n_angles, 100, 41, fast))
    train_time = float(pick(train_time, 1000.0, 200.0, fast))
    ds = data.unit_circle(n_train, n_angles, seed=data_seed)
    gamma = np.linspace(-np.pi, np.pi, n_angles)
    g_train = np.arctan2(ds.x_train[:, 1], ds.x_train[:, 0])
    nets = {w: mlp([w] * depth, 1, "relu", W_std, b_std, "ntk") for w in widths}
    lr = float(learning_rate) if learning_rate is not None else stable_lr(nets[widths[0]], ds.x_train)
    steps = max(1, int(math.ceil(train_time / lr)))
    gp_mean, gp_std = _gp(nets[widths[0]], ds, lr, steps)
    unit = {w: work(nets[w], 2, steps) for w in widths}
    start = {w: n_nets * sum(unit[v] for v in widths[:i]) for i, w in enumerate(widths)}
    tr = Tracker(progress, n_nets * sum(unit.values()))
    tr.start("initialising")
    quant, numbers, finals = {}, {}, {}
    for i, w in enumerate(widths):
        out = train_ensemble(nets[w], range(n_nets), ds.x_train, ds.y_train, ds.x_test,
                             learning_rate=lr, steps=steps, chunk=chunk,
                             progress=lambda d, _t, _l, w=w: tr.at(start[w] + d * unit[w],
                                                                          f"width {w}: {d}/{n_nets} nets"))
        finals[w] = out["f_test"][:, -1, :]  # (E, m)
        quant[w], nums = _width_numbers(w, finals[w], out["f_train"][:, -1, :], ds.y_train,
                                        gp_mean, gp_std)
        numbers.update(nums)
    numbers["gp_std_rms"] = rms(gp_std)
    fig = function_quantiles(gamma, g_train, ds.y_train, gp_mean, gp_std, quant, Z90)
    config = dict(fast=fast, widths=list(widths), n_nets=n_nets, depth=depth, activation="relu",
                  W_std=W_std, b_std=b_std, parameterization="ntk", n_train=n_train,
                  n_angles=n_angles, learning_rate=lr, steps=steps, train_time=lr * steps,
                  data_seed=data_seed, dtype=str(ds.x_train.dtype))
    data_ = dict(gamma=gamma, gamma_train=g_train, y_train=ds.y_train, gp_mean=gp_mean,
                 gp_std=gp_std, quantiles=quant, f_final=finals)
    return result("jacot_fig2", {"functions": fig}, numbers, config, jacot_fig2_labels(widths),
                  data_, t0)
