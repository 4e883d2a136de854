"""Lazy regime: relative weight/kernel change and the linearization gap vs width, kernel drift."""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ..progress import as_progress
from ... import _health as H
from ..sweeps import _fit_metric, log_widths, width_sweep
from ._common import activation_spec, infinite_net, make_net

LAZY_METRICS = ("weight_change", "kernel_change", "lin_gap")


def _drift(widths, arch, ds, lr, steps):
    """Kernel and weight change over training for a narrow and a wide net (dict per width)."""
    import jax

    from ...dynamics import train

    rsteps = np.unique(np.round(np.geomspace(1, int(steps), 15)).astype(int))
    for w in widths:
        net = make_net(w, *arch, "ntk")
        p = net.init(jax.random.PRNGKey(0), 2, dtype=ds.x_train.dtype)
        # Same arguments as the sweep's runs (x_test included), so the compiled programs are shared.
        res = train(net, p, ds.x_train, ds.y_train, ds.x_test, optimizer="sgd",
                    learning_rate=lr, steps=int(steps), record_steps=rsteps, track_kernel=True,
                    check_stability=False)
        yield w, dict(steps=res.steps, kernel_change=res.kernel_change,
                      weight_change=res.weight_change, loss_train=res.loss_train,
                      diverged=bool(res.diverged), message=res.message,
                      **_settling(res.steps, res.kernel_change, res.loss_train))


def _settling(steps, kernel_change, loss):
    """When the kernel stops moving: the first recorded step by which it has made 90 % of its
    final change (`settle_step`), and the training loss then relative to the start
    (`settle_loss_ratio`): the kernel moves while the residual is large."""
    kc, loss = np.asarray(kernel_change, float), np.asarray(loss, float)
    if len(kc) < 2 or not np.all(np.isfinite(kc)) or kc[-1] <= 0:
        return dict(settle_step=None, settle_loss_ratio=float("nan"))
    i = int(np.argmax(kc >= 0.9 * kc[-1]))
    return dict(settle_step=int(steps[i]), settle_loss_ratio=float(loss[i] / loss[0]))


def _fit_or_none(records, m, lr) -> dict:
    """The log-log fit of metric m over the runs that did not diverge; when fewer than two widths
    are left, a fit whose entries are None (the page says why: `diverged_widths`)."""
    try:
        return {k: float(v) for k, v in _fit_metric(records, m, lr).items()}
    except H.NonFiniteError:
        return dict(slope=None, intercept=None, stderr=None, ci_low=None, ci_high=None, r2=None)


def lazy_data(w_min: int = 32, w_max: int = 1024, n_widths: int = 4, n_seeds: int = 2,
              depth: int = 2, activation: str = "relu", alpha: float = 0.1, W_std: float = 1.5,
              b_std: float = 0.05, n_train: int = 8, steps: int = 100, lr_fraction: float = 0.5,
              narrow: int = 32, wide: int = 1024, progress: Optional[Callable] = None) -> dict:
    """Relative weight/kernel change after training and the lin gap vs width (W, S) with log-log
    fits, plus the kernel drift over training of a narrow and a wide net.

    Data: `n_train` points on the unit circle with target sin(2γ). Learning rate
    `lr_fraction` × 2N/λ_max(Θ∞), the same for all widths.
    """
    from ... import data
    from ...dynamics import max_learning_rate
    from ...infinite import infinite_kernel

    widths = log_widths(w_min, w_max, n_widths)
    arch = (depth, activation, alpha, W_std, b_std)
    ds = data.unit_circle(n_train=int(n_train), n_test=64, seed=0)
    lr_max = max_learning_rate(infinite_kernel(infinite_net(*arch, "ntk", widths[0]), ds.x_train,
                                               get="ntk").ntk, ds.y_train.size)
    lr = float(lr_fraction) * lr_max
    prog = as_progress(progress)
    n_sweep = len(widths) * int(n_seeds)
    sw = width_sweep(widths, seeds=range(int(n_seeds)), x_train=ds.x_train, y_train=ds.y_train,
                     x_test=ds.x_test, depth=int(depth), activation=activation_spec(activation, alpha),
                     W_std=W_std, b_std=b_std, metrics=LAZY_METRICS, learning_rate=lr,
                     steps=int(steps), optimizer="sgd", fit=False,
                     progress=lambda done, _t, label: prog(done, n_sweep + 2, label))
    t = sw.table()
    out = dict(widths=np.asarray(widths), n_seeds=int(n_seeds), learning_rate=lr,
               lr_max=float(lr_max), steps=int(steps), fits={})
    for m in LAZY_METRICS:
        out[m] = np.asarray(t[m], float).reshape(len(widths), int(n_seeds))
        out["fits"][m] = _fit_or_none(sw.records, m, lr)
    out["drift"] = {}
    for j, (w, run) in enumerate(_drift((int(narrow), int(wide)), arch, ds, lr, steps)):
        out["drift"][w] = run
        prog(n_sweep + j + 1, n_sweep + 2, f"kernel drift, width {w}")
    div = np.asarray(t.get("diverged", np.zeros(len(widths) * int(n_seeds), bool)), bool)
    div = div.reshape(len(widths), int(n_seeds))
    out["diverged"] = bool(np.any(div))
    out["diverged_widths"] = [int(w) for w, dv in zip(widths, div) if np.all(dv)]
    return out
