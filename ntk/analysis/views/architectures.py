"""Architectures: infinite-width NNGP/NTK of an MLP, CNNs with and without pooling and a ResNet
on the same digits, their spectra, kernel-regression accuracy at t = ∞ and the convergence of
each architecture's empirical NTK to its limit."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from ..architectures import (ARCHITECTURES, FLOP_BUDGET, build, check_architecture, check_cost, cost,
                             kernel_comparison, kernel_errors, num_params)
from ..progress import as_progress
from ..sweeps import fit_loglog_slope

DEFAULT_ARCHITECTURES = ("mlp", "cnn", "cnn_pool", "resnet")


def _check(architectures, n_train, n_test, widths, n_seeds, n_conv):
    archs = [check_architecture(a) for a in architectures]
    if not archs:
        raise ValueError("Pick at least one architecture.")
    if len(set(archs)) != len(archs):
        raise ValueError(f"architectures contains duplicates: {archs}.")
    for v, what in ((n_train, "n_train"), (n_test, "n_test"), (n_seeds, "n_seeds"),
                    (n_conv, "n_conv")):
        if int(v) < 1:
            raise ValueError(f"{what} must be a positive integer, got {v}.")
    if int(n_train) < 10:
        raise ValueError(f"Use at least 10 training digits (one per class), got {n_train}.")
    ws = sorted({int(w) for w in widths})
    if len(ws) < 2 or ws[0] < 1:
        raise ValueError(f"The convergence plot needs at least two positive widths, got {list(widths)}.")
    return archs, ws


def _budget(archs, depth, ws, n_all, n_train, n_conv, n_seeds, flop_budget, memory_budget):
    """Refuse the configuration before computing when its estimated cost is above the budget."""
    flops, mem = 0.0, 0.0
    for a in archs:
        c_inf = cost(a, 1, depth, n_all, n_train)
        flops += c_inf["inf_flops"]
        mem = max(mem, c_inf["inf_bytes"] * min(1.0, 64 * 64 / max(n_all * n_train, 1)))
        for w in ws:
            c = cost(a, w, depth, n_conv, n_conv)
            flops += n_seeds * c["emp_flops"]
            mem = max(mem, c["emp_bytes"])
    check_cost(flops, mem, f"This comparison ({len(archs)} architectures, {n_all} digits, widths "
               f"up to {ws[-1]})", "Use fewer digits, fewer or narrower widths, or fewer "
               "architectures.", flop_budget, memory_budget)
    return flops, mem


def _sorted_digits(n_train, n_test, seed, max_shift):
    """Digits (images) with the training set sorted by class (for the heatmaps)."""
    from ... import data

    d = data.digits_images(n_train, n_test, seed=seed, max_shift=max_shift)
    order = np.argsort(d.y_train.argmax(1), kind="stable")
    return d.x_train[order], d.y_train[order], d.x_test, d.y_test


def _one_architecture(a, arch_kw, x_train, y_train, x_test, y_test, conv_idx, ws, seeds, prog):
    """Kernels, spectra, accuracies and the convergence sweep of architecture `a`."""
    res = dict(name=ARCHITECTURES[a], **kernel_comparison(a, arch_kw, x_train, y_train, x_test, y_test))
    prog(f"{a}: infinite-width kernels")
    ntk_conv = res["ntk"][np.ix_(conv_idx, conv_idx)]  # Θ∞ on the convergence digits
    err = kernel_errors(lambda w: build(a, w, **arch_kw), ws, seeds, x_train[conv_idx], ntk_conv,
                        progress=lambda d, t, what: prog(f"{a}: {what}"))
    fit = fit_loglog_slope(np.repeat(ws, len(seeds)), err.ravel())
    res.update(errors=err, mean=err.mean(1), std=err.std(1), slope=fit["slope"],
               intercept=fit["intercept"], ci_low=fit["ci_low"], ci_high=fit["ci_high"],
               r2=fit["r2"], params=np.asarray([num_params(a, w, arch_kw["depth"]) for w in ws]))
    prog(f"{a}: empirical NTK vs width")
    return res


def architectures_data(architectures: Sequence[str] = DEFAULT_ARCHITECTURES, n_train: int = 100,
                       n_test: int = 100, seed: int = 0, max_shift: int = 1, depth: int = 2,
                       activation: str = "relu",
                       alpha: float = 0.1, W_std: float = 1.5, b_std: float = 0.05,
                       widths: Sequence[int] = (16, 64, 256), n_seeds: int = 4, n_conv: int = 12,
                       flop_budget: Optional[float] = FLOP_BUDGET,
                       memory_budget: Optional[float] = None,
                       progress: Optional[Callable] = None) -> dict:
    """Compare architectures on the same digits (8x8 images, 10 classes, standardized, each
    translated by a random offset of up to `max_shift` pixels; 0 = the original digits).

    For each architecture: infinite-width NNGP K and NTK Θ on the `n_train` training digits
    (sorted by class), their eigenvalues, and the test accuracy of kernel regression at t = ∞
    (mean K_* K^-1 Y, one-hot targets, argmax) on `n_test` digits; then the relative error
    ‖Θ_emp − Θ∞‖_F / ‖Θ∞‖_F of nets of each of `widths` (channels for convolutions) × `n_seeds`
    on the first `n_conv` training digits, with a log-log fit (slope, 95 % interval).
    Configurations above `flop_budget` are refused before computing (ValueError with the estimate).
    """
    archs, ws = _check(architectures, n_train, n_test, widths, n_seeds, n_conv)
    n_train, n_test, n_seeds, n_conv = int(n_train), int(n_test), int(n_seeds), int(n_conv)
    depth = int(depth)
    flops, mem = _budget(archs, depth, ws, n_train + n_test, n_train, min(n_conv, n_train),
                         n_seeds, flop_budget, memory_budget)
    x_train, y_train, x_test, y_test = _sorted_digits(n_train, n_test, seed, int(max_shift))
    conv_idx = np.unique(np.linspace(0, n_train - 1, min(n_conv, n_train)).round().astype(int))
    arch_kw = dict(depth=depth, activation=activation, W_std=float(W_std), b_std=float(b_std),
                   alpha=float(alpha))
    p = as_progress(progress)
    total = len(archs) * (2 + len(ws) * n_seeds)
    state = {"done": 0}

    def prog(label):
        state["done"] += 1
        if p is not None:
            p(min(state["done"], total), total, label)

    per = {a: _one_architecture(a, arch_kw, x_train, y_train, x_test, y_test, conv_idx, ws,
                                range(n_seeds), prog) for a in archs}
    return dict(architectures=archs, per=per, labels=y_train.argmax(1), widths=np.asarray(ws),
                seeds=np.arange(n_seeds), n_train=n_train, n_test=n_test, n_conv=len(conv_idx),
                depth=depth, activation=activation, max_shift=int(max_shift),
                estimated_flops=float(flops),
                estimated_bytes=float(mem))


def architectures_summary(d: dict) -> str:
    """The page's lecture point in words, built from the measured accuracies of `d`."""
    per, archs = d["per"], d["architectures"]

    def acc(a):
        return f"{ARCHITECTURES[a]} {100 * per[a]['acc_ntk']:.0f} % (NNGP {100 * per[a]['acc_nngp']:.0f} %)"

    best = max(archs, key=lambda a: per[a]["acc_ntk"])
    worst = min(archs, key=lambda a: per[a]["acc_ntk"])
    where = ("the original digits" if d["max_shift"] == 0 else
             f"digits shifted at random by up to {d['max_shift']} pixel{'s' * (d['max_shift'] > 1)}")
    text = (f"Test accuracy of the NTK at t = ∞ on {where} ({d['n_train']} training, {d['n_test']} "
            f"test digits): " + "; ".join(acc(a) for a in archs) + ". ")
    gap = 100 * (per[best]["acc_ntk"] - per[worst]["acc_ntk"])
    noise = 100 * np.sqrt(0.25 / d["n_test"])  # binomial standard error at 50 %, an upper bound
    if gap <= 2 * noise:
        text += (f"The spread ({gap:.0f} points) is within about twice the test-set noise "
                 f"(±{noise:.0f} points at {d['n_test']} digits): at this size the kernels tie.")
    else:
        text += f"Best: {ARCHITECTURES[best]}, {gap:.0f} points above {ARCHITECTURES[worst]}."
    return text
