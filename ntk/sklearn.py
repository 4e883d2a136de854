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

import jax
import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.gaussian_process.kernels import Kernel
from sklearn.utils.validation import check_is_fitted, validate_data

from .dynamics import gradient_descent_mse
from .infinite import infinite_kernel
from .nets import mlp

_KERNELS = ("ntk", "nngp")


def _net(depth, activation, W_std, b_std, parameterization, width):
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ValueError(f"depth must be a positive integer (number of hidden layers), got {depth!r}.")
    return mlp([int(width)] * int(depth), 1, activation, W_std, b_std, parameterization)


def _check_kernel_name(kernel):
    if kernel not in _KERNELS:
        raise ValueError(f"kernel must be 'ntk' or 'nngp', got {kernel!r}.")


def _kernel_matrix(net, kernel, X, Y=None, batch_size=None):
    """float64 numpy kernel matrix between X and Y (scoped x64)."""
    with jax.enable_x64(True):
        X = np.asarray(X, dtype=np.float64)
        Y = None if Y is None else np.asarray(Y, dtype=np.float64)
        k = infinite_kernel(net, X, Y, get=kernel, batch_size=batch_size)
        return np.asarray(getattr(k, kernel), dtype=np.float64)


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
        """Store the training set and its kernel matrix."""
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        net = self._network()
        if self.t is not None and not (np.isfinite(self.t) and self.t >= 0):
            raise ValueError(f"t must be None (t = inf) or a time >= 0, got {self.t!r}.")
        if not (np.isfinite(self.diag_reg) and self.diag_reg >= 0):
            raise ValueError(f"diag_reg must be >= 0, got {self.diag_reg!r}.")
        self._y_1d = y.ndim == 1
        self.X_train_ = X
        self.y_train_ = y.reshape(len(y), -1).astype(np.float64)
        self.k_train_train_ = _kernel_matrix(net, self.kernel, X, batch_size=self.batch_size)
        if not np.all(np.isfinite(self.k_train_train_)):
            raise ValueError("The kernel of the training inputs is not finite; rescale the inputs.")
        return self

    def predict(self, X):
        """Mean prediction at X: shape (n,) for 1-D targets, else (n, n_outputs)."""
        check_is_fitted(self, "k_train_train_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        net = self._network()
        k_st = _kernel_matrix(net, self.kernel, X, self.X_train_, batch_size=self.batch_size)
        with jax.enable_x64(True):
            fn = gradient_descent_mse(self.k_train_train_, self.y_train_,
                                      learning_rate=self.learning_rate, diag_reg=self.diag_reg)
            zeros = np.zeros((X.shape[0], self.y_train_.shape[1]))
            _, f = fn(self.t, 0.0, zeros, k_st)
            f = np.asarray(f, dtype=np.float64)
        return f[:, 0] if self._y_1d else f


class NTKKernel(Kernel):
    """The infinite-width NTK or NNGP as a scikit-learn kernel (fixed, no hyperparameters).

    Use it in `sklearn.gaussian_process.GaussianProcessRegressor`, alone or combined with sklearn
    kernels (`NTKKernel(...) * ConstantKernel() + WhiteKernel()`), or in any estimator accepting a
    callable kernel. Not stationary: it depends on the inputs' norms and angle.
    """

    def __init__(self, depth=2, activation="relu", W_std=1.5, b_std=0.05, parameterization="ntk",
                 kernel="ntk", width=512, batch_size=None):
        self.depth = depth
        self.activation = activation
        self.W_std = W_std
        self.b_std = b_std
        self.parameterization = parameterization
        self.kernel = kernel
        self.width = width
        self.batch_size = batch_size

    def _network(self):
        _check_kernel_name(self.kernel)
        return _net(self.depth, self.activation, self.W_std, self.b_std, self.parameterization,
                    self.width)

    def __call__(self, X, Y=None, eval_gradient=False):
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if eval_gradient and Y is not None:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        K = _kernel_matrix(self._network(), self.kernel, X, None if Y is None else
                           np.atleast_2d(np.asarray(Y, dtype=np.float64)), self.batch_size)
        if eval_gradient:
            return K, np.empty((X.shape[0], X.shape[0], 0))
        return K

    def diag(self, X):
        """K(x, x) for each row of X, computed block by block (O(n), not O(n^2))."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        net = self._network()
        bs = 256
        out = [np.diag(_kernel_matrix(net, self.kernel, X[i:i + bs]))
               for i in range(0, X.shape[0], bs)]
        return np.concatenate(out) if out else np.zeros(0)

    def is_stationary(self):
        return False

    @property
    def requires_vector_input(self):
        return True

    def __repr__(self):
        return (f"NTKKernel(kernel={self.kernel!r}, depth={self.depth}, "
                f"activation={self.activation!r}, W_std={self.W_std}, b_std={self.b_std}, "
                f"parameterization={self.parameterization!r})")


__all__ = ["NTKKernel", "NTKRegressor"]
