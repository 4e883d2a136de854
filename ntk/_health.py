"""Numeric-health policy: one place that checks kernels, times and results, and says what went wrong.

Every public closed form (`ntk.predict`) passes its inputs through `kernel_matrix` / `check_time`
and its outputs through `check_finite`; kernel functions call `check_kernel_inputs` on entry and
`check_kernel_output` on exit, training `check_params_finite` and `check_finite(..., inputs=...,
params=...)`, so a non-finite result is reported with its cause instead of returned silently:

* overflow of the inputs (squared norms beyond the dtype's range),
* NaN/inf parameters,
* an ill-conditioned or indefinite kernel (with its condition number / smallest eigenvalue),
* a discrete step above the stable learning rate.

Errors are `NonFiniteError` (a `ValueError`), warnings `IllConditionedWarning` /
`DivergenceWarning` (`RuntimeWarning`s). All checks run on the host (numpy) on concrete values
and are skipped for traced values (inside `jax.jit`).
"""
from __future__ import annotations

import numbers
import warnings
from typing import NamedTuple, Optional

import jax
import numpy as np


class NonFiniteError(ValueError):
    """A public result would contain NaN/inf; the message says what caused it."""


class IllConditionedWarning(RuntimeWarning):
    """A linear solve is ill-conditioned (the warning gives the condition number)."""


class DivergenceWarning(RuntimeWarning):
    """A learning rate is above the stable limit of discrete gradient descent."""


#: above this many rows the PSD check uses a shifted Cholesky factorization instead of eigvalsh
EIG_CHECK_MAX = 2048


def _is_tracer(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def eps_of(dtype) -> float:
    dtype = np.dtype(dtype)
    return float(np.finfo(dtype).eps) if np.issubdtype(dtype, np.floating) else float(np.finfo(np.float64).eps)


def make_2d(k):
    """(a1, a1', a2, a2', ...) -> (a1 a2 ..., a1' a2' ...): the interleaved kernel layout flattened."""
    nd = np.ndim(k)
    if nd == 2:
        return k
    xp = np if isinstance(k, np.ndarray) else jax.numpy
    perm = tuple(range(0, nd, 2)) + tuple(range(1, nd, 2))
    shape = np.shape(k)
    return xp.reshape(xp.transpose(k, perm), (int(np.prod(shape[0::2])), int(np.prod(shape[1::2]))))


def as_float_array(a, name: str, *, allow_empty: bool = False) -> np.ndarray:
    """Host numpy view of a real numeric array; TypeError for strings/objects/complex/bool."""
    if a is None:
        raise TypeError(f"{name} is None; pass an array.")
    if isinstance(a, (str, bytes)):
        raise TypeError(f"{name} must be a numeric array, got a string {a!r}.")
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a numeric array, got {type(a).__name__}: {e}") from None
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.floating)
                                 or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must be a real numeric (float) array, got dtype {arr.dtype}.")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} is empty (shape {arr.shape}); pass at least one point.")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN/inf value(s); a kernel or target must be finite "
                         "(recompute it, rescale the inputs or use float64).")
    return arr


class KernelInfo(NamedTuple):
    """A checked (n, n) kernel: its eigenvalue range (None above EIG_CHECK_MAX rows)."""

    n: int
    lam_min: Optional[float]
    lam_max: Optional[float]
    scale: float  # max |K_ij|
    dtype: np.dtype


def psd_tolerance(n: int, dtype) -> float:
    """Relative tolerance for negative eigenvalues from round-off: 64 n eps, at most 1e-2."""
    return min(64.0 * n * eps_of(dtype), 1e-2)


def kernel_matrix(k, name: str, *, psd: bool = True, allow_zero: bool = False) -> KernelInfo:
    """Check an (n, n) kernel (or NT's interleaved (n, n, k, k, ...) layout, flattened): real,
    finite, non-empty, symmetric and positive semi-definite up to round-off.

    Raises ValueError naming `name` with the smallest eigenvalue and a `diag_reg` hint when the
    kernel has eigenvalues below -psd_tolerance * lambda_max; or when it is all zeros (unless
    `allow_zero`). Returns `KernelInfo`.
    """
    arr = as_float_array(k, name)
    if arr.ndim < 2 or arr.ndim % 2:
        raise ValueError(f"{name} must be a square (n, n) kernel matrix (or NT's (n, n, k, k) layout), "
                         f"got shape {arr.shape}.")
    if arr.shape[0::2] != arr.shape[1::2]:
        raise ValueError(f"{name} must be square, got shape {arr.shape}.")
    dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.dtype(np.float64)
    a = np.asarray(make_2d(arr), dtype=np.float64)
    n = a.shape[0]
    scale = float(np.max(np.abs(a)))
    if scale == 0.0:
        if allow_zero:
            return KernelInfo(n, 0.0, 0.0, 0.0, dtype)
        raise ValueError(f"{name} is all zeros: gradient descent / GP inference with a zero kernel has no "
                         "solution (nothing moves, no fit). Check how the kernel was computed (e.g. "
                         "W_std > 0) or add an absolute ridge (diag_reg > 0, diag_reg_absolute_scale=True).")
    asym = float(np.max(np.abs(a - a.T)))
    if asym > max(1e4 * eps_of(dtype), 1e-12) * scale:
        raise ValueError(f"{name} is not symmetric: max |K - K^T| = {asym:.3g} (max |K| = {scale:.3g}). "
                         "A kernel matrix must be symmetric; pass k(x_train, x_train), not a test-train block.")
    if not psd:
        return KernelInfo(n, None, None, scale, dtype)
    tol = psd_tolerance(n, dtype)
    if n <= EIG_CHECK_MAX:
        ev = np.linalg.eigvalsh(a)
        lam_min, lam_max = float(ev[0]), float(ev[-1])
        if lam_min < -tol * max(abs(lam_max), abs(lam_min)):
            raise ValueError(_not_psd_message(name, lam_min, lam_max))
        return KernelInfo(n, lam_min, lam_max, scale, dtype)
    shift = tol * float(np.trace(a)) + tol * scale
    try:
        np.linalg.cholesky(a + shift * np.eye(n))
    except np.linalg.LinAlgError:
        ev = np.linalg.eigvalsh(a)
        raise ValueError(_not_psd_message(name, float(ev[0]), float(ev[-1]))) from None
    return KernelInfo(n, None, None, scale, dtype)


def _not_psd_message(name, lam_min, lam_max):
    return (f"{name} is not positive semi-definite: its smallest eigenvalue is {lam_min:.4g} "
            f"(largest {lam_max:.4g}), beyond round-off. A valid NTK/NNGP matrix has no negative "
            f"eigenvalues: check it is k(x_train, x_train) of one kernel; if it is only slightly "
            f"indefinite, add diag_reg >= {abs(lam_min) / max(abs(lam_max), 1e-300) * 2:.2g} "
            "(relative) to regularize it.")


def condition_number(lam_min: Optional[float], lam_max: Optional[float]) -> Optional[float]:
    if lam_min is None or lam_max is None:
        return None
    if lam_min <= 0:
        return float("inf")
    return lam_max / lam_min


def warn_ill_conditioned(cond: Optional[float], name: str, dtype, what: str, stacklevel: int = 3) -> bool:
    """Warn (IllConditionedWarning) when cond * eps > 1e-3: the solve loses more than ~3 digits.
    Returns True if it warned."""
    if cond is None or cond * eps_of(dtype) <= 1e-3:
        return False
    c = "inf (singular)" if not np.isfinite(cond) else f"{cond:.3g}"
    f64 = " or use float64" if np.dtype(dtype).itemsize < 8 else ""
    warnings.warn(f"{name} is ill-conditioned (condition number {c} in {np.dtype(dtype).name}): {what} is "
                  "sensitive to round-off (duplicated or nearly identical inputs with different targets?). "
                  f"Pass diag_reg > 0 (e.g. 1e-6) to regularize{f64}.",
                  IllConditionedWarning, stacklevel=stacklevel)
    return True


def check_time(t, name: str = "t", *, integer: bool = False):
    """t: None (t = infinity) or finite non-negative time(s). Returns a float64 numpy array (or None).
    `integer`: the times must be whole steps."""
    if t is None:
        return None
    if _is_tracer(t):
        return t
    if isinstance(t, (str, bytes)):
        raise TypeError(f"{name} must be a number, an array of times or None (t = infinity), got {t!r}.")
    arr = np.asarray(t)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must be a number, an array of times or None (t = infinity), got {t!r}.")
    arr = arr.astype(np.float64)
    if arr.size == 0:
        raise ValueError(f"{name} is empty; pass at least one time (or None for t = infinity).")
    if np.any(np.isnan(arr)):
        raise ValueError(f"{name} contains NaN; pass times >= 0 (or None for t = infinity).")
    if np.any(np.isinf(arr)):
        raise ValueError(f"{name} contains inf; use t=None for t = infinity.")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0 (training time), got {float(np.min(arr)):g}.")
    if integer and np.any(arr != np.round(arr)):
        raise ValueError(f"{name} must be whole steps with discrete=True, got {arr.ravel()[0]:g}.")
    return arr


def check_finite(value, what: str, *, hints=(), inputs=None, params=None):
    """Return `value` (any pytree of arrays) if every leaf is finite, else raise NonFiniteError
    saying which and why: the first applicable cause among `hints` (strings), NaN/inf or
    overflowing `inputs` ({name: array}) and NaN/inf `params` (a pytree)."""
    leaves = jax.tree_util.tree_leaves(value)
    if any(_is_tracer(v) for v in leaves):
        return value
    bad = 0
    for v in leaves:
        a = np.asarray(v)
        if np.issubdtype(a.dtype, np.inexact):
            bad += int(np.sum(~np.isfinite(a)))
    if not bad:
        return value
    causes = list(diagnose(inputs=inputs, params=params)) + [h for h in hints if h]
    cause = causes[0] if causes else ("the computation overflowed or divided by zero; "
                                      "rescale the inputs or use float64")
    raise NonFiniteError(f"{what} produced {bad} NaN/inf value(s). Cause: {cause}")


def diagnose(inputs=None, params=None):
    """Yield human-readable causes of a non-finite result."""
    for name, x in (inputs or {}).items():
        if x is None or _is_tracer(x):
            continue
        a = np.asarray(x)
        if not np.issubdtype(a.dtype, np.inexact):
            continue
        if not np.all(np.isfinite(a)):
            yield f"{name} contains NaN/inf values."
            continue
        msg = _overflow_message(a, name)
        if msg:
            yield msg
    if params is not None:
        msg = _params_message(params)
        if msg:
            yield msg


def _overflow_message(a: np.ndarray, name: str) -> Optional[str]:
    if a.size == 0:
        return None
    big = float(np.finfo(a.dtype).max)
    amax = float(np.max(np.abs(a.astype(np.float64))))
    sq = amax * amax * (a.shape[-1] if a.ndim else 1)
    if sq > big / 1e4:
        return (f"{name} is too large for {a.dtype.name}: max |x| = {amax:.3g}, so squared norms reach "
                f"~{sq:.2g}, near or above the largest {a.dtype.name} ({big:.3g}); standardize / rescale "
                "the inputs (or use float64).")
    return None


def _params_message(params) -> Optional[str]:
    leaves = jax.tree_util.tree_leaves_with_path(params)
    for path, v in leaves:
        if _is_tracer(v):
            continue
        a = np.asarray(v)
        if np.issubdtype(a.dtype, np.inexact) and not np.all(np.isfinite(a)):
            n = int(np.sum(~np.isfinite(a)))
            return (f"params{jax.tree_util.keystr(path)} contains {n} NaN/inf value(s); re-initialize "
                    "the parameters (or lower the learning rate that produced them).")
    return None


def check_input_scale(x, name: str = "x"):
    """Raise ValueError if `x` is so large that its squared norms overflow its dtype (e.g. float32
    inputs of norm ~1e20). Call before computing kernels of `x`."""
    if x is None or _is_tracer(x):
        return x
    a = np.asarray(x)
    if np.issubdtype(a.dtype, np.floating):
        msg = _overflow_message(a, name)
        if msg:
            raise ValueError(msg)
    return x


def check_params_finite(params, name: str = "params"):
    """Raise ValueError if any parameter leaf contains NaN/inf (naming the leaf)."""
    msg = _params_message(params)
    if msg:
        raise ValueError(msg.replace("params", name, 1))
    return params


def check_kernel_inputs(x1, x2=None):
    """Entry check of a kernel function (`infinite_kernel`, `empirical_ntk`, stax `kernel_fn`):
    ValueError naming x1 / x2 when their squared norms overflow the dtype (e.g. float32 inputs of
    norm ~1e20, whose kernels would be all NaN). Returns (x1, x2)."""
    check_input_scale(x1, "x1")
    check_input_scale(x2, "x2")
    return x1, x2


def check_kernel_output(k, what: str, x1=None, x2=None, params=None):
    """Exit check of a kernel function: returns `k` (an array or any pytree of arrays, e.g. a
    `Kernel`) when finite, else raises `NonFiniteError` saying which input caused it (overflowing or
    NaN x1 / x2, NaN params) -- the one call that keeps a NaN kernel from reaching the user:

        return H.check_kernel_output(Kernel(K, T), "infinite_kernel", x1, x2)
        return H.check_kernel_output(theta, "empirical_ntk", x1, x2, params=params)

    Skipped for traced values (inside jax.jit)."""
    inputs = {"x1": x1} if x2 is None else {"x1": x1, "x2": x2}
    return check_finite(k, what, inputs=inputs, params=params,
                        hints=["the kernel overflowed its dtype (large W_std or depth); use float64 or "
                               "smaller W_std."])


def is_real_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)
