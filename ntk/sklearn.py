"""scikit-learn interface: infinite-width NTK / NNGP regression as an estimator and as a kernel.

    from ntk.sklearn import NTKRegressor, NTKKernel
    reg = NTKRegressor(depth=3, activation="relu", kernel="ntk", t=None).fit(X, y)
    reg.predict(X_test)           # mean prediction of infinitely wide nets trained to time t

    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import WhiteKernel
    gpr = GaussianProcessRegressor(NTKKernel(depth=3, kernel="nngp") + WhiteKernel(1e-2)).fit(X, y)

`NTKRegressor.predict` is the mean over random initializations of an infinitely wide network
trained by full-batch gradient descent on MSE up to time `t` (steps, scaled by `learning_rate`;
t=None is t = infinity, i.e. kernel ridge regression with ridge `diag_reg * trace(K) / n`):
    f(X*) = K(X*, X) K^-1 (I - exp(-eta K t / N)) y         K = NTK (kernel="ntk") or NNGP.
Computations run in float64 inside a scoped `jax.enable_x64(True)` context (the global
`jax_enable_x64` flag is never changed), so results do not depend on the session's JAX setting.
The network's hidden width does not enter the NTK-parameterization limit; `width` is only used
by the standard parameterization, whose infinite-width kernel scales with it.
"""
from __future__ import annotations

import functools
import math
import numbers
import warnings

import jax
import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.gaussian_process.kernels import Hyperparameter, Kernel
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _health as H
from . import _validate as V
from .predict import gradient_descent_mse
from .infinite import infinite_kernel
from .nets import mlp

_KERNELS = ("ntk", "nngp")


def _net(depth, activation, W_std, b_std, parameterization, width):
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ValueError(f"depth must be a positive integer (number of hidden layers), got {depth!r}.")
    width = V.check_positive_int(width, "width")
    W_std = V.check_positive_float(W_std, "W_std")
    b_std = V.check_positive_float(b_std, "b_std", allow_zero=True)
    for name, v, power in (("W_std", W_std, 2 * (int(depth) + 1)), ("b_std", b_std, 2)):
        if v > 1 and power * math.log10(v) > 300:  # the kernel scales like v**power: beyond float64
            raise ValueError(f"{name}={v:g} is too large: the kernel scales like {name}^{power} and would "
                             f"overflow float64; use {name} <= {10 ** (300 / power):.3g}.")
    return mlp([width] * int(depth), 1, activation, W_std, b_std, parameterization)


def _check_kernel_name(kernel):
    if kernel not in _KERNELS:
        raise ValueError(f"kernel must be 'ntk' or 'nngp', got {kernel!r}.")


def _kernel_matrix(net, kernel, X, Y=None, batch_size=None):
    """float64 numpy kernel matrix between X and Y (scoped x64)."""
    with jax.enable_x64(True):
        X = np.asarray(X, dtype=np.float64)
        Y = None if Y is None else np.asarray(Y, dtype=np.float64)
        for name, a in (("X", X), ("Y", Y)):
            H.check_input_scale(a, name)
        k = infinite_kernel(net, X, Y, get=kernel, batch_size=batch_size)
        k = np.array(getattr(k, kernel), dtype=np.float64)  # a writable copy (sklearn edits K in place)
        return H.check_finite(k, f"The {kernel.upper()} of the inputs", inputs={"X": X, "Y": Y})


class NTKRegressor(RegressorMixin, BaseEstimator):
    """Regression with the infinite-width NTK or NNGP of a fully-connected network.

    Parameters
    ----------
    depth : number of hidden layers.
    activation : activation name ("relu", "erf", "gelu", "tanh", ...), see `ntk.mlp`.
    W_std, b_std : weight and bias standard deviations.
    parameterization : "ntk" or "standard".
    kernel : "ntk" (gradient-descent training of all layers) or "nngp" (readout only / Bayesian).
    t : training time in steps (scaled by `learning_rate`); None means fully trained (t = inf).
    learning_rate : gradient-descent learning rate eta (only matters for finite t).
    diag_reg : ridge added to the kernel diagonal, relative to its mean diagonal (trace / n).
    width : hidden width; only the standard parameterization's limit depends on it.
    batch_size : compute kernels in blocks of this size (bounds memory), None for one block.

    Attributes (after fit): X_train_, y_train_, k_train_train_, n_features_in_.
    """

    def __init__(self, depth=2, activation="relu", W_std=1.5, b_std=0.05, parameterization="ntk",
                 kernel="ntk", t=None, learning_rate=1.0, diag_reg=1e-6, width=512,
                 batch_size=None):
        self.depth = depth
        self.activation = activation
        self.W_std = W_std
        self.b_std = b_std
        self.parameterization = parameterization
        self.kernel = kernel
        self.t = t
        self.learning_rate = learning_rate
        self.diag_reg = diag_reg
        self.width = width
        self.batch_size = batch_size

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.regressor_tags.poor_score = False
        return tags

    def _network(self):
        _check_kernel_name(self.kernel)
        return _net(self.depth, self.activation, self.W_std, self.b_std, self.parameterization,
                    self.width)

    def fit(self, X, y):
        """Store the training set and its kernel matrix (warns if it is ill-conditioned)."""
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        net = self._network()
        H.check_time(self.t, "t")
        V.check_positive_float(self.learning_rate, "learning_rate")
        V.check_positive_float(self.diag_reg, "diag_reg", allow_zero=True)
        self._y_1d = y.ndim == 1
        self.X_train_ = X
        self.y_train_ = y.reshape(len(y), -1).astype(np.float64)
        self.k_train_train_ = _kernel_matrix(net, self.kernel, X, batch_size=self.batch_size)
        info = H.kernel_matrix(self.k_train_train_, "The kernel of the training inputs")
        shift = self.diag_reg * float(np.trace(self.k_train_train_)) / len(X)
        cond = H.condition_number(info.lam_min + shift, info.lam_max + shift) \
            if info.lam_min is not None else None
        H.warn_ill_conditioned(cond, f"The {self.kernel.upper()} of the training inputs", np.float64,
                               f"the fit (diag_reg={self.diag_reg:g})")
        return self

    def predict(self, X):
        """Mean prediction at X: shape (n,) for 1-D targets, else (n, n_outputs)."""
        check_is_fitted(self, "k_train_train_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        net = self._network()
        k_st = _kernel_matrix(net, self.kernel, X, self.X_train_, batch_size=self.batch_size)
        with jax.enable_x64(True), warnings.catch_warnings():
            # ill-conditioning was reported by fit
            warnings.simplefilter("ignore", H.IllConditionedWarning)
            fn = gradient_descent_mse(self.k_train_train_, self.y_train_,
                                      learning_rate=self.learning_rate, diag_reg=self.diag_reg)
            zeros = np.zeros((X.shape[0], self.y_train_.shape[1]))
            _, f = fn(self.t, 0.0, zeros, k_st)
            f = np.asarray(f, dtype=np.float64)
        return f[:, 0] if self._y_1d else f


def _kernel_and_grad(net, kernel, X, wrt):
    """float64 kernel K(X, X) and dK / d log(p) for p in `wrt` (names "W_std", "b_std"), shape
    (n, n, len(wrt)): exact derivatives of the infinite-width recursion by forward-mode autodiff
    (`jax.jacfwd`) with W_std and b_std as traced inputs (the quadrature rule of a non-closed-form
    activation is chosen once, at the current values). Compiled once per architecture and shape
    (`_grad_program`), so a GaussianProcessRegressor's many evaluations reuse one program."""
    import dataclasses

    from . import infinite as I

    if not hasattr(I, "_recursion") or not hasattr(I, "resolve_degree"):  # pragma: no cover
        raise NotImplementedError("NTKKernel gradients need ntk.infinite._recursion / resolve_degree.")
    with jax.enable_x64(True):
        Xj = jax.numpy.asarray(np.asarray(X, dtype=np.float64))
        degree = I.resolve_degree(net, (Xj,), None)
        if net.parameterization == "ntk":
            net = dataclasses.replace(net, widths=(1,) * net.depth)
        w0, b0 = jax.numpy.float64(net.W_std), jax.numpy.float64(net.b_std)
        argnums = tuple(i for i, name in enumerate(("W_std", "b_std")) if name in wrt)
        names = [("W_std", "b_std")[i] for i in argnums]
        vals = {"W_std": net.W_std, "b_std": net.b_std}
        shape_net = dataclasses.replace(net, W_std=1.0, b_std=1.0)  # the cache key: architecture only
        K, gs = _grad_program(shape_net, kernel, degree, argnums, False)(Xj, w0, b0)
        if not argnums:
            return np.array(K, dtype=np.float64), np.empty(K.shape + (0,))

        def log_grads(gs):
            G = np.stack([np.asarray(g, np.float64) * vals[nm] for g, nm in zip(gs, names)], axis=-1)
            return G[..., [names.index(nm) for nm in wrt]]

        G = log_grads(gs)
        # Pairs of identical inputs (the diagonal, duplicated rows) have correlation exactly 1, where
        # the pair recursion's derivative is 0 * inf; take them from the variance-only recursion.
        bad = ~np.all(np.isfinite(G), axis=-1)
        if bad.any():
            Gd = log_grads(_grad_program(shape_net, kernel, degree, argnums, True)(Xj, w0, b0)[1])
            same = np.all(X[:, None, :] == X[None, :, :], axis=-1)
            ii, jj = np.nonzero(bad & same)
            G[ii, jj] = Gd[ii]
            if not np.all(np.isfinite(G)):
                raise H.NonFiniteError(
                    "NTKKernel's gradient is not finite for some pairs of distinct inputs (correlation "
                    "+-1, e.g. x' = -x with b_std = 0); fix b_std (b_std_bounds='fixed') or use b_std > 0.")
        return np.array(K, dtype=np.float64), G


@functools.lru_cache(maxsize=32)
def _grad_program(net, kernel, degree, argnums, diagonal):
    """Jitted (X, W_std, b_std) -> (kernel, its derivatives in the argnums of (W_std, b_std)): the
    pair recursion of `ntk.infinite` (n, n), or with `diagonal` the variance-only one (n,)."""
    import dataclasses

    from . import infinite as I

    def k_of(X, w, b):
        nw = dataclasses.replace(net, W_std=w, b_std=b)
        if diagonal:
            return _diag_recursion(nw, X, degree, kernel == "ntk")
        K, T = I._recursion(nw, X, X, degree, kernel == "ntk")
        return K if kernel == "nngp" else T

    def program(X, w, b):
        K = k_of(X, w, b)
        gs = jax.jacfwd(k_of, argnums=tuple(a + 1 for a in argnums))(X, w, b) if argnums else ()
        return K, gs

    return jax.jit(program)


def _diag_recursion(net, X, degree, get_ntk):
    """K(x, x) (or Theta(x, x)) for each row of X from the variances alone (correlation 1):
    the diagonal of `ntk.infinite`'s layer recursion (same conventions), differentiable in
    W_std and b_std everywhere."""
    from .activations import pair_maps

    nngp_map, dot_map = pair_maps(net.activation, degree)
    W2, b2 = net.W_std**2, net.b_std**2
    sq = jax.numpy.sum(X * X, axis=1)
    q = W2 * sq / X.shape[1] + b2
    T = q if net.parameterization == "ntk" else sq + 1.0
    for width in net.widths:
        one = jax.numpy.ones_like(q)
        S = nngp_map(q, q, one)
        if get_ntk:
            Sd = dot_map(q, q, one)
            lead = W2 * S + b2 if net.parameterization == "ntk" else width * S + 1.0
            T = lead + W2 * Sd * T
        q = W2 * S + b2
    return T if get_ntk else q


def _check_bounds(bounds, name):
    if isinstance(bounds, str):
        if bounds != "fixed":
            raise ValueError(f"{name} must be a (low, high) pair or 'fixed', got {bounds!r}.")
        return bounds
    try:
        lo, hi = (float(v) for v in bounds)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a (low, high) pair of positive numbers or 'fixed', "
                        f"got {bounds!r}.") from None
    if not (0 < lo < hi < np.inf):
        raise ValueError(f"{name} must satisfy 0 < low < high < inf, got {bounds!r}.")
    return bounds


class NTKKernel(Kernel):
    """The infinite-width NTK or NNGP as a scikit-learn kernel, with W_std and b_std as
    hyperparameters.

    Use it in `sklearn.gaussian_process.GaussianProcessRegressor`, alone or combined with sklearn
    kernels (`NTKKernel(...) * ConstantKernel() + WhiteKernel()`), or in any estimator accepting a
    callable kernel. Not stationary: it depends on the inputs' norms and angle.

    Hyperparameters (log-scale `theta`, in sklearn's order): `W_std` (bounds `W_std_bounds`) and
    `b_std` (`b_std_bounds`); pass "fixed" to keep one fixed (b_std = 0 is always fixed). With
    `eval_gradient=True` the kernel returns exact gradients dK/dlog(W_std), dK/dlog(b_std) (forward-
    mode autodiff of the kernel recursion), so a GaussianProcessRegressor fits them by maximizing
    the marginal likelihood.
    """

    def __init__(self, depth=2, activation="relu", W_std=1.5, b_std=0.05, parameterization="ntk",
                 kernel="ntk", width=512, batch_size=None, W_std_bounds=(1e-2, 1e2),
                 b_std_bounds=(1e-5, 1e2)):
        self.depth = depth
        self.activation = activation
        self.W_std = W_std
        self.b_std = b_std
        self.parameterization = parameterization
        self.kernel = kernel
        self.width = width
        self.batch_size = batch_size
        self.W_std_bounds = W_std_bounds
        self.b_std_bounds = b_std_bounds

    @property
    def hyperparameter_W_std(self):
        return Hyperparameter("W_std", "numeric", _check_bounds(self.W_std_bounds, "W_std_bounds"))

    @property
    def hyperparameter_b_std(self):
        bounds = _check_bounds(self.b_std_bounds, "b_std_bounds")
        if not (isinstance(self.b_std, numbers.Real) and self.b_std > 0):
            bounds = "fixed"  # log(0) has no gradient; b_std = 0 stays 0
        return Hyperparameter("b_std", "numeric", bounds)

    def _network(self):
        _check_kernel_name(self.kernel)
        return _net(self.depth, self.activation, self.W_std, self.b_std, self.parameterization,
                    self.width)

    def _free(self):
        return [h.name for h in self.hyperparameters if not h.fixed]

    def __call__(self, X, Y=None, eval_gradient=False):
        X = _as_rows(X, "X")
        if eval_gradient and Y is not None:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        net = self._network()
        if eval_gradient:
            return _kernel_and_grad(net, self.kernel, X, self._free())
        Y = None if Y is None else _as_rows(Y, "Y")
        if Y is not None and Y.shape[1] != X.shape[1]:
            raise ValueError(f"X and Y must have the same number of features, got {X.shape[1]} and "
                             f"{Y.shape[1]}.")
        return np.array(_kernel_matrix(net, self.kernel, X, Y, self.batch_size), dtype=np.float64)

    def diag(self, X):
        """K(x, x) for each row of X, computed block by block (O(n), not O(n^2))."""
        X = _as_rows(X, "X")
        net = self._network()
        bs = 256
        out = [np.diag(_kernel_matrix(net, self.kernel, X[i:i + bs]))
               for i in range(0, X.shape[0], bs)]
        return np.array(np.concatenate(out), dtype=np.float64)

    def is_stationary(self):
        return False

    @property
    def requires_vector_input(self):
        return True

    def __repr__(self):
        return (f"NTKKernel(kernel={self.kernel!r}, depth={self.depth}, "
                f"activation={self.activation!r}, W_std={_fmt(self.W_std)}, b_std={_fmt(self.b_std)}, "
                f"parameterization={self.parameterization!r})")


def _fmt(v):
    return f"{v:.4g}" if isinstance(v, numbers.Real) else repr(v)


def _as_rows(X, name):
    if isinstance(X, (str, bytes)):
        raise TypeError(f"{name} must be a numeric array of shape (n, d), got a string.")
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a numeric array of shape (n, d): {e}") from None
    X = np.atleast_2d(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got {X.shape}.")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {X.shape}).")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN/inf values.")
    return X


__all__ = ["NTKKernel", "NTKRegressor"]
