"""What a page's computation will cost, before it starts: seconds and memory from a FLOP/byte
model of the work, calibrated by a quick measurement on this machine.

    c = cost.estimate("training", cfg)     # Cost(seconds, kernel_bytes, param_bytes, what, lower)
    c.seconds > cost.CONFIRM_SECONDS        # the app asks before starting

The model counts, per view, the network training steps (forward + backward: 6·MACs·n flops,
and ~6 passes over the parameters, which dominate for the small batches of the pages), the
empirical NTK evaluations (`ntk.empirical.estimate_cost`), infinite-width kernels
(`ntk.infinite.infinite_kernel_cost`), parameter sampling and a compile time per compiled
program. `machine_speed()` measures matrix-multiply FLOP/s, memory bandwidth and sampling rate
once per process (≈0.5 s), so the estimate reflects this machine and its current load;
benchmarks/bench_cost_model.py compares estimates with measured page times. No streamlit here.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
from typing import Callable, Mapping, Optional

#: Above this many estimated seconds the app asks before computing (NTK_CONFIRM_SECONDS).
CONFIRM_SECONDS = float(os.environ.get("NTK_CONFIRM_SECONDS", "20"))
#: A page's compiled programs (a width, a shape) take this many times the compilation of the
#: small reference program that `machine_speed` times (a jitted MLP gradient step).
COMPILE_FACTOR = 1.5
#: Overhead of one step of a compiled training loop (dispatch, loss, bookkeeping).
STEP_OVERHEAD_S = 25e-6
#: Parameter sets whose training working set fits in the caches run from cache bandwidth.
CACHE_BYTES = 24 * 1024**2
CACHE_SPEEDUP = 4.0
#: Parameters above this (bytes, including gradients and optimizer copies) are refused.
PARAM_BUDGET_BYTES = 4 * 1024**3


@dataclasses.dataclass(frozen=True)
class Speed:
    flops: float  # float32 matrix-multiply FLOP/s
    bandwidth: float  # bytes/s of a streaming pass over a large array
    normals: float  # random normals sampled per second
    compile: float = 0.5  # seconds to compile the reference program (an MLP gradient step)


@dataclasses.dataclass(frozen=True)
class Cost:
    """Estimated seconds, peak bytes of the largest kernel computation, parameter bytes, what
    dominates (for the user) and what to lower to make it cheaper."""

    seconds: float
    kernel_bytes: float = 0.0
    param_bytes: float = 0.0
    what: str = ""
    lower: str = ""

    def __add__(self, other: "Cost") -> "Cost":
        big = self if self.seconds >= other.seconds else other
        return Cost(self.seconds + other.seconds, max(self.kernel_bytes, other.kernel_bytes),
                    max(self.param_bytes, other.param_bytes), big.what, big.lower)


def _best(fn, reps=3) -> float:
    fn()  # compile / warm up
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


@functools.lru_cache(maxsize=1)
def machine_speed() -> Speed:
    """FLOP/s, bytes/s and normals/s of this machine now (measured once per process)."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((512, 512), jnp.float32)
    mm = jax.jit(lambda a: (a @ a) @ a)
    t_mm = _best(lambda: mm(a).block_until_ready())
    big = jnp.ones((8 * 1024 * 1024,), jnp.float32)
    axpy = jax.jit(lambda x: x * 1.0001 + 1.0)
    t_bw = _best(lambda: axpy(big).block_until_ready())
    rng = jax.jit(lambda k: jax.random.normal(k, (1024 * 1024,), jnp.float32))
    key = jax.random.PRNGKey(0)
    t_rng = _best(lambda: rng(key).block_until_ready())
    return Speed(flops=2 * 2 * 512**3 / t_mm, bandwidth=2 * big.nbytes / t_bw,
                 normals=1024 * 1024 / t_rng, compile=_compile_time())


def _compile_time() -> float:
    """Seconds to compile (and run once) a small training step: loss, gradient, update, in a
    loop, for a 3-layer MLP, the kind of program the pages compile per width."""
    import jax
    import jax.numpy as jnp

    def step(p, _):
        def loss(p):
            h = jnp.tanh(x @ p[0])
            h = jnp.tanh(h @ p[1])
            return jnp.mean((h @ p[2] - 1.0) ** 2)
        g = jax.grad(loss)(p)
        return [a - 0.1 * b for a, b in zip(p, g)], loss(p)

    x = jnp.ones((8, 2), jnp.float32)
    p = [jnp.ones((2, 64)) * 0.1, jnp.ones((64, 64)) * 0.01, jnp.ones((64, 1)) * 0.1]
    # a fresh function each call, so the measurement always includes compilation
    fn = jax.jit(lambda p: jax.lax.scan(step, p, None, length=3)[1])
    t = time.perf_counter()
    fn(p).block_until_ready()
    return time.perf_counter() - t


def compile_cost(n_programs: int, sp: Speed) -> "Cost":
    """Compilation of `n_programs` new programs (first visit of a configuration)."""
    return Cost(n_programs * COMPILE_FACTOR * sp.compile)


# ------------------------------------------------------------------------------------------------
# Building blocks
# ------------------------------------------------------------------------------------------------

def _net(width, depth, activation="relu", W_std=1.5, b_std=0.05, parameterization="ntk"):
    from ..analysis.views._common import make_net

    return make_net(int(width), int(depth), activation, 0.1, W_std, b_std, parameterization)


def _macs(net, in_dim) -> float:
    """Multiply-adds of one forward pass per example (layer sizes if known, else parameters)."""
    sizes = getattr(net, "layer_sizes", None)
    if sizes is not None:
        return float(sum(a * b for a, b in sizes(in_dim)))
    macs = getattr(net, "macs", None)
    return float(macs(in_dim)) if macs is not None else float(net.num_params(in_dim))


def _stream(nbytes, sp: Speed) -> float:
    bw = sp.bandwidth * (CACHE_SPEEDUP if nbytes < CACHE_BYTES else 1.0)
    return nbytes / bw


def init_cost(net, in_dim, sp: Speed, count=1) -> Cost:
    p = net.num_params(in_dim)
    return Cost(count * p / sp.normals, param_bytes=4.0 * p)


def train_cost(net, in_dim, n, steps, sp: Speed, n_eval=0, records=1, optimizer="sgd") -> Cost:
    """Full-batch training of `net` on n points for `steps` steps (and its linearization)."""
    p, m = net.num_params(in_dim), _macs(net, in_dim)
    per_step = max(6 * m * n / sp.flops, _stream(24.0 * p, sp)) + STEP_OVERHEAD_S
    if optimizer == "adam":  # the linearization needs a JVP per step, and Adam keeps 2 moments
        per_step *= 2.2
    evals = records * 2 * (2 * m * (n + n_eval) / sp.flops + _stream(8.0 * p, sp))
    return Cost(steps * per_step + evals, param_bytes=16.0 * p)


def empirical_cost(net, in_dim, n1, n2, sp: Speed) -> Cost:
    from ..empirical import estimate_cost

    flops, mem = estimate_cost(net, (), int(n1), int(n2), "structured", in_dim=in_dim)
    p = net.num_params(in_dim)
    return Cost(flops / sp.flops + _stream(12.0 * p, sp), kernel_bytes=mem, param_bytes=4.0 * p)


def infinite_cost(net, n1, n2, sp: Speed) -> Cost:
    from ..infinite import infinite_kernel_cost

    flops, mem = infinite_kernel_cost(net, int(n1), int(n2))
    return Cost(4 * flops / sp.flops, kernel_bytes=mem)


def _plus(*costs) -> Cost:
    out = Cost(0.0)
    for c in costs:
        out = out + c
    return out


def _with(c: Cost, what: str, lower: str) -> Cost:
    return dataclasses.replace(c, what=what, lower=lower)


# ------------------------------------------------------------------------------------------------
# One model per data function
# ------------------------------------------------------------------------------------------------

def kernel_cost(cfg: Mapping, sp: Speed) -> Cost:
    depth, act = cfg.get("depth", 2), cfg.get("activation", "relu")
    n, width, d = int(cfg.get("n", 32)), int(cfg.get("width", 512)), 1 if cfg.get("dataset") == "sine" else 2
    net = _net(width, depth, act)
    widths = cfg.get("circle_widths", (32, 256, 2048))
    main = _plus(infinite_cost(net, n, n, sp), init_cost(net, d, sp), empirical_cost(net, d, n, n, sp),
                 compile_cost(4 + 2 * len(widths), sp))
    main = _with(main, f"the empirical NTK of {n} points at width {width}",
                 "the number of points or the width")
    circle = Cost(0.0)
    for w in widths:
        cn = _net(w, depth, act)
        s = int(cfg.get("circle_seeds", 4))
        circle = circle + init_cost(cn, 2, sp, s) + Cost(s * empirical_cost(cn, 2, 1, 91, sp).seconds)
    return main + _with(circle, "the circle plot's networks", "the seeds per width")


def convergence_cost(cfg: Mapping, sp: Speed) -> Cost:
    from ..analysis.sweeps import log_widths

    widths = log_widths(cfg["w_min"], cfg["w_max"], cfg["n_widths"])
    n, s, depth = int(cfg.get("n", 16)), int(cfg.get("n_seeds", 4)), cfg.get("depth", 2)
    d = 1 if cfg.get("dataset") == "sine" else 2
    total = Cost(0.0)
    for w in widths:
        net = _net(w, depth, cfg.get("activation", "relu"))
        one = init_cost(net, d, sp) + empirical_cost(net, d, n, n, sp)
        total = total + Cost(s * one.seconds, one.kernel_bytes, one.param_bytes) + compile_cost(2, sp)
    return _with(total, f"{len(widths)} widths × {s} seeds up to width {widths[-1]}",
                 "the largest width, the number of seeds or of points")


def training_cost(cfg: Mapping, sp: Speed) -> Cost:
    widths = [int(w) for w in cfg.get("widths", ())]
    steps, n = int(cfg.get("steps", 300)), int(cfg.get("n_train", 8))
    d = 1 if cfg.get("dataset", "sine") == "sine" else 2
    n_eval = 120 if d == 1 or cfg.get("dataset") == "circle" else 900
    if cfg.get("dataset") == "circle":
        d = 2
    total = Cost(0.0)
    for w in widths:
        net = _net(w, cfg.get("depth", 2), cfg.get("activation", "erf"))
        total = total + init_cost(net, d, sp) + train_cost(
            net, d, n, steps, sp, n_eval, records=21, optimizer=cfg.get("optimizer_name", "sgd")) \
            + empirical_cost(net, d, n + n_eval, n + n_eval, sp) + compile_cost(5, sp)
    total = total + compile_cost(2, sp)
    return _with(total, f"training {len(widths)} width(s) × {steps} steps"
                 + (f" (widest {max(widths)})" if widths else ""),
                 "the widths (fewer or narrower) or the steps")


def lazy_cost(cfg: Mapping, sp: Speed) -> Cost:
    from ..analysis.sweeps import log_widths

    widths = log_widths(cfg["w_min"], cfg["w_max"], cfg["n_widths"])
    steps, n, s = int(cfg.get("steps", 100)), int(cfg.get("n_train", 8)), int(cfg.get("n_seeds", 2))
    depth, act = cfg.get("depth", 2), cfg.get("activation", "relu")
    total = Cost(0.0)
    for w in widths:
        net = _net(w, depth, act)
        one = init_cost(net, 2, sp) + train_cost(net, 2, n, steps, sp, 64, 2) \
            + Cost(3 * empirical_cost(net, 2, n, n, sp).seconds)
        total = total + Cost(s * one.seconds, one.kernel_bytes, one.param_bytes) + compile_cost(4, sp)
    for w in (cfg.get("narrow", 32), cfg.get("wide", 1024)):
        net = _net(w, depth, act)
        total = total + train_cost(net, 2, n, steps, sp, 64, 15) \
            + Cost(15 * empirical_cost(net, 2, n, n, sp).seconds) + compile_cost(2, sp)
    return _with(total, f"training {len(widths)} widths × {s} seeds × {steps} steps "
                 f"(widest {widths[-1]})", "the largest width, the seeds or the steps")


def spectrum_cost(cfg: Mapping, sp: Speed) -> Cost:
    n, width, steps = int(cfg.get("n_train", 32)), int(cfg.get("width", 512)), int(cfg.get("steps", 300))
    net = _net(width, cfg.get("depth", 2), cfg.get("activation", "relu"))
    total = _plus(infinite_cost(net, n, n, sp), init_cost(net, 2, sp),
                  Cost(2 * empirical_cost(net, 2, n, n, sp).seconds,
                       empirical_cost(net, 2, n, n, sp).kernel_bytes),
                  train_cost(net, 2, n, steps, sp, 0, 16), compile_cost(6, sp),
                  Cost(steps * n * n * 8 / sp.flops + 2 * n**3 * 10 / sp.flops))
    return _with(total, f"width {width} on {n} points × {steps} steps",
                 "the width, the number of training points or the steps")


def home_cost(cfg: Mapping, sp: Speed) -> Cost:
    return compile_cost(len(cfg.get("depths", (1, 2, 3, 4))), sp)


#: data function name -> cost model (cfg, Speed) -> Cost. Pages without one get no estimate.
MODELS: dict = {"kernel_data": kernel_cost, "convergence_data": convergence_cost,
                "training_data": training_cost, "lazy_data": lazy_cost,
                "spectrum_data": spectrum_cost, "home_data": home_cost}


def register(data_fn: str, model: Callable) -> None:
    """Add the cost model of a data function (for pages registered elsewhere)."""
    MODELS[data_fn] = model


def estimate(data_fn: str, cfg: Mapping, speed: Optional[Speed] = None) -> Optional[Cost]:
    """The estimated cost of `data_fn(**cfg)`, or None without a model (or if the model cannot
    read this configuration: the computation itself will then report what is wrong)."""
    model = MODELS.get(data_fn)
    if model is None or str(cfg.get("architecture", "mlp")) != "mlp":
        return None  # the models count MLP work; other architectures check their own cost
    try:
        return model(cfg, speed or machine_speed())
    except (ValueError, TypeError, KeyError, ZeroDivisionError, OverflowError):
        return None


def format_seconds(s: float) -> str:
    """'about 8 s', 'about 2.5 min', 'about 1.2 h'."""
    if not math.isfinite(s):
        return "unknown time"
    if s < 1:
        return "under a second"
    if s < 90:
        return f"about {s:.0f} s"
    if s < 5400:
        return f"about {s / 60:.1f} min"
    return f"about {s / 3600:.1f} h"


def format_bytes(n: float) -> str:
    """Bytes with three significant digits ('1.37 GiB'), so a need and a budget that differ are
    never printed equal."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} TiB"


def memory_message(c: Cost, budget: float) -> Optional[str]:
    """A message for the app user when `c` needs more memory than allowed (None when fine)."""
    if c.kernel_bytes > budget:
        need, have = format_bytes(c.kernel_bytes), format_bytes(budget)
        return (f"This choice needs about {need} of memory for {c.what or 'one kernel'}, more than "
                f"the app allows for one computation ({have}). Lower {c.lower or 'the number of points'}.")
    if c.param_bytes > PARAM_BUDGET_BYTES:
        return (f"The network's parameters, gradients and optimizer state need about "
                f"{format_bytes(c.param_bytes)}, more than the app allows "
                f"({format_bytes(PARAM_BUDGET_BYTES)}). Lower the width or the depth.")
    return None


def eta(done: float, total: float, elapsed: float) -> Optional[float]:
    """Seconds left by linear extrapolation of the progress so far (None before any progress)."""
    if done <= 0 or total <= 0 or elapsed <= 0:
        return None
    return max(0.0, elapsed * (total - done) / done)


__all__ = ["CONFIRM_SECONDS", "Cost", "MODELS", "Speed", "estimate", "eta", "format_bytes",
           "format_seconds", "machine_speed", "memory_message", "register"]

