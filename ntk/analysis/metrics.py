"""The diagnostics of the lazy (kernel) regime: one definition each.

    kernel_error   ‖Θ_emp(θ₀) − Θ∞‖_F / ‖Θ∞‖_F                       at initialization
    weight_change  ‖θ_T − θ₀‖ / ‖θ₀‖  (Euclidean norm over all parameters)
    kernel_change  ‖Θ_emp(θ_T) − Θ_emp(θ₀)‖_F / ‖Θ_emp(θ₀)‖_F
    lin_gap        RMS_x(f_t(x) − f_t^lin(x)) / RMS_x(f_T^lin(x))       on evaluation points x

The linearization gap is relative to the size of the linearized model's output **at the end of
training** (t = T), the same scale for every t: a curve of the gap over training is the absolute
gap in units of one constant, never inflated where f_t^lin passes near zero, and its last value
is the gap at T used by width sweeps. (`ntk.train` records `weight_change` and `kernel_change`
with these definitions; `tests/test_experiments.py` checks it.)

Theory (NTK parameterization, Jacot et al. 2018, Lee et al. 2019): kernel_error ~ n^(-1/2);
the changes during training vanish as the width n grows.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _health as H

#: Floor of the denominators (a model whose output is exactly 0 gives a finite, huge gap).
TINY = 1e-30


def _rms(a):
    return np.sqrt(np.mean(np.square(a)))


def _finite_leaves(tree, name):
    """The leaves of `tree` (unchanged, so the arithmetic keeps their dtype) after checking them:
    ValueError naming `name` for empty or NaN/inf leaves, TypeError for non-numeric ones."""
    out = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        H.as_float_array(leaf, name + jax.tree_util.keystr(path), allow_empty=False)
        out.append(leaf)
    if not out:
        raise ValueError(f"{name} has no arrays.")
    return out


def relative_change(new, old) -> float:
    """‖new − old‖ / ‖old‖ for arrays or pytrees of arrays (Frobenius/Euclidean norms).
    Both must be finite and have the same structure and shapes."""
    if jax.tree_util.tree_structure(new) != jax.tree_util.tree_structure(old):
        raise ValueError("relative_change: `new` and `old` must have the same structure.")
    ln, lo = _finite_leaves(new, "new"), _finite_leaves(old, "old")
    for i, (a, b) in enumerate(zip(ln, lo)):
        if np.shape(a) != np.shape(b):
            raise ValueError(f"relative_change: leaf {i} of `new` has shape {np.shape(a)} but `old` has "
                             f"{np.shape(b)}.")
    num = sum(float(jnp.sum(jnp.square(jnp.asarray(a) - jnp.asarray(b)))) for a, b in zip(ln, lo))
    den = sum(float(jnp.sum(jnp.square(jnp.asarray(b)))) for b in lo)
    return float(np.sqrt(num) / max(np.sqrt(den), TINY))


def weight_change(params_t, params_0) -> float:
    """‖θ_t − θ₀‖ / ‖θ₀‖ over all parameters (pytrees of the same structure)."""
    return relative_change(params_t, params_0)


def kernel_change(k_t, k_0) -> float:
    """‖Θ_t − Θ₀‖_F / ‖Θ₀‖_F of two kernel matrices."""
    return relative_change(k_t, k_0)


def kernel_error(net, params, x, k_inf=None) -> float:
    """‖Θ_emp − Θ∞‖_F / ‖Θ∞‖_F of `net` at `params` on inputs x (n, d); Θ∞ computed if None.
    A non-finite kernel raises `NonFiniteError` naming its cause (overflowing x, NaN params)."""
    from ..empirical import empirical_ntk
    from ..infinite import infinite_kernel

    H.check_input_scale(x, "x")
    H.check_params_finite(params)
    if k_inf is None:
        k_inf = infinite_kernel(net, x, get="ntk").ntk
    else:
        k_inf = _finite_leaves(k_inf, "k_inf")[0]
    th = empirical_ntk(net, params, x)
    H.check_finite((th, k_inf), "kernel_error", inputs={"x": x}, params=params)
    if not np.any(np.asarray(k_inf)):
        raise ValueError("kernel_error: the infinite-width kernel k_inf is all zeros (W_std = 0?); the relative "
                         "error is undefined.")
    return float(jnp.linalg.norm(th - k_inf) / jnp.linalg.norm(k_inf))


def lin_gap(f, f_lin) -> float:
    """RMS(f − f_lin) / RMS(f_lin) of the outputs at one time (any shape, e.g. (m, k))."""
    f, f_lin = H.as_float_array(f, "f"), H.as_float_array(f_lin, "f_lin")
    if f.shape != f_lin.shape:
        raise ValueError(f"lin_gap: f {f.shape} and f_lin {f_lin.shape} must have the same shape.")
    return float(_rms(f - f_lin) / max(float(_rms(f_lin)), TINY))


def lin_gap_curve(f, f_lin) -> np.ndarray:
    """The gap over training: f, f_lin of shape (T, ...) (time first) -> (T,) with
    gap_t = RMS(f_t − f_t^lin) / RMS(f_T^lin); gap[-1] == lin_gap(f[-1], f_lin[-1])."""
    f, f_lin = H.as_float_array(f, "f"), H.as_float_array(f_lin, "f_lin")
    if f.shape != f_lin.shape or f.ndim < 1:
        raise ValueError(f"lin_gap_curve: f {f.shape} and f_lin {f_lin.shape} must have the same "
                         "shape (time first).")
    num = np.sqrt(np.mean(np.square(f - f_lin).reshape(len(f), -1), axis=1))
    return num / max(float(_rms(f_lin[-1])), TINY)


__all__ = ["TINY", "kernel_change", "kernel_error", "lin_gap", "lin_gap_curve",
           "relative_change", "weight_change"]
