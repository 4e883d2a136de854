"""Spectrum: eigen-decomposition of the NTK and mode-wise convergence (spectral bias)."""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ..progress import scaled
from ._common import infinite_net, make_net


def _modes(res, y, U, ev, lr, k):
    """Residual on the top-k eigenvectors relative to t = 0, and its linear-theory prediction."""
    n = len(y)
    r = res.f_train[..., 0] - y[None, :, 0] if len(res.steps) else np.zeros((0, n))
    proj = r @ U  # (t, n) residual on each eigenvector
    p0 = np.where(np.abs(proj[:1]) > 1e-12, proj[:1], np.nan) if len(proj) else np.ones((1, n))
    ts = res.steps.astype(float)
    return dict(residual_proj=np.abs(proj[:, :k] / p0[:, :k]) if len(proj) else np.zeros((0, k)),
                theory=np.abs(1.0 - lr * ev[None, :k] / y.size) ** ts[:, None],
                theory_flow=np.exp(-lr * ev[None, :k] * ts[:, None] / y.size))


def _unstable_message(lr, lr_max, ev, N, res_message):
    return (f"η = {lr:.4g} is {lr / lr_max:.2f} × the stable limit 2N/λ_max = {lr_max:.4g}: "
            f"{int(np.sum(ev > 2 * N / lr))} eigen-mode(s) with λ > 2N/η = {2 * N / lr:.4g} "
            "grow by a factor |1 − ηλ/N| > 1 every step. " + (res_message or ""))


def spectrum_data(width: int = 512, seed: int = 0, depth: int = 2, activation: str = "relu",
                  alpha: float = 0.1, W_std: float = 1.5, b_std: float = 0.05,
                  n_train: int = 32, lr_fraction: float = 0.5, steps: int = 300,
                  n_modes: int = 6, architecture: str = "mlp",
                  progress: Optional[Callable] = None) -> dict:
    """Eigen-decomposition of Θ on `n_train` equally spaced points of the unit circle and
    mode-wise convergence of the residual under GD with η = lr_fraction × 2N/λ_max(Θ_emp).

    Target: y = sin(γ) + 0.5 sin(4γ) + 0.25 sin(8γ) (several frequencies = several modes).
    `architecture` other than "mlp": the same on a circle of digit images (width = channels).
    """
    import jax

    from ... import data
    from ...dynamics import max_learning_rate, train
    from ...empirical import empirical_ntk
    from ...infinite import infinite_kernel

    n = int(n_train)
    if n < 2:
        raise ValueError("Use at least 2 training points.")
    g = np.linspace(-np.pi, np.pi, n, endpoint=False)
    x = data.circle_points(g).astype(np.float32)
    y = (np.sin(g) + 0.5 * np.sin(4 * g) + 0.25 * np.sin(8 * g))[:, None].astype(np.float32)
    arch = (depth, activation, alpha, W_std, b_std, "ntk")
    if architecture == "mlp":
        net = make_net(width, *arch)
        th_inf = np.asarray(infinite_kernel(infinite_net(*arch, width), x, get="ntk").ntk, np.float64)
        params = net.init(jax.random.PRNGKey(int(seed)), 2, dtype=x.dtype)
        th = np.asarray(empirical_ntk(net, params, x), np.float64)
    else:  # a circle of digit images (flattened for the training loop)
        from . import _arch

        _arch.check_cost(architecture, width, depth, n, n, steps)
        x = data.image_circle(g).reshape(n, -1)
        net, emp, limit, init = _arch.stax_model(architecture, width, *arch)
        th_inf, params = np.asarray(limit(x)[1], np.float64), init(seed, n)
        th = np.asarray(emp(params, x), np.float64)
    ev, U = np.linalg.eigh(th)
    ev, U = ev[::-1], U[:, ::-1]
    lr_max = max_learning_rate(th, y.size)
    lr = float(lr_fraction) * lr_max
    rsteps = np.unique(np.round(np.linspace(0, int(steps), 16)).astype(int))
    res = train(net, params, x, y, optimizer="sgd", learning_rate=lr, steps=int(steps),
                record_steps=rsteps, check_stability=False, linearized=True,
                progress=scaled(progress, 0, int(steps), "training"))
    k = int(min(n_modes, n))
    out = dict(gamma=g, x=x, y=y[:, 0], eigvals=ev, eigvals_inf=np.linalg.eigvalsh(th_inf)[::-1],
               eigvecs=U[:, :k], lr_max=float(lr_max), learning_rate=lr,
               lr_fraction=float(lr_fraction), lambda_crit=2 * y.size / lr, N=int(y.size),
               width=int(width), diverged=bool(res.diverged), message=res.message, steps=res.steps)
    if lr > lr_max:
        out["message"] = _unstable_message(lr, lr_max, ev, y.size, res.message)
    out.update(_modes(res, y, U, ev, lr, k))
    return out
