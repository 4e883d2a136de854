"""Training the network and its linearization side by side (optax), with divergence detection.

    res = ntk.train(net, params0, x_train, y_train, x_test, y_test, learning_rate=0.5, steps=1000)
    res.loss_train, res.lin_loss_train, res.f_test, res.lin_f_test, res.weight_change, ...

Loss: full-batch MSE 0.5 * mean((f - y)^2) over all entries (neural-tangents' convention), so
the linearized model follows the function-space flow solved by `ntk.predict.gradient_descent_mse`
and the largest stable SGD step is `ntk.predict.max_learning_rate`. The compiled loop state is a
`TrainState` and each recorded step a `StepRecord` (NamedTuples); progress callbacks are
`progress(done, total, label)` (old two-argument callbacks are accepted).
"""
from __future__ import annotations

import dataclasses
import functools
import numbers
import warnings
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _health as H
from . import _validate as V
from .empirical import empirical_ntk
from .nets import as_apply_fn
from .predict import _check_y, max_learning_rate

__all__ = ["StepRecord", "TrainResult", "TrainState", "make_optimizer", "train"]


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


class TrainState(NamedTuple):
    """State of the compiled training loop (a pytree).

    params / opt_state: the network; lin_params / lin_opt_state: its linearization at params0;
    lin_f_train: the linear model's train outputs and lin_velocity its function-space momentum
    term (both only advanced on the function-space path, see `_runner_fn`).
    """

    params: Any
    opt_state: Any
    lin_params: Any
    lin_opt_state: Any
    lin_f_train: Any
    lin_velocity: Any


class StepRecord(NamedTuple):
    """What one recorded step measures (device arrays; test fields None without x_test / y_test)."""

    f_train: Any
    loss_train: Any
    weight_change: Any
    lin_f_train: Any
    lin_loss_train: Any
    lin_weight_change: Any
    f_test: Any = None
    lin_f_test: Any = None
    loss_test: Any = None
    lin_loss_test: Any = None


def make_optimizer(optimizer, learning_rate: float, momentum: float = 0.9):
    """(optax GradientTransformation, initial-state hook) from a name or pass-through.

    Named optimizers ("sgd", "momentum", "adam") are built once per (name, momentum) with
    `optax.inject_hyperparams`, so the learning rate lives in the optimizer state: changing it
    does not recompile the training loop.
    """
    if isinstance(optimizer, optax.GradientTransformation):
        return optimizer, None
    if not isinstance(optimizer, str):
        raise TypeError(f"optimizer must be 'sgd', 'momentum', 'adam' or an optax GradientTransformation, "
                        f"got {optimizer!r}.")
    name = optimizer.lower()
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
    linearization; `state` is a `TrainState` (or the same 6 fields as a plain tuple).

    The linear model is linearized once per call, outside the loop (residuals of f at theta0 are
    stored), so the loop body never re-traces a jvp. Its gradient is J^T r / N (one VJP at theta0).
    With `fspace = momentum` (plain SGD / heavy-ball momentum, which are linear in the
    gradients) the train-set outputs are advanced in function space, J u = -lr (Theta r / N + m J v),
    with the precomputed kernel `theta` (nk x nk) instead of a JVP per step; otherwise f_lin on the
    train set is a JVP of the parameter change. `network=False` steps only the linear model.
    `lr` is a traced argument, so a new learning rate does not recompile.
    """

    def run(state, n, params0, x, y, theta, lr):
        state = TrainState(*state)
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

        def body(_, s: TrainState) -> TrainState:
            p, o, pl, ol, fl, vl = s
            if network:
                g = jax.grad(net_loss)(p)
                upd, o = opt.update(g, o, p)
                p = optax.apply_updates(p, upd)
            if linearized:
                r = f0 + jvp_lin(_tree_sub(pl, params0)) - y if fspace is None else fl - y
                (gl,) = vjp_lin(r / N)
                updl, ol = opt.update(gl, ol, pl)
                pl = optax.apply_updates(pl, updl)
                if fspace is not None:
                    vl = (theta @ r.reshape(-1)).reshape(r.shape) / N + m * vl
                    fl = fl - lr * vl
            return TrainState(p, o, pl, ol, fl, vl)

        return jax.lax.fori_loop(0, n, body, state)

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
    """Jitted initial `TrainState` and |theta0| (1 if zero).
    `set_lr`: write `lr` into the state of a named (inject_hyperparams) optimizer."""

    def start(params0, x, lr):
        def init(p):
            st = opt.init(p)
            if set_lr:
                st.hyperparams["learning_rate"] = jnp.asarray(lr)
            return st

        f = apply_fn(params0, x).astype(lr.dtype)  # lr carries the dtype of y_train
        state = TrainState(params0, init(params0), params0, init(params0), f, jnp.zeros_like(f))
        norm0 = _tree_norm(params0)
        return state, jnp.where(norm0 > 0, norm0, jnp.ones_like(norm0))

    return jax.jit(start)


@functools.lru_cache(maxsize=32)
def _make_segment(apply_fn, opt, linearized: bool, fspace=None):
    """Jitted `segment(state, n, params0, x, y, theta, lr, norm0, x_test, y_test)`: n training
    steps (`_runner_fn`) followed by the `StepRecord` of that step, in one compiled call.
    x_test / y_test may be None."""
    run = _runner_fn(apply_fn, opt, linearized, True, fspace)

    def segment(state, n, params0, x, y, theta, lr, norm0, xt, yt):
        state = run(state, n, params0, x, y, theta, lr)
        p, pl = state.params, state.lin_params
        ft, lft = _outputs(apply_fn, linearized, p, pl, params0, x)
        fte = lfte = lte = llte = None
        if xt is not None:
            fte, lfte = _outputs(apply_fn, linearized, p, pl, params0, xt)
            if yt is not None:
                lte, llte = _mse(fte, yt), _mse(lfte, yt)
        rec = StepRecord(f_train=ft, loss_train=_mse(ft, y),
                         weight_change=_tree_norm(_tree_sub(p, params0)) / norm0,
                         lin_f_train=lft, lin_loss_train=_mse(lft, y),
                         lin_weight_change=_tree_norm(_tree_sub(pl, params0)) / norm0,
                         f_test=fte, lin_f_test=lfte, loss_test=lte, lin_loss_test=llte)
        return state, rec

    return jax.jit(segment)


def _record_steps(steps, record_every, record_steps):
    if record_steps is not None:
        if isinstance(record_steps, (str, bytes)):
            raise TypeError(f"record_steps must be a list of step numbers, got {record_steps!r}.")
        arr = np.asarray(record_steps)
        if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise TypeError(f"record_steps must be a list of integer step numbers, got {record_steps!r}.")
        if arr.size and (not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr))):
            raise ValueError(f"record_steps must be whole step numbers, got {record_steps!r}.")
        rs = np.unique(arr.astype(int).reshape(-1))
        if rs.size == 0 or rs[0] < 0:
            raise ValueError("record_steps must be non-negative step numbers (at least one).")
        if rs[0] != 0:
            rs = np.concatenate([[0], rs])
        return rs[rs <= steps]
    every = max(1, steps // 50) if record_every is None else V.check_positive_int(record_every, "record_every")
    rs = np.arange(0, steps + 1, every)
    if rs[-1] != steps:
        rs = np.append(rs, steps)
    return rs


def _check_real(value, name, lo=None, lo_open=False, hi=None, hi_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}.")
    v = float(value)
    ok = np.isfinite(v) and (lo is None or (v > lo if lo_open else v >= lo)) and \
        (hi is None or (v < hi if hi_open else v <= hi))
    if not ok:
        lo_s = "" if lo is None else f"{'>' if lo_open else '>='} {lo:g}"
        hi_s = "" if hi is None else f"{'<' if hi_open else '<='} {hi:g}"
        raise ValueError(f"{name} must be finite{' and ' + lo_s if lo_s else ''}"
                         f"{' and ' + hi_s if hi_s else ''}, got {value!r}.")
    return v


class _Series:
    """The recorded series, keyed by the `TrainResult` field they become."""

    FIELDS = ("steps", "loss_train", "loss_test", "f_train", "f_test", "weight_change",
              "lin_loss_train", "lin_loss_test", "lin_f_train", "lin_f_test", "lin_weight_change",
              "kernel_change", "kernels")

    def __init__(self):
        self.data = {k: [] for k in self.FIELDS}

    def add(self, **values):
        for k, v in values.items():
            if v is not None:
                self.data[k].append(v)

    def array(self, key):
        return np.asarray(self.data[key]) if self.data[key] else None

    def result(self, **fields) -> TrainResult:
        """The `TrainResult` of the recorded series plus the run's other `fields`."""
        arr, data = self.array, self.data
        return TrainResult(
            steps=np.asarray(data["steps"], dtype=int), loss_train=np.asarray(data["loss_train"]),
            loss_test=arr("loss_test"), f_train=arr("f_train"), f_test=arr("f_test"),
            weight_change=np.asarray(data["weight_change"]),
            lin_loss_train=arr("lin_loss_train"), lin_loss_test=arr("lin_loss_test"),
            lin_f_train=arr("lin_f_train"), lin_f_test=arr("lin_f_test"),
            lin_weight_change=arr("lin_weight_change"), kernel_change=arr("kernel_change"),
            kernels=arr("kernels"), **fields)


def _check_train_args(apply_fn, params0, x_train, y_train, x_test, y_test):
    x_train = V.check_inputs(x_train, "x_train")
    y_train = _check_y(y_train)
    if y_train.ndim == 1:
        y_train = y_train[:, None]
    if y_train.ndim != 2:
        raise ValueError(f"y_train must have shape (n,) or (n, k), got {y_train.shape}.")
    if y_train.shape[0] != x_train.shape[0]:
        raise ValueError(f"x_train has {x_train.shape[0]} points but y_train has {y_train.shape[0]}.")
    if x_test is not None:
        x_test = V.check_inputs(x_test, "x_test")
        if x_test.shape[1] != x_train.shape[1]:
            raise ValueError("x_test and x_train must have the same number of features.")
        if y_test is not None:
            y_test = _check_y(y_test, "y_test")
            if y_test.ndim == 1:
                y_test = y_test[:, None]
            if y_test.shape[0] != x_test.shape[0]:
                raise ValueError(f"x_test has {x_test.shape[0]} points but y_test has {y_test.shape[0]}.")
    elif y_test is not None:
        raise ValueError("y_test was given without x_test; pass x_test too.")
    H.check_params_finite(params0, "params0")
    try:
        out = jax.eval_shape(apply_fn, params0, x_train)
    except (TypeError, ValueError) as e:
        raise ValueError(f"params0 do not fit the network on x_train of shape {x_train.shape}: {e}") from None
    if out.shape != y_train.shape:
        raise ValueError(f"The network outputs {out.shape} on x_train but y_train is {y_train.shape}.")
    if y_train.dtype != out.dtype:
        y_train = y_train.astype(out.dtype)
    if y_test is not None and y_test.dtype != out.dtype:
        y_test = y_test.astype(out.dtype)
    return x_train, y_train, x_test, y_test


def train(net_or_fn, params0, x_train, y_train, x_test=None, y_test=None, *,
          learning_rate: float = 1.0, steps: int = 1000, optimizer="sgd", momentum: float = 0.9,
          record_every: Optional[int] = None, record_steps=None, linearized: bool = True,
          track_kernel: bool = False, check_stability: bool = True,
          divergence_factor: float = 1e3, progress: Optional[Callable] = None) -> TrainResult:
    """Train the network and (optionally) its linearization at params0 side by side.

    Full-batch MSE (0.5 * mean squared error over all entries) with an optax optimizer ("sgd"
    default, "momentum", "adam", or an optax GradientTransformation). At each recorded step it
    stores train/test predictions and losses of both models, the relative weight change and, with
    `track_kernel`, the empirical NTK on the training set and its relative change.

    Divergence (non-finite loss, or loss above `divergence_factor` times its start) stops training;
    the result then has `diverged=True`, the step and a message, and no records past it. With
    `check_stability` the largest stable SGD learning rate (from the NTK at init) is computed and a
    warning is issued when learning_rate exceeds it. `steps` (>= 0) and `record_every` (>= 1) are
    integers; `progress(done, total, label)` is called after each recorded step.
    """
    apply_fn, net = as_apply_fn(net_or_fn)
    x_train, y_train, x_test, y_test = _check_train_args(apply_fn, params0, x_train, y_train, x_test, y_test)
    lr, steps, momentum, divergence_factor, linearized, track_kernel, check_stability = _check_options(
        learning_rate, steps, momentum, divergence_factor, linearized, track_kernel, check_stability)
    progress = V.as_progress(progress)
    opt_name = optimizer.lower() if isinstance(optimizer, str) else "custom"
    opt, set_lr = make_optimizer(optimizer, lr, momentum)
    rsteps = _record_steps(steps, record_every, record_steps)

    # Kernels at init. A single-output network's full (n, n, 1, 1) kernel is its traced kernel,
    # so one compiled kernel function serves the stability check, kernel tracking and the
    # function-space updates below.
    single = net is not None and y_train.shape[1] == 1
    kernel_np = _kernel_on_train(net_or_fn, net, x_train, single)
    theta0_np, max_lr, message = None, None, ""
    if check_stability or track_kernel:
        theta0_np = kernel_np(params0)
        H.check_finite(theta0_np, "The empirical NTK at params0", inputs={"x_train": x_train},
                       params=params0)
        if check_stability:
            max_lr, message = _stability_check(theta0_np, y_train.size, lr, opt_name, momentum)

    fspace, theta_full = None, np.zeros((1, 1), y_train.dtype)
    if linearized and net is not None and opt_name in ("sgd", "gd", "momentum"):
        # Linear optimizers: advance the linear model's train outputs in function space.
        fspace = float(momentum) if opt_name == "momentum" else 0.0
        theta_full = _function_space_kernel(net, params0, x_train, y_train,
                                            theta0_np if single else None)
    segment = _make_segment(apply_fn, opt, linearized, fspace)
    lr_arr = np.asarray(lr, y_train.dtype)
    state, norm0 = _make_start(apply_fn, opt, set_lr is not None)(params0, x_train, lr_arr)
    seg_args = (params0, x_train, y_train, theta_full, lr_arr, norm0, x_test, y_test)
    state, series, failure = _train_loop(segment, state, seg_args, rsteps, linearized, divergence_factor,
                                         kernel_np if track_kernel else None, theta0_np, progress, steps)
    if failure is not None:
        message = _divergence_message(*failure, lr, max_lr, x_train, params0)
    diverged = failure is not None
    return series.result(diverged=diverged, diverged_step=failure[0] if diverged else None, message=message,
                         learning_rate=lr, optimizer=opt_name, max_stable_lr=max_lr,
                         params=None if diverged else state.params,
                         lin_params=None if diverged else state.lin_params)


def _check_options(learning_rate, steps, momentum, divergence_factor, linearized, track_kernel,
                   check_stability):
    """`train`'s scalar options, checked (in this order) and converted."""
    return (V.check_positive_float(learning_rate, "learning_rate"),
            V.check_int(steps, "steps", minimum=0),
            _check_real(momentum, "momentum", lo=0.0, hi=1.0, hi_open=True),
            _check_real(divergence_factor, "divergence_factor", lo=1.0, lo_open=True),
            V.check_bool(linearized, "linearized"),
            V.check_bool(track_kernel, "track_kernel"),
            V.check_bool(check_stability, "check_stability"))


def _kernel_on_train(net_or_fn, net, x_train, single):
    """p -> the empirical NTK on x_train as numpy: (n, n) traced, from the full (n, n, 1, 1) kernel
    of a one-output `net` when `single` (the same compiled function as the function-space kernel)."""

    def kernel_np(p):
        if single:
            return np.asarray(empirical_ntk(net, p, x_train, trace=False))[:, :, 0, 0]
        return np.asarray(empirical_ntk(net_or_fn, p, x_train))

    return kernel_np


def _train_loop(segment, state, seg_args, rsteps, linearized, divergence_factor, kernel_np, theta0_np,
                progress, steps):
    """Run `segment` up to each recorded step. Returns (state, `_Series`, failure) with failure
    None or (step, bad loss, initial loss) of the first recorded step whose loss is non-finite or
    above divergence_factor times the initial one (nothing is recorded from it on).
    `kernel_np` (or None): also record the NTK at each step and its change from `theta0_np`;
    `progress(step, steps, "training")` after each recorded step."""
    y_train, (x_test, y_test) = seg_args[2], seg_args[-2:]
    series, loss0, current = _Series(), None, 0
    for target in rsteps:
        n = int(target - current)
        state, r = segment(state, np.asarray(max(n, 0), np.int32), *seg_args)
        current = max(current, int(target))
        r = StepRecord(*jax.device_get(tuple(r)))
        lt, llt = float(r.loss_train), float(r.lin_loss_train)
        if loss0 is None:
            loss0 = max(lt, float(0.5 * np.mean(np.asarray(y_train) ** 2)), 1e-12)
        bad = [v for v in ((lt,) + ((llt,) if linearized else ())) if not np.isfinite(v)
               or v > divergence_factor * loss0]
        if bad:
            return state, series, (current, bad[0], loss0)
        _record(series, current, r, linearized, x_test is not None, y_test is not None)
        if kernel_np is not None:
            Kt = kernel_np(state.params)
            den = float(np.linalg.norm(theta0_np))
            series.add(kernels=Kt, kernel_change=float(np.linalg.norm(Kt - theta0_np) / den) if den > 0
                       else 0.0)
        if progress is not None:
            progress(current, steps, "training")
    return state, series, None


def _stability_check(theta0_np, n_outputs, lr, opt_name, momentum):
    """(largest stable learning rate or None, warning message or ""): the limit 2N/lambda_max of
    (momentum) gradient descent from the NTK at init; warns when `lr` exceeds it."""
    if opt_name not in ("sgd", "gd", "momentum") or not np.any(theta0_np):
        return None, ""
    max_lr = max_learning_rate(theta0_np, n_outputs, momentum=momentum if opt_name == "momentum" else 0.0)
    if lr <= max_lr:
        return max_lr, ""
    message = (f"learning_rate={lr:g} exceeds the largest stable value "
               f"2N/lambda_max = {max_lr:.4g} for this network; training is expected to "
               "diverge. Lower the learning rate below that limit.")
    warnings.warn(message, RuntimeWarning, stacklevel=3)  # the caller of `train`
    return max_lr, message


def _function_space_kernel(net, params0, x_train, y_train, theta0_single):
    """The (n k, n k) NTK at init (output-major rows) with which the linear model's train outputs
    advance in function space; `theta0_single` is the (n, n) kernel of a one-output net if known."""
    if theta0_single is not None:
        return theta0_single.astype(y_train.dtype)
    n_, k_ = y_train.shape
    th = np.asarray(empirical_ntk(net, params0, x_train, trace=False))  # (n, n, k, k)
    return th.transpose(0, 2, 1, 3).reshape(n_ * k_, n_ * k_).astype(y_train.dtype)


def _divergence_message(step, loss, loss0, lr, max_lr, x_train, params0):
    """What to tell the user when the loss at `step` is non-finite or above the divergence limit."""
    if step == 0:
        return ("The loss is not finite at initialization: " +
                next(H.diagnose(inputs={"x_train": x_train}, params=params0),
                     "check the network's outputs on x_train."))
    return (f"Training diverged by step {step} (loss {loss:.3g}, started at "
            f"{loss0:.3g}). " + (
                f"The learning rate {lr:g} is above the stable limit {max_lr:.4g}; lower it."
                if max_lr is not None and lr > max_lr else
                "Lower the learning rate."))


def _record(series, step: int, r: StepRecord, lin: bool, has_test: bool, has_y_test: bool):
    """Append the record of `step` (host values) to `series`; linearized fields only with `lin`."""
    series.add(steps=step, loss_train=float(r.loss_train), f_train=np.asarray(r.f_train),
               weight_change=float(r.weight_change),
               lin_loss_train=float(r.lin_loss_train) if lin else None,
               lin_f_train=np.asarray(r.lin_f_train) if lin else None,
               lin_weight_change=float(r.lin_weight_change) if lin else None)
    if has_test:
        series.add(f_test=np.asarray(r.f_test), lin_f_test=np.asarray(r.lin_f_test) if lin else None)
        if has_y_test:
            series.add(loss_test=float(r.loss_test), lin_loss_test=float(r.lin_loss_test) if lin else None)
