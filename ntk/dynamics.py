"""Training dynamics: the actual network and its linearization side by side, and closed forms.

Loss convention (as neural-tangents): L = 1/(2 N) sum (f(x_i) - y_i)^2 with N = y_train.size
(all samples and outputs). Full-batch gradient descent with learning rate eta then gives, for the
linearized model, the function-space flow

    df_train/dt = -(eta / N) Theta (f_train - y)          (Theta (x) I over output units)

solved in closed form by `gradient_descent_mse`. Its largest stable step is
eta_max = 2 (1 + momentum) N / lambda_max(Theta) (`max_learning_rate`).
"""
from __future__ import annotations

import dataclasses
import functools
import warnings
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _validate as V
from .empirical import empirical_ntk
from .nets import as_apply_fn

# ---------------------------------------------------------------------------------------------
# Closed forms
# ---------------------------------------------------------------------------------------------


def _add_reg(k, diag_reg, absolute):
    n = k.shape[0]
    if diag_reg == 0:
        return k
    scale = diag_reg if absolute else diag_reg * jnp.trace(k) / n
    return k + scale * jnp.eye(n, dtype=k.dtype)


def _check_kernel(k, name):
    arr = np.asarray(k)  # host-side checks: no compiled op per shape
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be a square (n, n) matrix, got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN/inf; check the kernel computation or use float64.")
    return V.as_jax(k if isinstance(k, jax.Array) else arr)


def _as_2d_y(y, name="y_train"):
    y = np.asarray(y) if not isinstance(y, jax.core.Tracer) else y
    if isinstance(y, np.ndarray) and not np.issubdtype(y.dtype, np.inexact):
        y = y.astype(jnp.result_type(float))
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise ValueError(f"{name} must have shape (n,) or (n, k), got {y.shape}.")
    if isinstance(y, np.ndarray) and not np.all(np.isfinite(y)):
        raise ValueError(f"{name} contains NaN/inf values.")
    return V.as_jax(y)


def max_learning_rate(ntk_train_train, y_train_size: Optional[int] = None, momentum: float = 0.0,
                      eps: float = 1e-12) -> float:
    """Largest stable full-batch GD learning rate, 2 (1 + momentum) N / lambda_max(Theta).

    N = y_train_size defaults to the number of training points (one output).
    """
    k = _check_kernel(ntk_train_train, "ntk_train_train")
    n = k.shape[0] if y_train_size is None else int(y_train_size)
    lam = float(np.linalg.eigvalsh(np.asarray(k, dtype=np.float64))[-1])
    return 2.0 * (1.0 + momentum) * n / (lam + eps)


def _eig_fns(evals, t, lr, N, discrete):
    """g1 = expm1-like factor on the train set, g2 = g1 / lambda for the test set."""
    lam = jnp.maximum(evals, 0.0)
    tt = t[:, None]
    if discrete:
        base = 1.0 - lr * lam / N
        g1 = jnp.power(base, tt) - 1.0
        small = lam * lr / N < 1e-10
        g2 = jnp.where(small, -tt * lr / N, g1 / jnp.where(small, 1.0, lam))
    else:
        x = -lam * tt * lr / N
        g1 = jnp.expm1(x)
        small = lam < 1e-30
        g2 = jnp.where(small, -tt * lr / N, g1 / jnp.where(small, 1.0, lam))
    return g1, g2


_eigh = jax.jit(jnp.linalg.eigh)


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


def gradient_descent_mse(k_train_train, y_train, learning_rate: float = 1.0, diag_reg: float = 0.0,
                         diag_reg_absolute_scale: bool = False, discrete: bool = False):
    """Closed-form MSE training of a linear model with kernel Theta = k_train_train.

    Returns predict_fn(t=None, fx_train_0=0., fx_test_0=None, k_test_train=None):
      * t: time (scalar or array; in units of steps, scaled by learning_rate) or None for t = inf;
      * returns fx_train_t, or (fx_train_t, fx_test_t) if fx_test_0 is given, with t's shape
        prepended. `discrete=True` gives exact discrete gradient descent after integer t steps:
        (f_t - y) = (I - eta Theta / N)^t (f_0 - y).
    The eigendecomposition is computed once, on the first finite-t call.
    """
    k = _check_kernel(k_train_train, "k_train_train")
    y = _as_2d_y(y_train)
    squeeze = jnp.ndim(y_train) == 1
    if y.shape[0] != k.shape[0]:
        raise ValueError(f"y_train has {y.shape[0]} rows but k_train_train is {k.shape}.")
    lr = V.check_positive_float(learning_rate, "learning_rate")
    N = y.size
    kr = _add_reg(k, diag_reg, diag_reg_absolute_scale)

    @functools.lru_cache(1)
    def eig():
        return _eigh(kr)

    def predict_fn(t=None, fx_train_0=0.0, fx_test_0=None, k_test_train=None):
        if fx_test_0 is not None and k_test_train is None:
            raise ValueError("k_test_train is needed to predict on test points (fx_test_0 given).")
        f0 = 0.0 if fx_train_0 is None else fx_train_0
        # Host-side (numpy) shaping of concrete inputs: no compiled op per shape.
        xp = jnp if isinstance(f0, jax.core.Tracer) or isinstance(fx_test_0, jax.core.Tracer) else np
        f0 = xp.asarray(f0, y.dtype)
        f0 = xp.broadcast_to(f0.reshape(y.shape) if f0.size == y.size else f0, y.shape)
        if fx_test_0 is not None:
            m = jnp.shape(k_test_train)[0]
            ft0 = xp.asarray(fx_test_0, y.dtype)
            ft0 = xp.broadcast_to(ft0.reshape(m, y.shape[1]) if ft0.size == m * y.shape[1] else ft0,
                                  (m, y.shape[1]))
        if t is None:
            rhs = f0 - y
            ftr = y
            if fx_test_0 is not None:
                sol = jnp.linalg.solve(kr, -rhs)
                fte = ft0 + V.as_jax(k_test_train) @ sol
        else:
            tarr = np.atleast_1d(np.asarray(t, dtype=y.dtype)).reshape(-1)
            evals, evecs = eig()
            kt = None if fx_test_0 is None else V.as_jax(k_test_train)
            ftr, fte = _gd_flow(evals, evecs, tarr, f0, y, kt, None if kt is None else ft0,
                                np.asarray(lr, y.dtype), np.asarray(N, y.dtype), discrete)
            shape = jnp.shape(t)
            ftr = ftr.reshape(shape + ftr.shape[1:])
            if fx_test_0 is not None:
                fte = fte.reshape(shape + fte.shape[1:])
        if squeeze:
            ftr = ftr[..., 0]
            if fx_test_0 is not None:
                fte = fte[..., 0]
        if fx_test_0 is None:
            return ftr
        return ftr, fte

    return predict_fn


def gp_inference(k_train_train, y_train, k_test_train, k_test_test=None, diag_reg: float = 0.0,
                 diag_reg_absolute_scale: bool = False):
    """Exact GP posterior with kernel k: mean = k_* (K + reg)^-1 y, cov = k_** - k_* (K+reg)^-1 k_*^T.

    Returns (mean (m, k), cov (m, m) or None when k_test_test is None).
    """
    k = _add_reg(_check_kernel(k_train_train, "k_train_train"), diag_reg, diag_reg_absolute_scale)
    y = _as_2d_y(y_train)
    kt = V.as_jax(k_test_train)
    c = jax.scipy.linalg.cho_factor(k)
    mean = kt @ jax.scipy.linalg.cho_solve(c, y)
    cov = None
    if k_test_test is not None:
        cov = V.as_jax(k_test_test) - kt @ jax.scipy.linalg.cho_solve(c, kt.T)
    return mean, cov


@functools.partial(jax.jit, static_argnames=("get", "with_cov"))
def _ensemble_core(T, K, Ts, Ks, Kss, y, ts, rate, get, with_cov):
    """Vectorized over times ts: (means (nt, m, k), covs (nt, m, m) or None); rate = lr / N."""
    evals, evecs = jnp.linalg.eigh(T)
    lam = jnp.maximum(evals, 1e-300 if evals.dtype == jnp.float64 else 1e-30)

    def one(tt):
        fac = -jnp.expm1(-lam * tt * rate) / lam
        A = (evecs * fac) @ evecs.T
        mean = Ts @ A @ y
        if not with_cov:
            return mean, None
        if get == "ntk":
            TA = Ts @ A
            cross = TA @ Ks.T
            cov = Kss + TA @ K @ TA.T - (cross + cross.T)
        else:
            fac2 = -jnp.expm1(-2 * lam * tt * rate) / lam
            A2 = (evecs * fac2) @ evecs.T
            cov = Kss - Ts @ A2 @ Ts.T
        return mean, cov

    return jax.vmap(one)(ts)


def ensemble_mse(nngp_train_train, ntk_train_train, y_train, nngp_test_train, ntk_test_train,
                 nngp_test_test=None, t=None, learning_rate: float = 1.0, diag_reg: float = 0.0,
                 get: str = "ntk", compute_cov: bool = True):
    """Mean and covariance over random initializations of infinitely wide nets trained by GD on MSE.

    With A_t = Theta^-1 (I - exp(-eta Theta t / N)) (t = None means t = inf):
      mean_t = Theta_* A_t y
      cov_t  = K_** + Theta_* A_t K A_t^T Theta_*^T - (Theta_* A_t K_*^T + transpose)   (get="ntk")
    and for get="nngp" (training only the readout / Bayesian view) Theta is replaced by K and
      cov_t  = K_** - K_* K^-1 (I - exp(-2 eta K t / N)) K_*^T.
    Returns (mean (m, k), cov (m, m) or None); t may be an array (leading axis added).
    """
    y = _as_2d_y(y_train)
    N = y.size
    lr = V.check_positive_float(learning_rate, "learning_rate")
    K = _check_kernel(nngp_train_train, "nngp_train_train")
    if get == "ntk":
        T = _add_reg(_check_kernel(ntk_train_train, "ntk_train_train"), diag_reg, False)
        Ts = V.as_jax(ntk_test_train)
    elif get == "nngp":
        T = _add_reg(K, diag_reg, False)
        Ts = V.as_jax(nngp_test_train)
    else:
        raise ValueError(f"get must be 'ntk' or 'nngp', got {get!r}.")
    scalar_t = t is None or jnp.ndim(t) == 0
    ts = np.atleast_1d(np.asarray(np.inf if t is None else t, dtype=y.dtype)).reshape(-1)
    with_cov = compute_cov and nngp_test_test is not None
    Kss = V.as_jax(nngp_test_test) if with_cov else None
    means, covs = _ensemble_core(T, K, Ts, V.as_jax(nngp_test_train), Kss, y, ts,
                                 np.asarray(lr / N, y.dtype), get, with_cov)
    if scalar_t:
        return means[0], (None if covs is None else covs[0])
    return means, covs


# ---------------------------------------------------------------------------------------------
# Training the network and its linearization
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class TrainResult:
    """Recorded trajectories of the network ("f_") and its linearization ("lin_f_").

    Arrays have a leading axis over `steps` (the recorded step numbers). Relative weight change is
    |theta_t - theta_0| / |theta_0|; relative kernel change |Theta_t - Theta_0|_F / |Theta_0|_F.
    """

    steps: np.ndarray
    loss_train: np.ndarray
    loss_test: Optional[np.ndarray]
    f_train: np.ndarray
    f_test: Optional[np.ndarray]
    weight_change: np.ndarray
    lin_loss_train: Optional[np.ndarray] = None
    lin_loss_test: Optional[np.ndarray] = None
    lin_f_train: Optional[np.ndarray] = None
    lin_f_test: Optional[np.ndarray] = None
    lin_weight_change: Optional[np.ndarray] = None
    kernel_change: Optional[np.ndarray] = None
    kernels: Optional[np.ndarray] = None
    diverged: bool = False
    diverged_step: Optional[int] = None
    message: str = ""
    learning_rate: float = 0.0
    optimizer: str = "sgd"
    max_stable_lr: Optional[float] = None
    params: Any = None
    lin_params: Any = None

    def __repr__(self):
        status = f"diverged at step {self.diverged_step}" if self.diverged else "ok"
        last = self.steps[-1] if len(self.steps) else 0
        lt = f"{self.loss_train[-1]:.3g}" if len(self.loss_train) else "-"
        return (f"TrainResult({len(self.steps)} records up to step {last}, optimizer={self.optimizer}, "
                f"lr={self.learning_rate:g}, final train loss={lt}, {status})")


def make_optimizer(optimizer, learning_rate: float, momentum: float = 0.9):
    """(optax GradientTransformation, initial-state hook) from a name or pass-through.

    Named optimizers ("sgd", "momentum", "adam") are built once per (name, momentum) with
    `optax.inject_hyperparams`, so the learning rate lives in the optimizer state: changing it
    does not recompile the training loop.
    """
    if isinstance(optimizer, optax.GradientTransformation):
        return optimizer, None
    name = str(optimizer).lower()
    if name not in ("sgd", "gd", "momentum", "adam"):
        raise ValueError(f"Unknown optimizer {optimizer!r}; use 'sgd', 'momentum', 'adam' or an "
                         "optax GradientTransformation.")
    opt = _named_optimizer(name, float(momentum) if name == "momentum" else 0.0)

    def set_lr(state):
        state.hyperparams["learning_rate"] = jnp.asarray(learning_rate)
        return state

    return opt, set_lr


@functools.lru_cache(maxsize=16)
def _named_optimizer(name: str, momentum: float):
    if name in ("sgd", "gd"):
        return optax.inject_hyperparams(optax.sgd)(learning_rate=1.0)
    if name == "momentum":
        return optax.inject_hyperparams(optax.sgd)(learning_rate=1.0, momentum=momentum)
    return optax.inject_hyperparams(optax.adam)(learning_rate=1.0)


def _mse(f, y):
    return 0.5 * jnp.mean((f - y) ** 2)


def _tree_norm(t):
    return jnp.sqrt(sum(jnp.sum(jnp.square(a)) for a in jax.tree_util.tree_leaves(t)))


def _tree_sub(a, b):
    return jax.tree_util.tree_map(lambda u, v: u - v, a, b)


def _runner_fn(apply_fn, opt, linearized: bool, network: bool = True, fspace=None):
    """`run(state, n, params0, x, y, theta, lr)`: n full-batch steps of the net and/or its
    linearization. state = (params, opt_state, lin_params, lin_opt_state, f_lin_train, w).

    The linear model is linearized once per call, outside the loop (residuals of f at theta0 are
    stored), so the loop body never re-traces a jvp. Its gradient is J^T r / N (one VJP at theta0).
    With `fspace = momentum` (plain SGD / heavy-ball momentum, which are linear in the
    gradients) the train-set outputs are advanced in function space, J u = -lr (Theta r / N + m J v),
    with the precomputed kernel `theta` (nk x nk) instead of a JVP per step; otherwise f_lin on the
    train set is a JVP of the parameter change. `network=False` steps only the linear model.
    `lr` is a traced argument, so a new learning rate does not recompile.
    """

    def run(state, n, params0, x, y, theta, lr):
        p, o, pl, ol, fl, wl = state
        N = y.size

        def net_loss(q):
            return _mse(apply_fn(q, x), y)

        if linearized:
            if fspace is None:
                f0, jvp_lin = jax.linearize(lambda q: apply_fn(q, x), params0)
                vjp_lin = jax.linear_transpose(jvp_lin, params0)
            else:
                _, vjp_lin = jax.vjp(lambda q: apply_fn(q, x), params0)
                m = fspace

        def body(_, s):
            p, o, pl, ol, fl, wl = s
            if network:
                g = jax.grad(net_loss)(p)
                upd, o = opt.update(g, o, p)
                p = optax.apply_updates(p, upd)
            if linearized:
                if fspace is None:
                    r = f0 + jvp_lin(_tree_sub(pl, params0)) - y
                else:
                    r = fl - y
                (gl,) = vjp_lin(r / N)
                updl, ol = opt.update(gl, ol, pl)
                pl = optax.apply_updates(pl, updl)
                if fspace is not None:
                    wl = (theta @ r.reshape(-1)).reshape(r.shape) / N + m * wl
                    fl = fl - lr * wl
            return p, o, pl, ol, fl, wl

        return jax.lax.fori_loop(0, n, body, (p, o, pl, ol, fl, wl))

    return run


@functools.lru_cache(maxsize=32)
def _make_runner(apply_fn, opt, linearized: bool, network: bool = True, fspace=None):
    """Jitted `_runner_fn` (see there)."""
    return jax.jit(_runner_fn(apply_fn, opt, linearized, network, fspace))


def _outputs(apply_fn, linearized, p, pl, params0, x):
    """(f(x; p), f_lin(x; pl)) with f_lin the linearization at params0 (f_lin = f without it)."""
    f = apply_fn(p, x)
    if linearized:
        f0, df = jax.jvp(lambda q: apply_fn(q, x), (params0,), (_tree_sub(pl, params0),))
        return f, f0 + df
    return f, f


@functools.lru_cache(maxsize=32)
def _make_start(apply_fn, opt, set_lr: bool):
    """Jitted initial training state (params, opt state, linear copies, f(x_train), 0) and |theta0|.
    `set_lr`: write `lr` into the state of a named (inject_hyperparams) optimizer."""

    def start(params0, x, lr):
        def init(p):
            st = opt.init(p)
            if set_lr:
                st.hyperparams["learning_rate"] = jnp.asarray(lr)
            return st

        f = apply_fn(params0, x).astype(lr.dtype)  # lr carries the dtype of y_train
        state = (params0, init(params0), params0, init(params0), f, jnp.zeros_like(f))
        norm0 = _tree_norm(params0)
        return state, jnp.where(norm0 > 0, norm0, jnp.ones_like(norm0))

    return jax.jit(start)


@functools.lru_cache(maxsize=32)
def _make_segment(apply_fn, opt, linearized: bool, fspace=None):
    """Jitted `segment(state, n, params0, x, y, theta, lr, norm0, x_test, y_test)`: n training
    steps (`_runner_fn`) followed by everything recorded at that step, in one compiled call:
    outputs and losses of both models on train (and test) points and the relative weight changes.
    x_test / y_test may be None."""
    run = _runner_fn(apply_fn, opt, linearized, True, fspace)

    def segment(state, n, params0, x, y, theta, lr, norm0, xt, yt):
        state = run(state, n, params0, x, y, theta, lr)
        p, _, pl, _, _, _ = state
        ft, lft = _outputs(apply_fn, linearized, p, pl, params0, x)
        rec = dict(ft=ft, lt=_mse(ft, y), wc=_tree_norm(_tree_sub(p, params0)) / norm0,
                   lft=lft, llt=_mse(lft, y), lwc=_tree_norm(_tree_sub(pl, params0)) / norm0)
        if xt is not None:
            fte, lfte = _outputs(apply_fn, linearized, p, pl, params0, xt)
            rec.update(fte=fte, lfte=lfte)
            if yt is not None:
                rec.update(lte=_mse(fte, yt), llte=_mse(lfte, yt))
        return state, rec

    return jax.jit(segment)


def _record_steps(steps, record_every, record_steps):
    if record_steps is not None:
        rs = np.unique(np.asarray(record_steps, dtype=int))
        if rs.size == 0 or rs[0] < 0:
            raise ValueError("record_steps must be non-negative step numbers.")
        if rs[0] != 0:
            rs = np.concatenate([[0], rs])
        return rs[rs <= steps] if steps is not None else rs
    every = record_every or max(1, steps // 50)
    every = V.check_positive_int(every, "record_every")
    rs = np.arange(0, steps + 1, every)
    if rs[-1] != steps:
        rs = np.append(rs, steps)
    return rs


def train(net_or_fn, params0, x_train, y_train, x_test=None, y_test=None, *,
          learning_rate: float = 1.0, steps: int = 1000, optimizer="sgd", momentum: float = 0.9,
          record_every: Optional[int] = None, record_steps=None, linearized: bool = True,
          track_kernel: bool = False, check_stability: bool = True,
          divergence_factor: float = 1e3, progress: Optional[Callable[[int, int], None]] = None
          ) -> TrainResult:
    """Train the network and (optionally) its linearization at params0 side by side.

    Full-batch MSE (0.5 * mean squared error over all entries) with an optax optimizer ("sgd"
    default, "momentum", "adam", or an optax GradientTransformation). At each recorded step it
    stores train/test predictions and losses of both models, the relative weight change and, with
    `track_kernel`, the empirical NTK on the training set and its relative change.

    Divergence (non-finite loss, or loss above `divergence_factor` times its start) stops training;
    the result then has `diverged=True`, the step and a message, and no records past it. With
    `check_stability` the largest stable SGD learning rate (from the NTK at init) is computed and a
    warning is issued when learning_rate exceeds it.
    """
    apply_fn, net = as_apply_fn(net_or_fn)
    x_train = V.check_inputs(x_train, "x_train")
    y_train = _as_2d_y(y_train)
    if y_train.shape[0] != x_train.shape[0]:
        raise ValueError(f"x_train has {x_train.shape[0]} points but y_train has {y_train.shape[0]}.")
    has_test = x_test is not None
    if has_test:
        x_test = V.check_inputs(x_test, "x_test")
        if x_test.shape[1] != x_train.shape[1]:
            raise ValueError("x_test and x_train must have the same number of features.")
        if y_test is not None:
            y_test = _as_2d_y(y_test, "y_test")
    lr = V.check_positive_float(learning_rate, "learning_rate")
    steps = int(steps)
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}.")
    out = jax.eval_shape(apply_fn, params0, x_train)
    if out.shape != y_train.shape:
        raise ValueError(f"The network outputs {out.shape} on x_train but y_train is {y_train.shape}.")
    if y_train.dtype != out.dtype:
        y_train = y_train.astype(out.dtype)
    opt_name = optimizer.lower() if isinstance(optimizer, str) else "custom"
    opt, set_lr = make_optimizer(optimizer, lr, momentum)

    # Kernels at init. A single-output network's full (n, n, 1, 1) kernel is its traced kernel,
    # so one compiled kernel function serves the stability check, kernel tracking and the
    # function-space updates below.
    single = net is not None and y_train.shape[1] == 1

    def kernel_np(p):
        if single:
            return np.asarray(empirical_ntk(net, p, x_train, trace=False))[:, :, 0, 0]
        return np.asarray(empirical_ntk(net_or_fn, p, x_train))

    theta0_np = None
    max_lr = None
    message = ""
    if check_stability or track_kernel:
        theta0_np = kernel_np(params0)
        if check_stability and opt_name in ("sgd", "gd", "momentum"):
            max_lr = max_learning_rate(theta0_np, y_train.size,
                                       momentum=momentum if opt_name == "momentum" else 0.0)
            if lr > max_lr:
                message = (f"learning_rate={lr:g} exceeds the largest stable value "
                           f"2N/lambda_max = {max_lr:.4g} for this network; training is expected to "
                           "diverge. Lower the learning rate below that limit.")
                warnings.warn(message, RuntimeWarning, stacklevel=2)

    rsteps = _record_steps(steps, record_every, record_steps)
    fspace, theta_full = None, np.zeros((1, 1), y_train.dtype)
    if linearized and net is not None and opt_name in ("sgd", "gd", "momentum"):
        # Linear optimizers: advance the linear model's train outputs in function space.
        fspace = float(momentum) if opt_name == "momentum" else 0.0
        n_, k_ = y_train.shape
        if single and theta0_np is not None:
            theta_full = theta0_np.astype(y_train.dtype)
        else:
            th = np.asarray(empirical_ntk(net, params0, x_train, trace=False))  # (n, n, k, k)
            theta_full = th.transpose(0, 2, 1, 3).reshape(n_ * k_, n_ * k_).astype(y_train.dtype)
    segment = _make_segment(apply_fn, opt, linearized, fspace)
    lr_arr = np.asarray(lr, y_train.dtype)
    state, norm0 = _make_start(apply_fn, opt, set_lr is not None)(params0, x_train, lr_arr)

    rec = {k: [] for k in ("steps", "lt", "lte", "ft", "fte", "wc", "llt", "llte", "lft", "lfte",
                           "lwc", "kc", "K")}
    loss0 = None
    diverged, dstep = False, None
    current = 0
    for target in rsteps:
        n = int(target - current)
        state, r = segment(state, np.asarray(max(n, 0), np.int32), params0, x_train, y_train,
                           theta_full, lr_arr, norm0, x_test if has_test else None, y_test)
        current = max(current, int(target))
        r = jax.device_get(r)
        lt, llt = float(r["lt"]), float(r["llt"])
        if loss0 is None:
            loss0 = max(lt, float(0.5 * np.mean(np.asarray(y_train) ** 2)), 1e-12)
        bad = [v for v in ((lt,) + ((llt,) if linearized else ())) if not np.isfinite(v)
               or v > divergence_factor * loss0]
        if bad:
            diverged, dstep = True, current
            message = (f"Training diverged by step {current} (loss {bad[0]:.3g}, started at "
                       f"{loss0:.3g}). " + (
                           f"The learning rate {lr:g} is above the stable limit {max_lr:.4g}; lower it."
                           if max_lr is not None and lr > max_lr else
                           "Lower the learning rate."))
            break
        rec["steps"].append(current)
        rec["lt"].append(lt)
        rec["ft"].append(np.asarray(r["ft"]))
        rec["wc"].append(float(r["wc"]))
        if linearized:
            rec["llt"].append(llt)
            rec["lft"].append(np.asarray(r["lft"]))
            rec["lwc"].append(float(r["lwc"]))
        if has_test:
            rec["fte"].append(np.asarray(r["fte"]))
            if linearized:
                rec["lfte"].append(np.asarray(r["lfte"]))
            if y_test is not None:
                rec["lte"].append(float(r["lte"]))
                if linearized:
                    rec["llte"].append(float(r["llte"]))
        if track_kernel:
            Kt = kernel_np(state[0])
            rec["K"].append(Kt)
            rec["kc"].append(float(np.linalg.norm(Kt - theta0_np) / np.linalg.norm(theta0_np)))
        if progress is not None:
            progress(current, steps)

    def arr(key):
        return np.asarray(rec[key]) if rec[key] else None

    p, _, pl, _, _, _ = state
    return TrainResult(
        steps=np.asarray(rec["steps"], dtype=int), loss_train=np.asarray(rec["lt"]),
        loss_test=arr("lte"), f_train=arr("ft"), f_test=arr("fte"), weight_change=np.asarray(rec["wc"]),
        lin_loss_train=arr("llt"), lin_loss_test=arr("llte"), lin_f_train=arr("lft"),
        lin_f_test=arr("lfte"), lin_weight_change=arr("lwc"), kernel_change=arr("kc"),
        kernels=arr("K"), diverged=diverged, diverged_step=dstep, message=message,
        learning_rate=lr, optimizer=opt_name, max_stable_lr=max_lr,
        params=None if diverged else p, lin_params=None if diverged else pl,
    )
