"""Training dynamics: the network and its linearization per width, closed forms with Θ_emp and
the infinite-width ensemble (mean ± 2σ)."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from ..metrics import lin_gap_curve
from ..progress import scaled
from ._common import infinite_net, make_net


def training_dataset(dataset: str, n_train: int, seed: int = 0, noise: float = 0.05,
                     grid: int = 30):
    """(x_train, y_train, x_test, y_test, kind) for the training page: sine (1-D) or 2-D sets."""
    from ... import data

    if dataset == "sine":
        d = data.sine_1d(n_train=n_train, n_test=120, noise=noise, seed=seed)
        return d.x_train, d.y_train, d.x_test, d.y_test, "1d"
    if dataset == "circle":
        d = data.unit_circle(n_train=n_train, n_test=120, noise=noise, seed=seed)
        return d.x_train, d.y_train, d.x_test, d.y_test, "circle"
    if dataset in ("moons", "spirals"):
        d = data.load(dataset, n_train=n_train, n_test=1, seed=seed)
        lin = np.linspace(-1.6, 1.6, grid, dtype=np.float32)
        gx, gy = np.meshgrid(lin, lin)
        xt = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)
        return d.x_train, d.y_train, xt, None, "2d"
    raise ValueError(f"Unknown dataset {dataset!r}; choose 'sine', 'circle', 'moons' or 'spirals'.")


def _check(widths, steps):
    widths = [int(w) for w in widths]
    if not widths:
        raise ValueError("Pick at least one width.")
    for w in widths:
        if w < 1:
            raise ValueError(f"Widths must be positive integers, got {w}.")
    if int(steps) < 1:
        raise ValueError(f"steps must be at least 1, got {int(steps)}.")
    return widths, int(steps)


def _infinite_width(inet, xtr, ytr, xte, t, lr_fraction, optimizer_name, limit=None):
    """Θ∞ on [train; test] (one compiled program), the learning rate and the ensemble mean/std.
    `limit(x) -> (nngp, ntk)` replaces `infinite_kernel(inet, x)` (other architectures)."""
    from ...dynamics import ensemble_mse, max_learning_rate
    from ...infinite import Kernel, infinite_kernel

    n = xtr.shape[0]
    x_all = np.concatenate([np.asarray(xtr), np.asarray(xte)])
    if limit is None:
        k_all = infinite_kernel(inet, x_all)
        nngp, ntk_all = np.asarray(k_all.nngp), np.asarray(k_all.ntk)
    else:
        nngp, ntk_all = (np.asarray(k, x_all.dtype) for k in limit(x_all))
    k_tr = Kernel(nngp=nngp[:n, :n], ntk=ntk_all[:n, :n])
    k_te = Kernel(nngp=nngp[n:, :n], ntk=ntk_all[n:, :n])
    lr_max = max_learning_rate(k_tr.ntk, ytr.size)
    if not np.isfinite(lr_max):
        raise ValueError("The NTK on the training set is not finite; lower W_std or the depth.")
    lr = float(lr_fraction) * (lr_max if optimizer_name != "adam" else 0.01)
    mean, cov = ensemble_mse(k_tr.nngp, k_tr.ntk, ytr, k_te.nngp, k_te.ntk, nngp[n:, n:], t=t,
                             learning_rate=lr)
    std = np.sqrt(np.clip(np.diagonal(np.asarray(cov), axis1=1, axis2=2), 0, None))
    return x_all, lr, lr_max, np.asarray(mean)[..., 0], std


def _train_width(net, params, xtr, ytr, xte, yte, x_all, lr, rsteps, optimizer_name, prog,
                 emp=None):
    """One width: network + linearization trajectories, closed form with Θ_emp, the gap.
    `net` is an `ntk.mlp` or an apply function; `emp(params, x)` replaces `empirical_ntk`."""
    from ...dynamics import gradient_descent_mse, max_learning_rate, train
    from ...empirical import empirical_ntk
    from ...nets import as_apply_fn

    n, t = xtr.shape[0], rsteps.astype(np.float64)
    res = train(net, params, xtr, ytr, xte, yte, optimizer=optimizer_name, learning_rate=lr,
                steps=int(rsteps[-1]), record_steps=rsteps, check_stability=False, progress=prog)
    run = dict(diverged=bool(res.diverged), message=res.message, steps=res.steps,
               loss_train=res.loss_train, loss_test=res.loss_test,
               lin_loss_train=res.lin_loss_train, lin_loss_test=res.lin_loss_test,
               f_test=res.f_test[..., 0], lin_f_test=res.lin_f_test[..., 0])
    th_all = np.asarray(empirical_ntk(net, params, x_all) if emp is None else emp(params, x_all))
    th_tr, th_te = th_all[:n, :n], th_all[n:, :n]
    run["lr_max_emp"] = float(max_learning_rate(th_tr, ytr.size))
    if not res.diverged:
        f0_all = np.asarray(as_apply_fn(net)[0](params, x_all))
        pred = gradient_descent_mse(th_tr, ytr, learning_rate=lr, discrete=optimizer_name == "sgd")
        _, fte = pred(t=t, fx_train_0=f0_all[:n], fx_test_0=f0_all[n:], k_test_train=th_te)
        run["closed_f_test"] = np.asarray(fte)[..., 0]
        run["gap"] = lin_gap_curve(run["f_test"], run["lin_f_test"])
    return run


def training_data(widths: Sequence[int] = (32, 512), depth: int = 2, activation: str = "erf",
                  alpha: float = 0.1, W_std: float = 1.5, b_std: float = 0.1,
                  parameterization: str = "ntk", dataset: str = "sine", n_train: int = 8,
                  noise: float = 0.05, optimizer_name: str = "sgd", lr_fraction: float = 0.5,
                  steps: int = 300, n_frames: int = 21, seed: int = 0, architecture: str = "mlp",
                  progress: Optional[Callable] = None) -> dict:
    """Train the network and its linearization for each width; closed forms with Θ_emp and Θ∞.

    The learning rate is `lr_fraction` × η_max = 2N/λ_max(Θ∞) (the same for all widths; for Adam
    it is `lr_fraction` × 0.01). Per-width trajectories on `n_frames` recorded steps in
    `runs[width]`; the gap is `ntk.analysis.metrics.lin_gap_curve` on the test points.
    `architecture` other than "mlp" trains on the circle of digit images (width = channels).
    """
    import jax

    widths, steps = _check(widths, steps)
    arch = (depth, activation, alpha, W_std, b_std, parameterization)
    if architecture != "mlp":
        from . import _arch

        return _arch.training_data(architecture, widths, steps, arch, dataset, n_train, noise,
                                   optimizer_name, lr_fraction, n_frames, seed, progress)
    xtr, ytr, xte, yte, kind = training_dataset(dataset, int(n_train), int(seed), noise)
    rsteps = np.unique(np.round(np.linspace(0, steps, int(n_frames))).astype(int))
    x_all, lr, lr_max, mean, std = _infinite_width(infinite_net(*arch, widths[0]), xtr, ytr, xte,
                                                   rsteps.astype(np.float64), lr_fraction,
                                                   optimizer_name)
    out = dict(kind=kind, x_train=np.asarray(xtr), y_train=np.asarray(ytr), x_test=np.asarray(xte),
               y_test=None if yte is None else np.asarray(yte), steps=rsteps, learning_rate=lr,
               lr_max=float(lr_max), optimizer=optimizer_name, widths=np.asarray(widths),
               inf_mean=mean, inf_std=std, runs={})
    total = len(widths) * steps
    for i, w in enumerate(widths):
        net = make_net(w, *arch)
        params = net.init(jax.random.PRNGKey(int(seed)), xtr.shape[1], dtype=xtr.dtype)
        prog = scaled(progress, i * steps, total, f"training width {w}")
        out["runs"][w] = _train_width(net, params, xtr, ytr, xte, yte, x_all, lr, rsteps,
                                      optimizer_name, prog)
        if not out["runs"][w]["diverged"] and prog is not None:
            prog(steps, steps)
    return out
