"""Jacot et al. 2018, Fig. 1: the NTK on the unit circle at init and after training vs Θ∞."""
from __future__ import annotations

import math
import time

import numpy as np

from ._base import Progress, Tracker, pick, register, result, seed_list, stable_lr, work
from .text import jacot_fig1_labels


def _one_width(net, w, seeds, ds, x0, k_inf, lr, steps, tr):
    """Θ(x0, grid) at init and after training for each seed; deviation/change numbers."""
    import jax

    from ...dynamics import train
    from ...empirical import empirical_ntk

    peak = float(np.max(np.abs(k_inf)))
    curves, dev0, devT, chg, losses = [], [], [], [], []
    for s in seeds:
        params = net.init(jax.random.PRNGKey(s), 2, dtype=ds.x_train.dtype)
        th0 = np.asarray(empirical_ntk(net, params, x0, ds.x_test))[0]
        res = train(net, params, ds.x_train, ds.y_train, learning_rate=lr, steps=steps,
                    record_steps=[steps], linearized=False, check_stability=False)
        if res.diverged:
            raise RuntimeError(f"width {w}, seed {s}: {res.message}")
        thT = np.asarray(empirical_ntk(net, res.params, x0, ds.x_test))[0]
        losses.append(float(res.loss_train[-1]))
        del params, res  # free memory before the next (possibly very wide) network
        curves.append(dict(width=w, seed=s, init=th0, trained=thT))
        dev0.append(np.max(np.abs(th0 - k_inf)) / peak)
        devT.append(np.max(np.abs(thT - k_inf)) / peak)
        chg.append(np.max(np.abs(thT - th0)) / peak)
        tr(f"width {w}, seed {s}", work(net, 2, steps))
    return curves, {f"dev_init_w{w}": float(np.max(dev0)), f"dev_trained_w{w}": float(np.max(devT)),
                    f"change_w{w}": float(np.mean(chg)), f"final_loss_w{w}": float(np.mean(losses))}


@register
def jacot_fig1(fast: bool = False, widths=None, seeds=None, depth: int = 3, n_angles=None,
               n_train: int = 4, train_time=None, learning_rate=None, W_std: float = 1.0,
               b_std: float = 0.1, data_seed: int = 0, progress: Progress = None):
    """NTK Θ(x₀, x), x₀ = (1, 0), x = (cos γ, sin γ): finite widths at t = 0 and after training.

    Paper setting: ReLU, depth L = 4 in the paper's notation (layers 0..L, i.e. 3 hidden layers +
    readout: `depth=3` here), NTK parameterization, bias scale β = 0.1, widths 500 and 10000,
    10 initializations each. Training: full-batch GD on `n_train` points of the unit circle
    (target sin 2γ) up to gradient-flow time `train_time` (default 200) with learning_rate
    (default: half the largest stable rate of the infinite-width NTK).
    fast=True: widths (100, 1000), 2 seeds, 41 angles, train_time 50.
    """
    from ... import data
    from ...figures.presets import kernel_on_circle
    from ...infinite import infinite_kernel
    from ...nets import mlp

    t0 = time.time()
    widths = tuple(int(w) for w in pick(widths, (500, 10000), (100, 1000), fast))
    seeds = seed_list(pick(seeds, 10, 2, fast))
    n_angles = int(pick(n_angles, 100, 41, fast))
    train_time = float(pick(train_time, 200.0, 50.0, fast))
    ds = data.unit_circle(n_train, n_angles, seed=data_seed)
    gamma = np.linspace(-np.pi, np.pi, n_angles)
    x0 = np.array([[1.0, 0.0]], dtype=ds.x_train.dtype)
    nets = {w: mlp([w] * depth, 1, "relu", W_std, b_std, "ntk") for w in widths}
    k_inf = np.asarray(infinite_kernel(nets[widths[0]], x0, ds.x_test, get="ntk").ntk)[0]
    lr = float(learning_rate) if learning_rate is not None else stable_lr(nets[widths[0]], ds.x_train)
    steps = max(1, int(math.ceil(train_time / lr)))
    tr = Tracker(progress, sum(len(seeds) * work(nets[w], 2, steps) for w in widths))
    tr.start("initialising")
    curves, numbers = [], {}
    for w in widths:
        c, nums = _one_width(nets[w], w, seeds, ds, x0, k_inf, lr, steps, tr)
        curves += c
        numbers.update(nums)
    lo, hi = widths[0], widths[-1]
    if lo != hi:
        numbers["dev_ratio"] = numbers[f"dev_init_w{lo}"] / numbers[f"dev_init_w{hi}"]
        numbers["dev_ratio_theory"] = math.sqrt(hi / lo)
    fig = kernel_on_circle(gamma, k_inf, curves, t_label=f"t={lr * steps:.3g}")
    config = dict(fast=fast, widths=list(widths), seeds=seeds, depth=depth, activation="relu",
                  W_std=W_std, b_std=b_std, parameterization="ntk", n_angles=n_angles,
                  n_train=n_train, learning_rate=lr, steps=steps, train_time=lr * steps,
                  data_seed=data_seed, dtype=str(ds.x_train.dtype))
    data_ = dict(gamma=gamma, k_inf=k_inf, curves=curves, x_train=ds.x_train, y_train=ds.y_train)
    return result("jacot_fig1", {"kernel": fig}, numbers, config,
                  jacot_fig1_labels(widths, lr * steps), data_, t0)
