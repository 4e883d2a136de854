"""Lee et al. 2019: lazy-regime diagnostics vs width and a network vs its linearization."""
from __future__ import annotations

import time

import numpy as np

from .. import sweeps
from ..metrics import lin_gap_curve
from ._base import Progress, Tracker, pick, register, result, seed_list, work
from .text import lee2019_labels


def _dynamics(net, ds, lr, steps, dyn_points):
    """The network and its linearization trained side by side; outputs on `dyn_points` tests."""
    import jax

    from ...dynamics import train

    params = net.init(jax.random.PRNGKey(0), ds.x_train.shape[1], dtype=ds.x_train.dtype)
    xt, yt = ds.x_test[:dyn_points], ds.y_test[:dyn_points]
    res = train(net, params, ds.x_train, ds.y_train, xt, yt, learning_rate=lr, steps=steps,
                record_every=max(1, steps // 60), linearized=True, check_stability=False)
    if res.diverged:
        raise RuntimeError(res.message)
    return res


def _sweep_numbers(sweep, widths) -> dict:
    numbers = {}
    for m, fit in sweep.fits.items():
        numbers[f"slope_{m}"] = fit["slope"]
        numbers[f"slope_{m}_ci_low"] = fit["ci_low"]
        numbers[f"slope_{m}_ci_high"] = fit["ci_high"]
    summ = sweep.summary()
    for m in ("weight_change", "kernel_change"):
        for w in (widths[0], widths[-1]):
            numbers[f"{m}_w{w}"] = summ[w][m][0]
    return numbers


@register
def lee2019(fast: bool = False, widths=None, seeds=None, depth: int = 2, activation="relu",
            W_std: float = 1.5, b_std: float = 0.05, n_train=None, steps=None, dyn_width=None,
            dyn_points: int = 4, data_seed: int = 0, progress: Progress = None):
    """Width sweep of the lazy-regime diagnostics (ntk.width_sweep) and actual-vs-linear dynamics.

    Data: scikit-learn digits 0 vs 1 (64-d, standardized, targets ±1), a small image task in the
    spirit of the paper's CIFAR-10 experiments. Learning rate: half the largest stable rate of the
    infinite-width NTK, the same for every width. fast=True: widths 32..256, 2 seeds, 16 points,
    60 steps, dynamics at width 256.
    """
    from ... import data
    from ...figures.presets import linearization_dynamics, loglog_metrics
    from ...nets import mlp

    t0 = time.time()
    widths = [int(w) for w in pick(widths, (64, 128, 256, 512, 1024, 2048, 4096),
                                   (32, 64, 128, 256), fast)]
    seeds = seed_list(pick(seeds, 3, 2, fast))
    n_train, steps = int(pick(n_train, 64, 16, fast)), int(pick(steps, 300, 60, fast))
    dyn_width = int(pick(dyn_width, 1024, 256, fast))
    ds = data.digits(n_train, max(dyn_points, 8), seed=data_seed)
    # Progress in units of work: the sweep runs widths in order, every seed of a width in turn.
    unit = [work(mlp([w] * depth, 1, activation, W_std, b_std, "ntk"), ds.x_train.shape[1], steps)
            for w in widths for _ in seeds]
    done_at = np.concatenate([[0], np.cumsum(unit)])
    dyn_unit = work(mlp([dyn_width] * depth, 1, activation, W_std, b_std, "ntk"), ds.x_train.shape[1],
                    steps)
    tr = Tracker(progress, int(done_at[-1]) + dyn_unit + 1)
    tr.start("width sweep")
    sweep = sweeps.width_sweep(widths, seeds, x_train=ds.x_train, y_train=ds.y_train,
                               x_test=ds.x_test, depth=depth, activation=activation, W_std=W_std,
                               b_std=b_std, steps=steps,
                               progress=lambda d, t, lab: tr.at(int(done_at[d]), f"width sweep: {lab}"))
    lr = float(sweep.config["learning_rate"])
    tr.start(f"training the network (width {dyn_width}) and its linearization")
    res = _dynamics(mlp([dyn_width] * depth, 1, activation, W_std, b_std, "ntk"), ds, lr, steps,
                    dyn_points)
    tr("done", dyn_unit + 1)
    f, fl = res.f_test[..., 0], res.lin_f_test[..., 0]
    gap_t = lin_gap_curve(f, fl)
    numbers = _sweep_numbers(sweep, widths)
    numbers.update(lin_gap_max=float(np.max(gap_t)), final_loss=float(res.loss_train[-1]),
                   final_loss_lin=float(res.lin_loss_train[-1]))
    table = sweep.table()
    figs = {"scaling": loglog_metrics(table, sweep.fits, list(sweep.fits)),
            "dynamics": linearization_dynamics(res.steps, f, fl, res.loss_train, res.lin_loss_train,
                                               [f"test digit {j + 1}" for j in range(f.shape[1])])}
    config = dict(fast=fast, widths=widths, seeds=seeds, depth=depth, activation=str(activation),
                  W_std=W_std, b_std=b_std, parameterization="ntk", n_train=n_train,
                  dataset="digits 0 vs 1", steps=steps, learning_rate=lr, dyn_width=dyn_width,
                  dyn_points=dyn_points, data_seed=data_seed, dtype=str(ds.x_train.dtype))
    data_ = dict(table=table, fits=sweep.fits, steps=res.steps, f=f, f_lin=fl, gap=gap_t,
                 loss=res.loss_train, loss_lin=res.lin_loss_train)
    labels = lee2019_labels(list(sweep.fits), widths, dyn_width, dyn_points)
    return result("lee2019", figs, numbers, config, labels, data_, t0)
