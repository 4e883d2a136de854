"""Spectrum: eigen-decomposition of the NTK and mode-wise convergence (spectral bias)."""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ..progress import scaled
from ._common import infinite_net, make_net


def _projections(f, y, U, k):
    """|uᵢᵀ(f_t − y)| / |uᵢᵀ(f_0 − y)| for the top-k eigenvectors (T, k); NaN where the initial
    projection is 0."""
    if f is None or not len(f):
        return np.zeros((0, k))
    proj = (np.asarray(f, np.float64)[..., 0] - y[None, :, 0]) @ U[:, :k]
    p0 = np.where(np.abs(proj[:1]) > 1e-30, proj[:1], np.nan)
    return np.abs(proj / p0)


def _modes(res, y, U, ev, lr, k):
    """Residuals of the network and of its linearization on the top-k eigenvectors relative to
    t = 0, the linear theory, and the round-off floor of the residuals' dtype."""
    ts = res.steps.astype(float)
    r0 = (np.asarray(res.f_train[0], np.float64)[:, 0] - y[:, 0]) @ U[:, :k] if len(ts) else None
    eps = float(np.finfo(np.asarray(res.f_train).dtype).eps) if len(ts) else float("nan")
    # Round-off level: ~10 ulps of the outputs, projected on a mode and relative to its start.
    floor = (10 * eps * np.linalg.norm(y) / np.maximum(np.abs(r0), 1e-30)) if r0 is not None \
        else np.full(k, np.nan)
    return dict(residual_proj=_projections(res.f_train, y, U, k),
                lin_residual_proj=_projections(res.lin_f_train, y, U, k),
                theory=np.abs(1.0 - lr * ev[None, :k] / y.size) ** ts[:, None],
                theory_flow=np.exp(-lr * ev[None, :k] * ts[:, None] / y.size),
                round_off=floor, dtype=str(np.asarray(res.f_train).dtype))


def _plateau(proj, learned):
    """Median relative residual at the last step over the modes `learned` (boolean (k,))."""
    if not len(proj) or not np.any(learned):
        return float("nan")
    return float(np.nanmedian(proj[-1, learned]))


def _unstable_message(lr, lr_max, ev, N, res_message):
    return (f"η = {lr:.4g} is {lr / lr_max:.2f} × the stable limit 2N/λ_max = {lr_max:.4g}: "
            f"{int(np.sum(ev > 2 * N / lr))} eigen-mode(s) with λ > 2N/η = {2 * N / lr:.4g} "
            "grow by a factor |1 − ηλ/N| > 1 every step. " + (res_message or ""))


def _check_dtype(dtype):
    import jax

    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}.")
    if dtype == "float64" and not jax.config.jax_enable_x64:
        raise ValueError("dtype='float64' needs jax.config.update('jax_enable_x64', True).")


def _circle_model(architecture, width, arch, seed, g, steps, dtype):
    """(net, emp(params, x) -> Θ, Θ_∞ (float64), params at init, x) on the points of the unit
    circle at angles g ("mlp"), or on a circle of digit images (flattened) for a stax architecture."""
    import jax

    from ... import data
    from ...empirical import empirical_ntk
    from ...infinite import infinite_kernel

    n = len(g)
    if architecture == "mlp":
        x = data.circle_points(g).astype(dtype)
        net = make_net(width, *arch)
        th_inf = np.asarray(infinite_kernel(infinite_net(*arch, width), x, get="ntk").ntk, np.float64)
        params = net.init(jax.random.PRNGKey(int(seed)), 2, dtype=x.dtype)

        def emp(p, xs):
            return empirical_ntk(net, p, xs)

        return net, emp, th_inf, params, x
    from . import _arch

    _arch.check_cost(architecture, width, arch[0], n, n, steps)
    x = data.image_circle(g).reshape(n, -1).astype(dtype)
    net, emp, limit, init = _arch.stax_model(architecture, width, *arch)
    return net, emp, np.asarray(limit(x)[1], np.float64), init(seed, n), x


def spectrum_data(width: int = 512, seed: int = 0, depth: int = 2, activation: str = "relu",
                  alpha: float = 0.1, W_std: float = 1.5, b_std: float = 0.05,
                  n_train: int = 32, lr_fraction: float = 0.5, steps: int = 300,
                  n_modes: int = 6, architecture: str = "mlp", dtype: str = "float32",
                  progress: Optional[Callable] = None) -> dict:
    """Eigen-decomposition of Θ on `n_train` equally spaced points of the unit circle and
    mode-wise convergence of the residual under GD with η = lr_fraction × 2N/λ_max(Θ_emp), for
    the network and its linearization (fixed kernel Θ₀).

    Target: y = sin(γ) + 0.5 sin(4γ) + 0.25 sin(8γ) (several frequencies = several modes).
    `architecture` other than "mlp": the same on a circle of digit images (width = channels).
    Besides the residuals (T, k) it returns `round_off` (k,), the relative residual that round-off
    of `dtype` allows per mode, `kernel_change` ‖Θ(T) − Θ₀‖/‖Θ₀‖ and the median relative residual
    at the end over the modes the theory has learned (below 1e-4): `network_plateau`,
    `lin_plateau`. `dtype="float64"` needs jax_enable_x64.
    """
    from ...dynamics import max_learning_rate, train

    n = int(n_train)
    if n < 2:
        raise ValueError("Use at least 2 training points.")
    _check_dtype(dtype)
    g = np.linspace(-np.pi, np.pi, n, endpoint=False)
    y = (np.sin(g) + 0.5 * np.sin(4 * g) + 0.25 * np.sin(8 * g))[:, None].astype(dtype)
    arch = (depth, activation, alpha, W_std, b_std, "ntk")
    net, emp, th_inf, params, x = _circle_model(architecture, width, arch, seed, g, steps, dtype)
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
    # Why the network's residuals stop above the theory lines: the kernel moves during training
    # (finite width), the linearized model's does not. Measured at the end of training.
    learned = out["theory"][-1] < 1e-4 if len(out["theory"]) else np.zeros(k, bool)
    out.update(network_plateau=_plateau(out["residual_proj"], learned),
               lin_plateau=_plateau(out["lin_residual_proj"], learned), learned_modes=learned,
               kernel_change=(float(np.linalg.norm(np.asarray(emp(res.params, x),
                                                              np.float64) - th) / np.linalg.norm(th))
                              if not res.diverged and res.params is not None else float("nan")))
    return out
