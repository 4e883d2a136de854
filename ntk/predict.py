"""Closed forms for wide networks trained by gradient descent on MSE, with neural-tangents' API.

Loss convention (as neural-tangents): L = 1/(2 N) sum (f(x_i) - y_i)^2 with N = y_train.size
(all samples and outputs). Full-batch gradient descent with learning rate eta then gives, for the
linearized model, the function-space flow

    df_train/dt = -(eta / N) Theta (f_train - y)          (Theta (x) I over the trace axes)

solved in closed form by `gradient_descent_mse`; `gradient_descent_mse_ensemble` gives the mean and
covariance over random initializations of infinitely wide nets (from a kernel function), and
`gp_inference` the t = infinity posteriors ("nngp": Bayesian NN, "ntk": trained ensemble, "ntkgp":
GP with the NTK). Its largest stable step is eta_max = 2 (1 + momentum) N / lambda_max(Theta)
(`max_learning_rate`). Signatures, defaults and layouts are neural-tangents 0.6.5's:

    predict_fn = gradient_descent_mse(k_train_train, y_train, learning_rate=1., diag_reg=0.,
                                      diag_reg_absolute_scale=False, trace_axes=(-1,))
    fx_train_t, fx_test_t = predict_fn(t, fx_train_0, fx_test_0, k_test_train)

Kernels are (n, n) for y_train of shape (n, k) and trace_axes=(-1,), or NT's interleaved layout
(n, n, k, k) for trace_axes=(); a 1-D y_train of shape (n,) is one output. Kernel-valued arguments
of `gp_inference` may be arrays or any object with `.nngp` / `.ntk` (an `ntk.Kernel`, NT's Kernel).

Every input is checked (`ntk._health`): kernels must be finite, symmetric and positive
semi-definite up to round-off, times t >= 0 or None (t = infinity), learning rates positive; the
t = infinity solves use a Cholesky factorization, or for (numerically) singular kernels the
pseudo-inverse from an eigendecomposition -- the exact t -> infinity limit of gradient flow, reported
with an `IllConditionedWarning` and the condition number -- and no result is returned with a silent NaN.
"""
from __future__ import annotations

import collections
import functools
import math
import warnings
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from . import _health as H
from . import _validate as V

__all__ = ["Gaussian", "ensemble_mse", "gp_inference", "gp_posterior", "gradient_descent_mse",
           "gradient_descent_mse_ensemble", "max_learning_rate"]


class Gaussian(NamedTuple):
    """A (mean, covariance) pair: mean has the outputs' shape, covariance the kernel's."""

    mean: Any
    covariance: Any


_GETS = ("nngp", "ntk", "ntkgp")


def _canonical_get(get, allowed=_GETS, name="get"):
    """(get is a single string, tuple of names)."""
    if get is None:
        return False, ("nngp", "ntk")
    if isinstance(get, str):
        single, gets = True, (get,)
    else:
        try:
            gets = tuple(get)
        except TypeError:
            raise TypeError(f"{name} must be a string or a tuple of strings from {allowed}, got {get!r}.") \
                from None
        single = False
    if not gets:
        raise ValueError(f"{name} is empty; pass one or more of {allowed}.")
    if not all(isinstance(g, str) for g in gets):
        raise TypeError(f"{name} must contain strings from {allowed}, got {get!r}.")
    gets = tuple(g.lower() for g in gets)
    bad = [g for g in gets if g not in allowed]
    if bad:
        raise ValueError(f"{name} must be one of {allowed} (or a tuple of them), got {bad[0]!r}.")
    if len(set(gets)) < len(gets):
        raise ValueError(f"{name} entries must be unique, got {gets}.")
    return single, gets


def _pack(out: dict, single: bool):
    if single:
        return next(iter(out.values()))
    return collections.namedtuple("Gaussians", tuple(out))(*out.values())


# ---------------------------------------------------------------------------------------------
# Checked inputs and layouts
# ---------------------------------------------------------------------------------------------


def _concrete(*xs) -> bool:
    return not any(V.is_tracer(x) for x in jax.tree_util.tree_leaves(xs))


def _check_y(y, name="y_train"):
    if V.is_tracer(y):
        return y
    arr = H.as_float_array(y, name)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have shape (n,) or (n, k), got a scalar.")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(jnp.result_type(float))
    return V.as_jax(arr)


class _Layout:
    """How y_train's axes map to the 2-D kernel: rows = non-trace axes (flattened), columns of the
    (N', T) target matrix = trace axes (flattened). A 1-D y is one output (T = 1)."""

    def __init__(self, y_shape, trace_axes):
        self.squeeze = len(y_shape) == 1
        shape = tuple(y_shape) + ((1,) if self.squeeze else ())
        nd = len(shape)
        if self.squeeze:
            axes = (1,)
        else:
            if isinstance(trace_axes, (int, np.integer)) and not isinstance(trace_axes, bool):
                trace_axes = (trace_axes,)
            try:
                trace_axes = tuple(trace_axes)
            except TypeError:
                raise TypeError(f"trace_axes must be a tuple of ints, got {trace_axes!r}.") from None
            for a in trace_axes:
                if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
                    raise TypeError(f"trace_axes must be a tuple of ints, got {trace_axes!r}.")
                if not -nd <= a < nd:
                    raise ValueError(f"trace_axes {trace_axes} out of range for y_train of shape {y_shape}.")
            axes = tuple(sorted({int(a) % nd for a in trace_axes}))
            if 0 in axes:
                raise ValueError("trace_axes must not contain the sample axis 0 of y_train "
                                 f"(got {trace_axes} for shape {y_shape}).")
        self.shape, self.trace = shape, axes
        self.non = tuple(a for a in range(nd) if a not in axes)
        self.trace_shape = tuple(shape[a] for a in axes)
        self.non_shape = tuple(shape[a] for a in self.non)
        self.T = int(np.prod(self.trace_shape)) if axes else 1
        self.rows = int(np.prod(self.non_shape))

    def out_shape(self, m):
        return (m,) + self.shape[1:]

    def flat(self, f, m):
        """(m, ...y.shape[1:]) -> (M', T)."""
        xp = np if isinstance(f, np.ndarray) else jnp
        if f.ndim == len(self.shape) - 1:
            f = f.reshape(f.shape + (1,))
        f = xp.moveaxis(f, self.trace, tuple(range(-len(self.trace), 0))) if self.trace else f
        return f.reshape(-1, self.T)

    def unflat(self, f, lead, m):
        """lead + (M', T) -> lead + (m, ...y.shape[1:]) (1-D y: lead + (m,))."""
        nl = len(lead)
        f = f.reshape(tuple(lead) + (m,) + self.non_shape[1:] + self.trace_shape)
        if self.trace:
            f = jnp.moveaxis(f, tuple(range(-len(self.trace), 0)), tuple(nl + a for a in self.trace))
        return f[..., 0] if self.squeeze else f

    def kernel_shape(self, m, n):
        rest = self.non_shape[1:]
        return tuple(d for pair in zip((m,) + rest, (n,) + rest) for d in pair)

    def uncov(self, c, lead, m):
        """lead + (M', M') -> lead + NT's interleaved (m, m, d, d, ...)."""
        nl = len(lead)
        sh = (m,) + self.non_shape[1:]
        c = c.reshape(tuple(lead) + sh + sh)
        p = len(sh)
        perm = tuple(range(nl)) + tuple(nl + i for pair in zip(range(p), range(p, 2 * p)) for i in pair)
        return jnp.transpose(c, perm)


def _check_kernel_shape(k, name, lay: _Layout, m=None, n=None, what="train"):
    shape = np.shape(k)
    n = lay.shape[0] if n is None else n
    if m is None:
        expected = lay.kernel_shape(n, n)
        if shape == (n, n) and lay.rows == n:
            return
        if shape != expected:
            ys = lay.shape if not lay.squeeze else lay.shape[:1]
            raise ValueError(f"{name} has shape {shape}, but y_train of shape {ys}"
                             f" with trace_axes needs {expected}.")
        return
    if len(shape) != 2 * len(lay.non_shape) or shape[1::2] != lay.non_shape or shape[2::2] != lay.non_shape[1:]:
        raise ValueError(f"{name} has shape {shape}; expected (n_test, {n}) "
                         f"({lay.kernel_shape('n_test', n)} in NT's layout) for {n} training points.")


def _test_kernel(k, name, lay: _Layout):
    """Checked test-train kernel: (jax 2-D (M', N'), m)."""
    if k is None:
        raise ValueError(f"{name} is needed for test predictions; pass k(x_test, x_train).")
    if V.is_tracer(k):
        return H.make_2d(k), k.shape[0]
    arr = H.as_float_array(k, name)
    if arr.ndim == 1 and lay.rows == lay.shape[0]:
        raise ValueError(f"{name} must be 2-D (n_test, n_train), got shape {arr.shape}; "
                         "reshape a single test point to (1, n_train).")
    _check_kernel_shape(arr, name, lay, m=arr.shape[0] if arr.ndim else 0)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(jnp.result_type(float))
    return V.as_jax(H.make_2d(arr)), arr.shape[0]


def _check_reg(diag_reg, diag_reg_absolute_scale):
    reg = V.check_positive_float(diag_reg, "diag_reg", allow_zero=True)
    absolute = V.check_bool(diag_reg_absolute_scale, "diag_reg_absolute_scale")
    return reg, absolute


def _reg_shift(k2, reg, absolute):
    """The ridge added to the diagonal: reg (absolute) or reg * trace(K) / n (as NT)."""
    if reg == 0:
        return 0.0
    if absolute:
        return reg
    if V.is_tracer(k2):
        return reg * jnp.trace(k2) / k2.shape[0]
    return reg * float(np.trace(np.asarray(k2, np.float64))) / k2.shape[0]


def _add_reg(k, diag_reg, absolute):
    n = k.shape[0]
    if diag_reg == 0:
        return k
    scale = diag_reg if absolute else diag_reg * jnp.trace(k) / n
    return k + scale * jnp.eye(n, dtype=k.dtype)


class _Train(NamedTuple):
    """A checked train-train kernel: 2-D jax matrix, regularized copy, eigenvalue range of the
    regularized matrix (None if not computed) and its dtype."""

    k2: Any
    kr: Any
    lam_min: Optional[float]
    lam_max: Optional[float]
    dtype: Any
    name: str


def _train_kernel(k, name, lay: Optional[_Layout], reg, absolute) -> _Train:
    """Check a train-train kernel (finite, symmetric, PSD, not zero after the ridge) and add the ridge."""
    if V.is_tracer(k):
        k2 = H.make_2d(k)
        return _Train(k2, _add_reg(k2, reg, absolute), None, None, k2.dtype, name)
    info = H.kernel_matrix(k, name, allow_zero=absolute and reg > 0)
    if lay is not None:
        _check_kernel_shape(np.asarray(k), name, lay)
    arr = k if isinstance(k, jax.Array) and jnp.issubdtype(k.dtype, jnp.floating) else \
        np.asarray(k, dtype=info.dtype)
    k2 = V.as_jax(H.make_2d(arr))
    shift = _reg_shift(k2, reg, absolute)
    lam_min = None if info.lam_min is None else info.lam_min + shift
    lam_max = None if info.lam_max is None else info.lam_max + shift
    return _Train(k2, _add_reg(k2, reg, absolute), lam_min, lam_max, info.dtype, name)


_cho_factor = jax.jit(lambda a: jax.scipy.linalg.cho_factor(a, lower=False)[0])
_cho_solve = jax.jit(lambda c, b: jax.scipy.linalg.cho_solve((c, False), b))
_eigh = jax.jit(jnp.linalg.eigh)


@jax.jit
def _pinv_factors(a):
    """Eigenvectors and pseudo-inverse eigenvalues of a symmetric matrix: eigenvalues at or below
    n eps lambda_max (numerically zero) get 0, the others 1/lambda."""
    evals, evecs = jnp.linalg.eigh(a)
    cut = a.shape[0] * jnp.finfo(a.dtype).eps * jnp.max(jnp.abs(evals))
    keep = evals > cut
    return evecs, jnp.where(keep, 1.0 / jnp.where(keep, evals, 1.0), 0.0), jnp.sum(~keep)


_pinv_solve = jax.jit(lambda v, inv, b: v @ ((inv[:, None] if b.ndim == 2 else inv) * (v.T @ b)))


class _Solver:
    """(K + ridge)^-1 b. Cholesky when the matrix is numerically nonsingular; otherwise (the factor
    fails, or the condition number times n eps exceeds 1) the eigendecomposition's pseudo-inverse,
    which drops the numerically-zero eigenvalues (<= n eps lambda_max) and is the exact t -> infinity
    limit of gradient flow (those modes never move); that fallback is reported with an
    `IllConditionedWarning` giving the condition number and the number of modes dropped.
    `exact`: True when K (K + ridge)^-1 b reproduces b (Cholesky path)."""

    def __init__(self, tk: _Train):
        self.tk = tk
        self.exact = True
        self.dropped = 0
        kr = tk.kr
        if V.is_tracer(kr):
            self.c = _cho_factor(kr)
            return
        n = kr.shape[0]
        eps = H.eps_of(tk.dtype)
        cond = H.condition_number(tk.lam_min, tk.lam_max)
        c = _cho_factor(kr)
        if self._ok(c, n, eps) and not (cond is not None and cond * n * eps > 1):
            self.c = c
            H.warn_ill_conditioned(cond, tk.name, tk.dtype, "the t = infinity solve", stacklevel=5)
            return
        self.c = None
        self.exact = False
        self.v, self.inv, dropped = _pinv_factors(kr)
        self.dropped = int(dropped)
        if cond is None:  # no eigenvalue range from the input check (large n): from the factors
            ev = np.abs(1.0 / np.asarray(self.inv)[np.asarray(self.inv) != 0])
            cond = float("inf") if self.dropped else float(ev.max() / ev.min())
        c_s = "inf (singular)" if not np.isfinite(cond) else f"{cond:.3g}"
        warnings.warn(
            f"{tk.name} is singular or nearly so (condition number {c_s} in {np.dtype(tk.dtype).name}): the "
            f"t = infinity solve uses its pseudo-inverse, dropping {self.dropped} of {n} eigenvalue(s) at or "
            "below n eps lambda_max (those directions are never fit, as in gradient flow). Duplicated inputs "
            "with different targets cannot be interpolated; pass diag_reg > 0 to regularize instead"
            + (", or use float64." if np.dtype(tk.dtype).itemsize < 8 else "."), H.IllConditionedWarning, stacklevel=5)

    @staticmethod
    def _ok(c, n, eps):
        d = np.abs(np.diag(np.asarray(c, np.float64)))
        if not np.all(np.isfinite(d)) or d.min() == 0:
            return False
        return (d.min() / d.max()) ** 2 > n * eps

    def __call__(self, b):
        if self.c is not None:
            return _cho_solve(self.c, b)
        return _pinv_solve(self.v, self.inv, b)


# ---------------------------------------------------------------------------------------------
# gradient_descent_mse
# ---------------------------------------------------------------------------------------------


def _nonzero_modes(evals):
    """Eigenvalues above n eps lambda_max. The others are numerically zero: at t = infinity their
    modes (which gradient flow never moves) are left out of Theta^-1-like factors (a pseudo-inverse)."""
    return evals > evals.shape[0] * jnp.finfo(evals.dtype).eps * jnp.max(jnp.abs(evals))


def _eig_fns(evals, t, lr, N, discrete):
    """g1 = (1 - eta lambda / N)^t - 1 (discrete) or exp(-eta lambda t / N) - 1 per mode, the train
    factor, and g2 = g1 / lambda, the test factor (-eta t / N in the lambda -> 0 limit). Every mode
    is kept: at finite t, g2 is well conditioned in lambda even where lambda is at round-off level."""
    lam = jnp.maximum(evals, 0.0)
    tt = t[:, None]
    if discrete:
        a = lr * lam / N
        # (1 - a)^t - 1 without the cancellation of 1 - a for small a (in float32 ~3x closer to exact
        # GD than the plain power); the power itself for a >= 1
        g1 = jnp.where(a < 1.0, jnp.expm1(tt * jnp.log1p(-jnp.where(a < 1.0, a, 0.0))),
                       jnp.power(1.0 - a, tt) - 1.0)
        small = a < 1e-10
    else:
        g1 = jnp.expm1(-lam * tt * lr / N)
        small = lam < 1e-30
    g2 = jnp.where(small, -tt * lr / N, g1 / jnp.where(small, 1.0, lam))
    return g1, g2


@functools.partial(jax.jit, static_argnames=("discrete",))
def _gd_flow(evals, evecs, tarr, f0, y, kt, ft0, lr, N, discrete):
    """f_t on train (nt, n, k) and test (nt, m, k) (None without kt) for each t in tarr."""
    g1, g2 = _eig_fns(evals, tarr, lr, N, discrete)
    proj = evecs.T @ (f0 - y)  # (n, k)
    ftr = f0[None] + jnp.einsum("ji,ti,ik->tjk", evecs, g1, proj)
    fte = None
    if kt is not None:
        fte = ft0[None] + jnp.einsum("mj,ji,ti,ik->tmk", kt, evecs, g2, proj)
    return ftr, fte


def _outputs_0(f, shape, name, dtype):
    """fx_*_0 as an array of `shape`: a scalar, that shape, or the same number of values."""
    if V.is_tracer(f):
        f = jnp.asarray(f, dtype)
        return jnp.broadcast_to(f.reshape(shape) if f.size == math.prod(shape) else f, shape)
    arr = H.as_float_array(f, name)
    if arr.size == math.prod(shape) and arr.shape != shape:
        arr = arr.reshape(shape)
    try:
        return np.broadcast_to(arr.astype(dtype), shape)
    except ValueError:
        raise ValueError(f"{name} has shape {arr.shape}; expected {shape} (or a scalar).") from None


def gradient_descent_mse(k_train_train, y_train, learning_rate: float = 1.0, diag_reg: float = 0.0,
                         diag_reg_absolute_scale: bool = False, trace_axes=(-1,), *,
                         discrete: bool = False):
    """Closed-form MSE training of a linear model with kernel Theta = k_train_train (NT's API).

    Returns predict_fn(t=None, fx_train_0=0., fx_test_0=None, k_test_train=None):
      * t: time(s) >= 0 (any shape; in steps, scaled by learning_rate) or None for t = infinity;
      * fx_train_0 / fx_test_0: outputs at t = 0 (None: skip that set); k_test_train: (m, n);
      * returns fx_train_t, fx_test_t or (fx_train_t, fx_test_t), with t's shape prepended:
            f_t - y = exp(-eta Theta t / N) (f_0 - y)                      (train)
            g_t = g_0 + Theta_* Theta^-1 (I - exp(-eta Theta t / N)) (y - f_0)   (test)
    `discrete=True` (keyword-only, not in NT) gives exact discrete gradient descent after integer
    t steps: (f_t - y) = (I - eta Theta / N)^t (f_0 - y); a learning rate above 2N/lambda_max then
    warns (DivergenceWarning). Eigendecomposition (finite t) and Cholesky factor (t = None) are
    computed once, on first use.
    """
    y = _check_y(y_train)
    lay = _Layout(tuple(y.shape), trace_axes)
    lr = V.check_positive_float(learning_rate, "learning_rate")
    reg, absolute = _check_reg(diag_reg, diag_reg_absolute_scale)
    discrete = V.check_bool(discrete, "discrete")
    tk = _train_kernel(k_train_train, "k_train_train", lay, reg, absolute)
    if tk.k2.shape[0] != lay.rows:
        raise ValueError(f"y_train has {lay.shape[0]} rows but k_train_train is {np.shape(k_train_train)}.")
    N = y.size
    yf = lay.flat(y, lay.shape[0])
    dtype = yf.dtype
    warned = _discrete_gd_warning(lr, N, tk.lam_max) if discrete and tk.lam_max is not None else None
    hints = [warned] if warned else []

    @functools.lru_cache(1)
    def eig():
        return _eigh(tk.kr)

    @functools.lru_cache(1)
    def solver():
        return _Solver(tk)

    def predict_fn(t=None, fx_train_0=0.0, fx_test_0=None, k_test_train=None):
        if fx_train_0 is None and fx_test_0 is None:
            raise ValueError("fx_train_0 and fx_test_0 are both None: nothing to predict. Pass fx_train_0 "
                             "(e.g. 0.) and/or fx_test_0 with k_test_train.")
        t = H.check_time(t, "t", integer=discrete)
        f0, kt, m, ft0 = _gd_inputs(lay, fx_train_0, fx_test_0, k_test_train, dtype)
        if t is None:
            ftr, fte = _gd_at_infinity(solver(), tk, lay, yf, f0, kt, ft0, m)
        else:
            ftr, fte = _gd_at_times(eig(), lay, t, lr, N, yf, f0, kt, ft0, m, discrete)
        out = tuple(v for v in (ftr, fte) if v is not None)
        H.check_finite(out, "gradient_descent_mse's predict_fn", hints=hints + [
            "the kernel or outputs are too large for the dtype; rescale them or use float64."])
        return out[0] if len(out) == 1 else out

    return predict_fn


def _discrete_gd_warning(lr, N, lam_max):
    """Warn (and return the message, or None) when discrete GD with `lr` is above 2N/lambda_max."""
    lr_max = 2.0 * N / lam_max
    if lr <= lr_max:
        return None
    msg = (f"learning_rate={lr:g} is above the stable limit 2N/lambda_max = {lr_max:.4g} of discrete "
           "gradient descent: |1 - eta lambda / N| > 1, so the outputs grow without bound with t. "
           "Lower learning_rate below that limit.")
    warnings.warn(msg, H.DivergenceWarning, stacklevel=3)  # the caller of gradient_descent_mse
    return msg


def _gd_inputs(lay: _Layout, fx_train_0, fx_test_0, k_test_train, dtype):
    """Checked (f0 (N', T) or None, k_test_train (M', N') or None, m, ft0 (M', T) or None)."""
    n = lay.shape[0]
    f0 = None if fx_train_0 is None else lay.flat(
        _outputs_0(fx_train_0, lay.out_shape(n), "fx_train_0", dtype), n)
    kt, m, ft0 = None, None, None
    if fx_test_0 is not None:
        if k_test_train is None:
            raise ValueError("k_test_train is needed to predict on test points (fx_test_0 given); "
                             "pass k(x_test, x_train).")
        kt, m = _test_kernel(k_test_train, "k_test_train", lay)
        ft0 = lay.flat(_outputs_0(fx_test_0, lay.out_shape(m), "fx_test_0", dtype), m)
    return f0, kt, m, ft0


def _gd_at_infinity(s: _Solver, tk: _Train, lay: _Layout, yf, f0, kt, ft0, m):
    """(f_train, f_test) at t = infinity: f0 + Theta (Theta + ridge)^-1 (y - f0) and
    g0 + Theta_* (Theta + ridge)^-1 (y - f0) (None for a set not asked for)."""
    n = lay.shape[0]
    rhs = yf if f0 is None else yf - f0
    ftr = fte = None
    if f0 is not None:
        ftr = yf if s.exact else f0 + tk.k2 @ s(rhs)
        ftr = lay.unflat(ftr, (), n)
    if kt is not None:
        fte = lay.unflat(ft0 + kt @ s(rhs), (), m)
    return ftr, fte


def _gd_at_times(eig, lay: _Layout, t, lr, N, yf, f0, kt, ft0, m, discrete):
    """(f_train, f_test) at the times t (any shape, prepended to the outputs') from the
    eigendecomposition `eig` of the regularized kernel (None for a set not asked for)."""
    dtype = yf.dtype
    if V.is_tracer(t):
        tarr, tshape = jnp.reshape(t, (-1,)).astype(dtype), jnp.shape(t)
    else:
        if not np.isfinite(lr * float(np.max(t))):
            raise ValueError(f"learning_rate * t overflows ({lr:g} x {float(np.max(t)):g}); "
                             "use t=None for t = infinity.")
        tarr, tshape = np.asarray(t, dtype=dtype).reshape(-1), np.shape(t)
    evals, evecs = eig
    z = jnp.zeros_like(yf) if f0 is None else f0
    ftr, fte = _gd_flow(evals, evecs, tarr, z, yf, kt, ft0, np.asarray(lr, dtype),
                        np.asarray(N, dtype), discrete)
    ftr = None if f0 is None else lay.unflat(ftr, tshape, lay.shape[0])
    fte = None if kt is None else lay.unflat(fte, tshape, m)
    return ftr, fte


# ---------------------------------------------------------------------------------------------
# gp_inference
# ---------------------------------------------------------------------------------------------


def _kernel_like(k) -> bool:
    return not isinstance(k, (np.ndarray, jax.Array)) and (hasattr(k, "nngp") or hasattr(k, "ntk"))


def _get_attr(k, g, name):
    """The `g` ('nngp'/'ntk') kernel of an array (itself) or a Kernel-like object."""
    if k is None or not _kernel_like(k):
        return k
    v = getattr(k, g, None)
    if v is None:
        raise ValueError(f"{name}.{g} is missing: pass an array or an object with a .{g} kernel "
                         f"(e.g. kernel_fn(x1, x2, ('nngp', 'ntk'))).")
    return v


def gp_inference(k_train_train, y_train, diag_reg: float = 0.0, diag_reg_absolute_scale: bool = False,
                 trace_axes=(-1,)):
    """Posteriors at t = infinity (NT's API). Returns predict_fn(get=None, k_test_train=None,
    k_test_test=None) giving, per get in "nngp", "ntk", "ntkgp":

      nngp:  mean = K_* K^-1 y,       cov = K_** - K_* K^-1 K_*^T        (Bayesian infinite NN)
      ntk:   mean = T_* T^-1 y,       cov = K_** + T_* T^-1 K T^-1 T_*^T - (T_* T^-1 K_*^T + h.c.)
             (infinite ensemble of infinite nets trained to convergence; needs .nngp and .ntk)
      ntkgp: mean = T_* T^-1 y,       cov = T_** - T_* T^-1 T_*^T        (GP with the NTK)

    with K = NNGP, T = NTK (+ diag_reg on the train-train blocks). Kernels are arrays or objects
    with .nngp / .ntk; k_test_train=None predicts the training set (N(y_train, 0));
    k_test_test=None returns means only. A single-string get returns one result, a tuple (or None =
    ("nngp", "ntk")) a namedtuple with one field per entry; results with covariance are `Gaussian`s.
    """
    y = _check_y(y_train)
    lay = _Layout(tuple(y.shape), trace_axes)
    reg, absolute = _check_reg(diag_reg, diag_reg_absolute_scale)
    yf = lay.flat(y, lay.shape[0])
    if k_train_train is None:
        raise TypeError("k_train_train is None; pass a kernel array or an object with .nngp/.ntk.")

    @functools.lru_cache(2)
    def solve(g):
        k = _get_attr(k_train_train, g, "k_train_train")
        tk = _train_kernel(k, "k_train_train" + (f".{g}" if _kernel_like(k_train_train) else ""),
                           lay, reg, absolute)
        if tk.k2.shape[0] != lay.rows:
            raise ValueError(f"y_train has {lay.shape[0]} rows but k_train_train is {np.shape(k)}.")
        return _Solver(tk)

    @functools.lru_cache(2)
    def k_inv_y(g):
        return solve(g)(yf)

    def predict_fn(get=None, k_test_train=None, k_test_test=None):
        single, gets = _canonical_get(get)
        out = {}
        for g in gets:
            k = "ntk" if g == "ntkgp" else g
            s = solve(k)
            if k_test_train is None:  # the training set: N(y_train, 0)
                mean = lay.unflat(yf.astype(s.tk.k2.dtype), (), lay.shape[0])
                out[g] = mean if k_test_test is None else Gaussian(
                    mean, jnp.zeros_like(_as_jnp(_get_attr(k_train_train, k, "k_train_train"))))
                continue
            ktd, m = _test_kernel(_get_attr(k_test_train, k, "k_test_train"), f"k_test_train.{k}", lay)
            mean = lay.unflat(ktd @ k_inv_y(k), (), m)
            if k_test_test is None:
                out[g] = mean
                continue
            cov = _gp_covariance(g, s, ktd, k_train_train, k_test_train, k_test_test, m, lay)
            out[g] = Gaussian(mean, lay.uncov(cov, (), m))
        H.check_finite(out, "gp_inference's predict_fn",
                       hints=["the kernels are too large for the dtype; rescale them or use float64."])
        return _pack(out, single)

    return predict_fn


def _gp_covariance(g, s: _Solver, ktd, k_train_train, k_test_train, k_test_test, m, lay: _Layout):
    """(M', M') posterior covariance of `gp_inference` for get `g` (formulas there); `s` solves
    with the regularized train-train kernel of g, `ktd` is g's 2-D test-train kernel."""
    g_init = "ntk" if g == "ntkgp" else "nngp"
    if g == "ntk" and (_bare(k_train_train) or _bare(k_test_train)):
        raise ValueError("The 'ntk' posterior covariance needs both NNGP and NTK kernels: pass "
                         "k_train_train and k_test_train as objects with .nngp and .ntk "
                         "(e.g. kernel_fn(x, x_train, ('nngp', 'ntk'))).")
    ktd_init, _ = _test_kernel(_get_attr(k_test_train, g_init, "k_test_train"),
                               f"k_test_train.{g_init}", lay)
    ktt = _test_test(_get_attr(k_test_test, g_init, "k_test_test"), f"k_test_test.{g_init}", m, lay)
    if g in ("nngp", "ntkgp"):
        return ktt - ktd @ s(ktd_init.T)
    term1 = s(ktd.T)  # T^-1 T_*^T, (n, m)
    nngp_dd = _as_jnp(H.make_2d(_get_attr(k_train_train, "nngp", "k_train_train")))
    term2 = ktd @ s(ktd_init.T)
    return term1.T @ nngp_dd @ term1 - (term2 + term2.T) + ktt


def _bare(k):
    return not _kernel_like(k) or getattr(k, "nngp", None) is None or getattr(k, "ntk", None) is None


def _as_jnp(a):
    return a if isinstance(a, jax.Array) or V.is_tracer(a) else V.as_jax(np.asarray(a))


def _test_test(k, name, m, lay: _Layout):
    if V.is_tracer(k):
        return H.make_2d(k)
    arr = H.as_float_array(k, name)
    rest = lay.non_shape[1:]
    expected = lay.kernel_shape(m, m)
    if arr.shape != expected:
        raise ValueError(f"{name} has shape {arr.shape}; expected {expected} (k(x_test, x_test)).")
    del rest
    return V.as_jax(H.make_2d(arr))


def gp_posterior(k_train_train, y_train, k_test_train, k_test_test=None, diag_reg: float = 0.0,
                 diag_reg_absolute_scale: bool = False):
    """Exact GP posterior with one kernel k (the call style of `ntk.gp_inference` before the NT API):
    mean = k_* (K + reg)^-1 y, cov = k_** - k_* (K + reg)^-1 k_*^T.

    Returns (mean (m, k), cov (m, m) or None when k_test_test is None).
    """
    fn = gp_inference(k_train_train, _legacy_y(y_train), diag_reg, diag_reg_absolute_scale)
    if k_test_train is None:
        raise ValueError("k_test_train is None; pass k(x_test, x_train).")
    r = fn("nngp", k_test_train, k_test_test)
    if k_test_test is None:
        return r, None
    return r.mean, r.covariance


def _legacy_y(y):
    """The pre-NT API returned (m, 1) means for 1-D targets."""
    y = _check_y(y)
    return y[:, None] if y.ndim == 1 else y


# ---------------------------------------------------------------------------------------------
# Ensembles of infinite networks
# ---------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("g", "with_test", "with_cov"))
def _ens_core(evals, evecs, ts, y, ktd, ktd_nngp, nngp_dd, nngp_tt, rate, g, with_test, with_cov):
    """Means (nt, M', T) and covariances (nt, M', M') (None) for times ts; rate = 1 / N."""
    lam0 = jnp.maximum(evals, 0.0)
    lam = jnp.maximum(evals, 1e-300 if evals.dtype == jnp.float64 else 1e-30)

    def one(tt):
        e1 = -jnp.expm1(-lam0 * tt * rate)
        if not with_test:
            mean = (evecs * e1) @ (evecs.T @ y)
            cov = None
            if with_cov:
                if g == "nngp":
                    cov = (evecs * (lam0 * jnp.exp(-2 * lam0 * tt * rate))) @ evecs.T
                else:
                    E = (evecs * jnp.exp(-lam0 * tt * rate)) @ evecs.T
                    cov = E @ nngp_dd @ E.T
            return mean, cov
        A = (evecs * (-jnp.expm1(-lam * tt * rate) / lam)) @ evecs.T
        mean = ktd @ (A @ y)
        cov = None
        if with_cov:
            if g == "nngp":
                A2 = (evecs * (-jnp.expm1(-2 * lam * tt * rate) / lam)) @ evecs.T
                cov = nngp_tt - ktd @ A2 @ ktd.T
            else:
                term1 = A @ ktd.T
                term2 = ktd @ A @ ktd_nngp.T
                cov = term1.T @ nngp_dd @ term1 - (term2 + term2.T) + nngp_tt
        return mean, cov

    return jax.vmap(one)(ts)


class _KernelPair(NamedTuple):
    nngp: Any = None
    ntk: Any = None


def gradient_descent_mse_ensemble(kernel_fn: Callable, x_train, y_train, learning_rate: float = 1.0,
                                  diag_reg: float = 0.0, diag_reg_absolute_scale: bool = False,
                                  trace_axes=(-1,), *, get=None, **kernel_fn_train_train_kwargs):
    """Mean (and covariance) over initializations of infinitely wide nets trained by GD on MSE (NT's API).

    `kernel_fn(x1, x2, get, **kwargs)` returns an object with .nngp / .ntk (x2=None: x1 with itself;
    a stax kernel_fn, or `lambda x1, x2, get: ntk.infinite_kernel(net, x1, x2, get)`).
    Returns predict_fn(t=None, x_test=None, get=None, compute_cov=False, **kernel_fn_test_test_kwargs):
    with A_t = Theta^-1 (I - exp(-eta Theta t / N)),
        mean_t = Theta_* A_t y
        cov_t  = K_** + Theta_* A_t K A_t^T Theta_*^T - (Theta_* A_t K_*^T + h.c.)   (get "ntk")
    and Theta -> K, cov_t = K_** - K_* K^-1 (I - exp(-2 eta K t / N)) K_*^T for get "nngp".
    t=None is t = infinity (`gp_inference`); x_test=None predicts the training set; get=None means
    ("nngp", "ntk") (or the keyword-only `get` given here). Results as in `gp_inference`.
    """
    if not callable(kernel_fn):
        raise TypeError(f"kernel_fn must be a callable kernel_fn(x1, x2, get), got {kernel_fn!r}.")
    y = _check_y(y_train)
    lay = _Layout(tuple(y.shape), trace_axes)
    lr = V.check_positive_float(learning_rate, "learning_rate")
    reg, absolute = _check_reg(diag_reg, diag_reg_absolute_scale)
    if x_train is None:
        raise TypeError("x_train is None; pass the training inputs.")
    if get is not None:
        _canonical_get(get, ("nngp", "ntk"))
    default_get = get
    yf = lay.flat(y, lay.shape[0])
    N = y.size
    train_set = _EnsembleTrainSet(kernel_fn, x_train, kernel_fn_train_train_kwargs, lay, reg, absolute)
    train_kernels, eigenspace = train_set.kernels, functools.lru_cache(2)(train_set.eigenspace)

    def predict_fn(t=None, x_test=None, get=None, compute_cov=False, **kernel_fn_test_test_kwargs):
        single, gets = _canonical_get(default_get if get is None else get, ("nngp", "ntk"))
        compute_cov = V.check_bool(compute_cov, "compute_cov")
        deps = tuple(g for g in ("nngp", "ntk") if (g == "nngp" and ("nngp" in gets or compute_cov))
                     or (g == "ntk" and "ntk" in gets))
        kw = {**kernel_fn_train_train_kwargs, **kernel_fn_test_test_kwargs}
        kd = train_kernels(deps)
        k_td, nngp_tt = _ensemble_test_kernels(kernel_fn, x_test, x_train, deps, compute_cov, kw)
        if t is None:
            fn = gp_inference(kd, y, reg, absolute, trace_axes)
            res = fn(gets, k_td, nngp_tt)
            return _pack(dict(zip(gets, res)), single)
        t = H.check_time(t, "t")
        tshape = np.shape(t)
        ts = np.asarray(t * lr, dtype=yf.dtype).reshape(-1)
        if not np.all(np.isfinite(ts)):
            raise ValueError("learning_rate * t overflows; use t=None for t = infinity.")
        out = {g: _ensemble_at_times(g, eigenspace(g), ts, tshape, yf, N, kd, k_td, nngp_tt, compute_cov, lay)
               for g in gets}
        H.check_finite(out, "gradient_descent_mse_ensemble's predict_fn",
                       hints=["the kernels are too large for the dtype; rescale the inputs or use float64."])
        return _pack(out, single)

    return predict_fn


class _EnsembleTrainSet:
    """The train-train kernels of `gradient_descent_mse_ensemble`, each computed once, on demand."""

    def __init__(self, kernel_fn, x_train, kwargs, lay: _Layout, reg, absolute):
        self.kernel_fn, self.x_train, self.kwargs = kernel_fn, x_train, kwargs
        self.lay, self.reg, self.absolute = lay, reg, absolute
        self.k_dd = {}

    def kernels(self, gs) -> _KernelPair:
        """The kernels named in `gs` (one kernel_fn call for those not computed yet)."""
        missing = tuple(g for g in gs if g not in self.k_dd)
        if missing:
            r = self.kernel_fn(self.x_train, None, missing if len(missing) > 1 else missing[0], **self.kwargs)
            for g in missing:
                self.k_dd[g] = _extract(r, g, "kernel_fn(x_train, None, get)", len(missing) == 1)
        return _KernelPair(**{g: self.k_dd[g] for g in gs})

    def eigenspace(self, g):
        """Eigendecomposition of g's checked, regularized train-train kernel."""
        lay = self.lay
        tk = _train_kernel(getattr(self.kernels((g,)), g), f"kernel_fn(x_train, None, {g!r})", lay, self.reg,
                           self.absolute)
        if tk.k2.shape[0] != lay.rows:
            raise ValueError(f"y_train has {lay.shape[0]} rows but the {g} train-train kernel is "
                             f"{tk.k2.shape}.")
        return _eigh(tk.kr)


def _ensemble_test_kernels(kernel_fn, x_test, x_train, deps, compute_cov, kw):
    """(test-train kernels `_KernelPair` of `deps` or None, test-test NNGP or None) of
    `gradient_descent_mse_ensemble` (test-test True: covariance on the training set)."""
    k_td = nngp_tt = None
    if x_test is not None:
        r = kernel_fn(x_test, x_train, deps if len(deps) > 1 else deps[0], **kw)
        k_td = _KernelPair(**{g: _extract(r, g, "kernel_fn(x_test, x_train, get)", len(deps) == 1)
                              for g in deps})
        if compute_cov:
            nngp_tt = _extract(kernel_fn(x_test, None, "nngp", **kw), "nngp",
                               "kernel_fn(x_test, None, 'nngp')", True)
    elif compute_cov:
        nngp_tt = True
    return k_td, nngp_tt


def _ensemble_at_times(g, eig, ts, tshape, yf, N, kd, k_td, nngp_tt, compute_cov, lay: _Layout):
    """Mean (or `Gaussian`) of get `g` at the times ts (eta t, flattened; `tshape` prepended) from
    the eigendecomposition `eig` of g's regularized train-train kernel."""
    evals, evecs = eig
    ktd = ktd_nngp = None
    m = lay.shape[0]
    if k_td is not None:
        ktd, m = _test_kernel(getattr(k_td, g), f"kernel_fn(x_test, x_train, {g!r})", lay)
        if compute_cov and g == "ntk":
            ktd_nngp, _ = _test_kernel(k_td.nngp, "kernel_fn(x_test, x_train, 'nngp')", lay)
    nngp_dd = None
    if compute_cov and (g == "ntk"):
        nngp_dd = _as_jnp(H.make_2d(H.as_float_array(kd.nngp, "kernel_fn(x_train, None, 'nngp')")))
    ntt = None
    if compute_cov and k_td is not None:
        ntt = _test_test(nngp_tt, "kernel_fn(x_test, None, 'nngp')", m, lay)
    means, covs = _ens_core(evals, evecs, ts, yf, ktd, ktd_nngp, nngp_dd, ntt,
                            np.asarray(1.0 / N, yf.dtype), g, k_td is not None, compute_cov)
    mean = lay.unflat(means, tshape, m)
    return Gaussian(mean, lay.uncov(covs, tshape, m)) if compute_cov else mean


def _extract(r, g, what, single):
    if isinstance(r, (np.ndarray, jax.Array)):
        if single:
            return r
        raise ValueError(f"{what} returned one array for get with several kernels; it must return an "
                         "object with .nngp and .ntk.")
    v = getattr(r, g, None)
    if v is None:
        raise ValueError(f"{what} returned no .{g} kernel (got {type(r).__name__}); kernel_fn must return "
                         "an object with .nngp/.ntk for the requested get.")
    return v


def ensemble_mse(nngp_train_train, ntk_train_train, y_train, nngp_test_train, ntk_test_train,
                 nngp_test_test=None, t=None, learning_rate: float = 1.0, diag_reg: float = 0.0,
                 get: str = "ntk", compute_cov: bool = True):
    """Mean and covariance over random initializations of infinitely wide nets trained by GD on MSE,
    from kernel matrices (this library's array-based form of `gradient_descent_mse_ensemble`).

    With A_t = Theta^-1 (I - exp(-eta Theta t / N)) (t = None means t = inf):
      mean_t = Theta_* A_t y
      cov_t  = K_** + Theta_* A_t K A_t^T Theta_*^T - (Theta_* A_t K_*^T + transpose)   (get="ntk")
    and for get="nngp" (training only the readout / Bayesian view) Theta is replaced by K and
      cov_t  = K_** - K_* K^-1 (I - exp(-2 eta K t / N)) K_*^T.
    diag_reg is relative (diag_reg * trace / n). Returns (mean (m, k), cov (m, m) or None); t may
    be an array (leading axis added).
    """
    y = _legacy_y(y_train)
    N = y.size
    lr = V.check_positive_float(learning_rate, "learning_rate")
    reg = V.check_positive_float(diag_reg, "diag_reg", allow_zero=True)
    compute_cov = V.check_bool(compute_cov, "compute_cov")
    if get not in ("ntk", "nngp"):
        raise ValueError(f"get must be 'ntk' or 'nngp', got {get!r}.")
    lay = _Layout(tuple(y.shape), (-1,))
    K = _train_kernel(nngp_train_train, "nngp_train_train", lay, 0.0, False).k2
    n = K.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"y_train has {y.shape[0]} rows but nngp_train_train is {tuple(K.shape)}.")
    Ks, m = _test_kernel(nngp_test_train, "nngp_test_train", lay)
    if get == "ntk":
        T = _train_kernel(ntk_train_train, "ntk_train_train", lay, reg, False).kr
        Ts, m2 = _test_kernel(ntk_test_train, "ntk_test_train", lay)
        if m2 != m:
            raise ValueError(f"ntk_test_train has {m2} rows but nngp_test_train has {m}.")
    else:
        T = _add_reg(K, reg, False)
        Ts = Ks
    ts = H.check_time(t, "t")
    scalar_t = t is None or np.ndim(t) == 0
    ts = np.atleast_1d(np.asarray(np.inf if ts is None else ts, dtype=y.dtype)).reshape(-1)
    with_cov = compute_cov and nngp_test_test is not None
    Kss = _test_test(nngp_test_test, "nngp_test_test", m, lay) if with_cov else None
    means, covs = _ensemble_core(T, K, Ts, Ks, Kss, y, ts, np.asarray(lr / N, y.dtype), get, with_cov)
    H.check_finite((means, covs), "ensemble_mse",
                   hints=["the kernels are too large for the dtype; rescale the inputs or use float64."])
    if scalar_t:
        return means[0], (None if covs is None else covs[0])
    return means, covs


@functools.partial(jax.jit, static_argnames=("get", "with_cov"))
def _ensemble_core(T, K, Ts, Ks, Kss, y, ts, rate, get, with_cov):
    """Vectorized over times ts: (means (nt, m, k), covs (nt, m, m) or None); rate = lr / N."""
    evals, evecs = jnp.linalg.eigh(T)
    lam = jnp.maximum(evals, 1e-300 if evals.dtype == jnp.float64 else 1e-30)
    nonzero = _nonzero_modes(evals)

    def one(tt):
        # t = infinity: the pseudo-inverse (numerically zero modes never move); finite t: every mode
        keep = nonzero | jnp.isfinite(tt)
        fac = jnp.where(keep, -jnp.expm1(-lam * tt * rate) / lam, 0.0)
        A = (evecs * fac) @ evecs.T
        mean = Ts @ A @ y
        if not with_cov:
            return mean, None
        if get == "ntk":
            TA = Ts @ A
            cross = TA @ Ks.T
            cov = Kss + TA @ K @ TA.T - (cross + cross.T)
        else:
            fac2 = jnp.where(keep, -jnp.expm1(-2 * lam * tt * rate) / lam, 0.0)
            A2 = (evecs * fac2) @ evecs.T
            cov = Kss - Ts @ A2 @ Ts.T
        return mean, cov

    return jax.vmap(one)(ts)


# ---------------------------------------------------------------------------------------------
# Learning rate
# ---------------------------------------------------------------------------------------------


def max_learning_rate(ntk_train_train, y_train_size: Optional[int] = None, momentum: float = 0.0,
                      eps: float = 1e-12) -> float:
    """Largest stable full-batch GD learning rate, 2 (1 + momentum) N / (lambda_max(Theta) + eps) (NT's API).

    N = y_train_size (f(x_train).size) defaults to the number of rows of the (flattened) kernel.
    Refuses kernels that are not finite, symmetric and positive semi-definite, or all zeros.
    """
    info = H.kernel_matrix(ntk_train_train, "ntk_train_train")
    n = info.n if y_train_size is None else V.check_positive_int(y_train_size, "y_train_size")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.integer, np.floating)):
        raise TypeError(f"momentum must be a real number in [0, 1), got {momentum!r}.")
    momentum = float(momentum)
    if not (0.0 <= momentum < 1.0):
        raise ValueError(f"momentum must be in [0, 1) (heavy-ball momentum), got {momentum}.")
    eps = V.check_positive_float(eps, "eps", allow_zero=True)
    lam = info.lam_max
    if lam is None:
        import scipy.linalg

        a = np.asarray(H.make_2d(np.asarray(ntk_train_train)), np.float64)
        lam = float(scipy.linalg.eigvalsh(a, subset_by_index=[info.n - 1, info.n - 1])[-1])
    if lam <= 0:
        raise ValueError("ntk_train_train has no positive eigenvalue (lambda_max = "
                         f"{lam:.3g}): gradient descent does not move, there is no stable learning rate.")
    return 2.0 * (1.0 + momentum) * n / (lam + eps)
