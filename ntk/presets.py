"""Paper presets: classic NTK figures recomputed with this library, with figures and numbers.

    import ntk.presets
    ntk.presets.list_presets()                 # name, title, reference of each preset
    r = ntk.presets.jacot_fig1(fast=True)      # or ntk.presets.run("jacot_fig1", fast=True)
    r.numbers                                  # measured numbers (computed, never hard-coded)
    r.figures["kernel"].show()                 # plotly figures (the same ones the app shows)
    print(r.caption)                           # what the paper showed and how close we are

Every preset is one function `name(fast=False, ..., progress=None) -> PresetResult`. Defaults follow
the original experiment as far as this library's CPU budget allows (what differs is stated in the
caption); `fast=True` shrinks widths / seeds / steps for tests and quick looks. Size arguments
override both. `progress(done, total, description)` is called as work completes.

Presets run in float32 (the library default; jax_enable_x64 is never changed here). Training
uses full-batch gradient descent on L = 1/(2N) sum (f - y)^2, so "time" t = learning_rate x steps
is the gradient-flow time of that loss; closed forms (`ntk.ensemble_mse`) are evaluated at the
same t. Ensembles of small networks are trained together through `ntk.train` on a vmapped apply
function (outputs stacked as columns, learning rate scaled by the ensemble size so that every
member follows exactly its own full-batch GD).
"""
from __future__ import annotations

import dataclasses
import functools
import math
import time
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from . import data as _data
from . import preset_plots as pp
from .dynamics import ensemble_mse, gp_inference, max_learning_rate, train
from .empirical import empirical_ntk
from .experiments import width_sweep
from .infinite import infinite_kernel
from .nets import mlp

Progress = Optional[Callable[[int, int, str], None]]


# ---------------------------------------------------------------------------------------------
# Result and registry
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class PresetResult:
    """What a preset returns: plotly figures, measured numbers, a caption and its configuration.

    `labels` maps each number to a readable description; `data` holds the plain arrays the
    figures were drawn from (for tests and further analysis).
    """

    name: str
    title: str
    figures: dict
    numbers: dict
    caption: str
    config: dict
    labels: dict = dataclasses.field(default_factory=dict)
    data: dict = dataclasses.field(default_factory=dict, repr=False)
    elapsed_s: float = 0.0

    def show(self):
        """Display every figure (inline in Jupyter)."""
        for fig in self.figures.values():
            fig.show()

    def table(self) -> list:
        """[(name, value, description)] for every number."""
        return [(k, v, self.labels.get(k, k)) for k, v in self.numbers.items()]

    def __repr__(self):
        lines = [f"PresetResult({self.name!r}: {self.title}; {self.elapsed_s:.1f} s"
                 f"{', fast' if self.config.get('fast') else ''})",
                 f"  figures: {', '.join(self.figures)}", "  numbers:"]
        for k, v in self.numbers.items():
            lines.append(f"    {k} = {_fmt(v)}" + (f"   # {self.labels[k]}" if k in self.labels else ""))
        lines.append("  caption: " + (self.caption[:200] + " ..." if len(self.caption) > 200
                                      else self.caption))
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class PresetInfo:
    """A registered preset: `fn(fast=..., progress=...)` returns a `PresetResult`."""

    name: str
    title: str
    reference: str
    summary: str
    fn: Callable = dataclasses.field(repr=False, compare=False)

    def __call__(self, **kwargs) -> PresetResult:
        return self.fn(**kwargs)

    def __repr__(self):
        return f"PresetInfo({self.name!r}: {self.title} — {self.reference})"


PRESETS: dict = {}


def _register(name, title, reference, summary):
    def deco(fn):
        PRESETS[name] = PresetInfo(name, title, reference, summary, fn)
        return fn

    return deco


def list_presets() -> list:
    """All presets as `PresetInfo(name, title, reference, summary)`, in a stable order."""
    return list(PRESETS.values())


def get_preset(name: str) -> PresetInfo:
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of: {', '.join(PRESETS)}.")
    return PRESETS[name]


def run(name: str, fast: bool = False, progress: Progress = None, **kwargs) -> PresetResult:
    """Run preset `name` (see `list_presets()`); keyword arguments go to the preset function."""
    return get_preset(name).fn(fast=fast, progress=progress, **kwargs)


def _fmt(v):
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    return str(v)


class _Tracker:
    """Counts units of work and forwards them to progress(done, total, description)."""

    def __init__(self, progress, total):
        self.progress, self.total, self.done = progress, max(int(total), 1), 0

    def __call__(self, desc, n=1):
        self.done = min(self.done + n, self.total)
        if self.progress is not None:
            self.progress(self.done, self.total, desc)

    def start(self, desc):
        if self.progress is not None:
            self.progress(self.done, self.total, desc)


def _pick(value, default, fast_value, fast):
    if value is not None:
        return value
    return fast_value if fast else default


def _rms(a):
    return float(np.sqrt(np.mean(np.square(np.asarray(a, dtype=np.float64)))))


# ---------------------------------------------------------------------------------------------
# Ensembles trained together (one jitted loop per chunk of networks)
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _ensemble_apply(net):
    """apply(P, x) for parameters stacked over a leading ensemble axis -> outputs (n, E)."""

    def apply(P, x):
        out = jax.vmap(net.apply, in_axes=(0, None))(P, x)  # (E, n, 1)
        return jnp.transpose(out[..., 0])

    return apply


def _init_stack(net, seeds, in_dim, dtype):
    keys = jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])
    return jax.vmap(lambda k: net.init(k, in_dim, dtype=dtype))(keys)


def _auto_chunk(net, in_dim, n_nets, max_floats=4_000_000):
    return int(max(1, min(n_nets, max_floats // max(net.num_params(in_dim), 1))))


def train_ensemble(net, seeds, x_train, y_train, x_test, *, learning_rate, steps,
                   record_steps=None, chunk=None, progress=None):
    """Train one network per seed (params `net.init(PRNGKey(seed))`) with full-batch GD.

    Returns dict(steps (R,), f_train (E, R, n), f_test (E, R, m)). Raises RuntimeError with the
    training message if any chunk diverges. `progress(k)` is called with the number of networks
    finished after each chunk.
    """
    seeds = [int(s) for s in seeds]
    x_train = np.asarray(x_train)
    y_train = np.asarray(y_train).reshape(len(x_train), 1)
    d = x_train.shape[1]
    chunk = chunk or _auto_chunk(net, d, len(seeds))
    apply = _ensemble_apply(net)
    record_steps = [steps] if record_steps is None else record_steps
    ftr, fte, rsteps = [], [], None
    for i in range(0, len(seeds), chunk):
        part = seeds[i:i + chunk]
        padded = part + [part[-1]] * (chunk - len(part))  # one compiled shape for every chunk
        P0 = _init_stack(net, padded, d, x_train.dtype)
        Y = np.tile(y_train, (1, chunk))
        res = train(apply, P0, x_train, Y, x_test, None, learning_rate=learning_rate * chunk,
                    steps=steps, record_steps=record_steps, linearized=False,
                    check_stability=False)
        if res.diverged:
            raise RuntimeError("An ensemble member diverged: " + res.message.replace(
                f"{learning_rate * chunk:g}", f"{learning_rate:g}"))
        rsteps = res.steps
        ftr.append(np.transpose(res.f_train, (2, 0, 1))[:len(part)])
        fte.append(np.transpose(res.f_test, (2, 0, 1))[:len(part)])
        if progress is not None:
            progress(len(part))
    return dict(steps=np.asarray(rsteps), f_train=np.concatenate(ftr), f_test=np.concatenate(fte))


def _stable_lr(net, x_train, fraction=0.5):
    """fraction x the largest stable GD rate 2N/lambda_max of the infinite-width NTK."""
    k = infinite_kernel(net, x_train, get="ntk").ntk
    return fraction * max_learning_rate(k)


# ---------------------------------------------------------------------------------------------
# Jacot et al. 2018, Fig. 1
# ---------------------------------------------------------------------------------------------

JACOT = "Jacot, Gabriel & Hongler (2018), Neural Tangent Kernel, NeurIPS"


@_register("jacot_fig1", "Jacot et al. 2018, Fig. 1: NTK convergence on the unit circle", JACOT,
           "Θ(x₀, x) along the unit circle for ReLU nets of two widths, at init and after "
           "training, several seeds, vs the infinite-width NTK.")
def jacot_fig1(fast: bool = False, widths=None, seeds=None, depth: int = 3, n_angles=None,
               n_train: int = 4, train_time=None, learning_rate=None, W_std: float = 1.0,
               b_std: float = 0.1, data_seed: int = 0, progress: Progress = None) -> PresetResult:
    """NTK Θ(x₀, x), x₀ = (1, 0), x = (cos γ, sin γ): finite widths at t = 0 and after training.

    Paper setting: ReLU, depth L = 4 in the paper's notation (layers 0..L, i.e. 3 hidden layers +
    readout: `depth=3` here), NTK parameterization, bias scale β = 0.1, widths 500 and 10000,
    10 initializations each. Training: full-batch GD on `n_train` points of the unit circle
    (target sin 2γ) up to gradient-flow time `train_time` (default 200) with learning_rate
    (default: half the largest stable rate of the infinite-width NTK).
    fast=True: widths (100, 1000), 2 seeds, 41 angles, train_time 50.
    """
    t0 = time.time()
    widths = tuple(int(w) for w in _pick(widths, (500, 10000), (100, 1000), fast))
    seeds = _pick(seeds, 10, 2, fast)
    seeds = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    n_angles = int(_pick(n_angles, 100, 41, fast))
    train_time = float(_pick(train_time, 200.0, 50.0, fast))
    ds = _data.unit_circle(n_train, n_angles, seed=data_seed)
    gamma = np.linspace(-np.pi, np.pi, n_angles)
    x_grid = ds.x_test
    x0 = np.array([[1.0, 0.0]], dtype=ds.x_train.dtype)
    nets = {w: mlp([w] * depth, 1, "relu", W_std, b_std, "ntk") for w in widths}
    ref = nets[widths[0]]
    k_inf = np.asarray(infinite_kernel(ref, x0, x_grid, get="ntk").ntk)[0]
    lr = float(learning_rate) if learning_rate is not None else _stable_lr(ref, ds.x_train)
    steps = max(1, int(math.ceil(train_time / lr)))
    tr = _Tracker(progress, len(widths) * len(seeds))
    tr.start("initialising")
    curves, numbers, labels = [], {}, {}
    peak = float(np.max(np.abs(k_inf)))
    for w in widths:
        net = nets[w]
        dev0, devT, chg, losses = [], [], [], []
        for s in seeds:
            params = net.init(jax.random.PRNGKey(s), 2, dtype=ds.x_train.dtype)
            th0 = np.asarray(empirical_ntk(net, params, x0, x_grid))[0]
            res = train(net, params, ds.x_train, ds.y_train, learning_rate=lr, steps=steps,
                        record_steps=[steps], linearized=False, check_stability=False)
            if res.diverged:
                raise RuntimeError(f"width {w}, seed {s}: {res.message}")
            thT = np.asarray(empirical_ntk(net, res.params, x0, x_grid))[0]
            losses.append(float(res.loss_train[-1]))
            del params, res  # free memory before the next (possibly very wide) network
            curves.append(dict(width=w, seed=s, init=th0, trained=thT))
            dev0.append(np.max(np.abs(th0 - k_inf)) / peak)
            devT.append(np.max(np.abs(thT - k_inf)) / peak)
            chg.append(np.max(np.abs(thT - th0)) / peak)
            tr(f"width {w}, seed {s}")
        numbers[f"dev_init_w{w}"] = float(np.max(dev0))
        labels[f"dev_init_w{w}"] = (f"n={w}: max over γ and seeds of |Θ₀ − Θ∞| / max Θ∞ "
                                    "(at initialization)")
        numbers[f"dev_trained_w{w}"] = float(np.max(devT))
        labels[f"dev_trained_w{w}"] = f"n={w}: same after training (t={lr * steps:.3g})"
        numbers[f"change_w{w}"] = float(np.mean(chg))
        labels[f"change_w{w}"] = f"n={w}: mean over seeds of max |Θ_t − Θ₀| / max Θ∞"
        numbers[f"final_loss_w{w}"] = float(np.mean(losses))
        labels[f"final_loss_w{w}"] = f"n={w}: mean final training loss"
    lo, hi = widths[0], widths[-1]
    if lo != hi:
        numbers["dev_ratio"] = numbers[f"dev_init_w{lo}"] / numbers[f"dev_init_w{hi}"]
        numbers["dev_ratio_theory"] = math.sqrt(hi / lo)
        labels["dev_ratio"] = f"deviation at init, n={lo} over n={hi}"
        labels["dev_ratio_theory"] = f"√({hi}/{lo}) expected from the n^(-1/2) fluctuations"
    fig = pp.kernel_on_circle(gamma, k_inf, curves, t_label=f"t={lr * steps:.3g}")
    caption = (
        f"Original (Jacot et al. 2018, Fig. 1): depth-4 ReLU nets (3 hidden layers), widths 500 "
        f"and 10000, β=0.1, 10 initializations each; the NTK at initialization and after "
        f"training scatters around the infinite-width limit, less for the wider net, and moves "
        f"less during training for the wider net. Here: widths {list(widths)}, {len(seeds)} "
        f"seeds, W_std={W_std}, b_std={b_std}, GD on {n_train} circle points up to t={lr * steps:.3g} "
        f"({steps} steps, lr={lr:.3g}), float32. Measured: max deviation from Θ∞ relative to "
        f"its peak at init " + ", ".join(f"n={w}: {numbers[f'dev_init_w{w}']:.3g}" for w in widths)
        + "; after training " + ", ".join(f"n={w}: {numbers[f'dev_trained_w{w}']:.3g}"
                                           for w in widths)
        + "; kernel movement during training " + ", ".join(
            f"n={w}: {numbers[f'change_w{w}']:.3g}" for w in widths) + ".")
    if lo != hi:
        caption += (f" The deviation shrinks by {numbers['dev_ratio']:.3g}x from n={lo} to "
                    f"n={hi} (n^(-1/2) predicts {numbers['dev_ratio_theory']:.3g}x).")
    config = dict(fast=fast, widths=list(widths), seeds=seeds, depth=depth, activation="relu",
                  W_std=W_std, b_std=b_std, parameterization="ntk", n_angles=n_angles,
                  n_train=n_train, learning_rate=lr, steps=steps, train_time=lr * steps,
                  data_seed=data_seed, dtype=str(ds.x_train.dtype))
    data = dict(gamma=gamma, k_inf=k_inf, curves=curves, x_train=ds.x_train, y_train=ds.y_train)
    return PresetResult("jacot_fig1", PRESETS["jacot_fig1"].title, {"kernel": fig}, numbers,
                        caption, config, labels, data, time.time() - t0)


# ---------------------------------------------------------------------------------------------
# Jacot et al. 2018, Fig. 2
# ---------------------------------------------------------------------------------------------


@_register("jacot_fig2", "Jacot et al. 2018, Fig. 2: trained networks vs the NTK Gaussian process",
           JACOT, "Quantiles (10/50/90 %) of the functions learned by many finite-width nets on "
           "a few circle points vs the infinite-width Gaussian process of trained nets.")
def jacot_fig2(fast: bool = False, widths=None, n_nets=None, depth: int = 3, n_train: int = 4,
               n_angles=None, train_time=None, learning_rate=None, W_std: float = 1.0,
               b_std: float = 0.1, data_seed: int = 0, chunk=None, progress: Progress = None
               ) -> PresetResult:
    """Distribution of trained finite nets vs the infinite-width GP (ntk.ensemble_mse, get='ntk').

    Paper setting: depth-4 (3 hidden layers) ReLU nets of widths 50 and 1000, many random
    initializations trained on 4 points of the unit circle; percentiles 10/50/90 of f compared
    with the limiting Gaussian. Here the GP is evaluated at the same gradient-flow time as the
    trained nets (train_time, default 1000). fast=True: widths (50, 200), 16 nets, 41 angles,
    train_time 200.
    """
    t0 = time.time()
    widths = tuple(int(w) for w in _pick(widths, (50, 1000), (50, 200), fast))
    n_nets = int(_pick(n_nets, 100, 16, fast))
    n_angles = int(_pick(n_angles, 100, 41, fast))
    train_time = float(_pick(train_time, 1000.0, 200.0, fast))
    ds = _data.unit_circle(n_train, n_angles, seed=data_seed)
    gamma = np.linspace(-np.pi, np.pi, n_angles)
    g_train = np.arctan2(ds.x_train[:, 1], ds.x_train[:, 0])
    nets = {w: mlp([w] * depth, 1, "relu", W_std, b_std, "ntk") for w in widths}
    ref = nets[widths[0]]
    lr = float(learning_rate) if learning_rate is not None else _stable_lr(ref, ds.x_train)
    steps = max(1, int(math.ceil(train_time / lr)))
    t_final = lr * steps
    ktt = infinite_kernel(ref, ds.x_train)
    kst = infinite_kernel(ref, ds.x_test, ds.x_train)
    kss = infinite_kernel(ref, ds.x_test, get="nngp").nngp
    mean, cov = ensemble_mse(ktt.nngp, ktt.ntk, ds.y_train, kst.nngp, kst.ntk, kss, t=steps,
                             learning_rate=lr, get="ntk")
    gp_mean = np.asarray(mean)[:, 0]
    gp_std = np.sqrt(np.clip(np.diag(np.asarray(cov)), 0, None))
    z = 1.2815515655446004  # standard normal 90 % quantile
    tr = _Tracker(progress, len(widths) * n_nets)
    tr.start("initialising")
    quant, numbers, labels, finals = {}, {}, {}, {}
    for w in widths:
        out = train_ensemble(nets[w], range(n_nets), ds.x_train, ds.y_train, ds.x_test,
                             learning_rate=lr, steps=steps, chunk=chunk,
                             progress=lambda k, w=w: tr(f"width {w}", k))
        f = out["f_test"][:, -1, :]  # (E, m)
        finals[w] = f
        q10, q50, q90 = np.percentile(f, [10, 50, 90], axis=0)
        quant[w] = (q10, q50, q90)
        sig = _rms(gp_std)
        numbers[f"median_rms_w{w}"] = _rms(q50 - gp_mean)
        labels[f"median_rms_w{w}"] = f"n={w}: RMS over γ of (median of nets − GP mean)"
        numbers[f"quantile_rms_w{w}"] = _rms(np.concatenate([q10 - (gp_mean - z * gp_std),
                                                              q90 - (gp_mean + z * gp_std)]))
        labels[f"quantile_rms_w{w}"] = f"n={w}: RMS of (10 %, 90 % quantiles − GP quantiles)"
        numbers[f"std_ratio_w{w}"] = _rms(f.std(0)) / sig
        labels[f"std_ratio_w{w}"] = f"n={w}: RMS std of nets / RMS std of the GP"
        numbers[f"train_rmse_w{w}"] = _rms(out["f_train"][:, -1, :] - ds.y_train[:, 0])
        labels[f"train_rmse_w{w}"] = f"n={w}: RMS training residual at the end"
    numbers["gp_std_rms"] = _rms(gp_std)
    labels["gp_std_rms"] = "RMS over γ of the GP standard deviation"
    fig = pp.function_quantiles(gamma, g_train, ds.y_train, gp_mean, gp_std, quant, z)
    caption = (
        f"Original (Jacot et al. 2018, Fig. 2): many depth-4 ReLU nets of widths 50 and 1000 trained "
        f"on 4 points of the unit circle; their 10/50/90 % quantiles approach those of the "
        f"limiting Gaussian process as the width grows. Here: widths {list(widths)}, {n_nets} nets "
        f"per width, W_std={W_std}, b_std={b_std}, GD (lr={lr:.3g}, {steps} steps, t={t_final:.3g}) "
        f"on {n_train} points (target sin 2γ); GP = ntk.ensemble_mse(get='ntk') at the same t, "
        f"float32. Measured RMS over γ of (median − GP mean): " + ", ".join(
            f"n={w}: {numbers[f'median_rms_w{w}']:.3g}" for w in widths)
        + "; of the 10/90 % quantiles vs the GP's: " + ", ".join(
            f"n={w}: {numbers[f'quantile_rms_w{w}']:.3g}" for w in widths)
        + f" (GP std RMS {numbers['gp_std_rms']:.3g}). With {n_nets} nets the sampling error "
        f"of a quantile is about {1.7 / math.sqrt(n_nets):.2g} GP std.")
    config = dict(fast=fast, widths=list(widths), n_nets=n_nets, depth=depth, activation="relu",
                  W_std=W_std, b_std=b_std, parameterization="ntk", n_train=n_train,
                  n_angles=n_angles, learning_rate=lr, steps=steps, train_time=t_final,
                  data_seed=data_seed, dtype=str(ds.x_train.dtype))
    data = dict(gamma=gamma, gamma_train=g_train, y_train=ds.y_train, gp_mean=gp_mean,
                gp_std=gp_std, quantiles=quant, f_final=finals)
    return PresetResult("jacot_fig2", PRESETS["jacot_fig2"].title, {"functions": fig}, numbers,
                        caption, config, labels, data, time.time() - t0)


# ---------------------------------------------------------------------------------------------
# Lee et al. 2019
# ---------------------------------------------------------------------------------------------


@_register("lee2019", "Lee et al. 2019: wide networks evolve as linear models",
           "Lee, Xiao, Schoenholz, Bahri, Novak, Sohl-Dickstein & Pennington (2019), Wide Neural "
           "Networks of Any Depth Evolve as Linear Models Under Gradient Descent, NeurIPS",
           "Relative change of weights and NTK after training vs width (log-log slopes), and "
           "f(t) of a network vs its linearization during training.")
def lee2019(fast: bool = False, widths=None, seeds=None, depth: int = 2, activation="relu",
            W_std: float = 1.5, b_std: float = 0.05, n_train=None, steps=None, dyn_width=None,
            dyn_points: int = 4, data_seed: int = 0, progress: Progress = None) -> PresetResult:
    """Width sweep of the lazy-regime diagnostics (ntk.width_sweep) and actual-vs-linear dynamics.

    Data: scikit-learn digits 0 vs 1 (64-d, standardized, targets ±1), a small image task in the
    spirit of the paper's CIFAR-10 experiments. Learning rate: half the largest stable rate of the
    infinite-width NTK, the same for every width. fast=True: widths 32..256, 2 seeds, 16 points,
    60 steps, dynamics at width 256.
    """
    t0 = time.time()
    widths = [int(w) for w in _pick(widths, (64, 128, 256, 512, 1024, 2048, 4096),
                                    (32, 64, 128, 256), fast)]
    seeds = _pick(seeds, 3, 2, fast)
    seeds = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    n_train = int(_pick(n_train, 64, 16, fast))
    steps = int(_pick(steps, 300, 60, fast))
    dyn_width = int(_pick(dyn_width, 1024, 256, fast))
    ds = _data.digits(n_train, max(dyn_points, 8), seed=data_seed)
    tr = _Tracker(progress, len(widths) * len(seeds) + 2)
    tr.start("width sweep")
    sweep = width_sweep(widths, seeds, x_train=ds.x_train, y_train=ds.y_train, x_test=ds.x_test,
                        depth=depth, activation=activation, W_std=W_std, b_std=b_std,
                        steps=steps, progress=lambda d, t: tr(f"width sweep {d}/{t}"))
    lr = float(sweep.config["learning_rate"])
    net = mlp([dyn_width] * depth, 1, activation, W_std, b_std, "ntk")
    params = net.init(jax.random.PRNGKey(0), ds.x_train.shape[1], dtype=ds.x_train.dtype)
    tr("training the network and its linearization", 1)
    xt, yt = ds.x_test[:dyn_points], ds.y_test[:dyn_points]
    res = train(net, params, ds.x_train, ds.y_train, xt, yt, learning_rate=lr, steps=steps,
                record_every=max(1, steps // 60), linearized=True, check_stability=False)
    if res.diverged:
        raise RuntimeError(res.message)
    tr("done", 1)
    f, fl = res.f_test[..., 0], res.lin_f_test[..., 0]
    gap_t = np.sqrt(np.mean((f - fl) ** 2, axis=1)) / np.maximum(
        np.sqrt(np.mean(fl ** 2, axis=1)), 1e-30)
    numbers, labels = {}, {}
    for m, fit in sweep.fits.items():
        numbers[f"slope_{m}"] = fit["slope"]
        numbers[f"slope_{m}_ci_low"] = fit["ci_low"]
        numbers[f"slope_{m}_ci_high"] = fit["ci_high"]
        labels[f"slope_{m}"] = f"log-log slope of {pp.METRIC_LABELS.get(m, m)} vs width"
        labels[f"slope_{m}_ci_low"] = labels[f"slope_{m}_ci_high"] = "95 % confidence bound"
    summ = sweep.summary()
    for m in ("weight_change", "kernel_change"):
        for w in (widths[0], widths[-1]):
            numbers[f"{m}_w{w}"] = summ[w][m][0]
            labels[f"{m}_w{w}"] = f"n={w}: mean {pp.METRIC_LABELS[m]}"
    numbers["lin_gap_max"] = float(np.max(gap_t))
    labels["lin_gap_max"] = (f"n={dyn_width}: max over training of RMS(f − f_lin)/RMS(f_lin) on "
                             f"{dyn_points} test points")
    numbers["final_loss"] = float(res.loss_train[-1])
    numbers["final_loss_lin"] = float(res.lin_loss_train[-1])
    labels["final_loss"] = f"n={dyn_width}: final training loss of the network"
    labels["final_loss_lin"] = f"n={dyn_width}: final training loss of the linearized model"
    table = sweep.table()
    figs = {
        "scaling": pp.loglog_metrics(table, sweep.fits, list(sweep.fits)),
        "dynamics": pp.linearization_dynamics(res.steps, f, fl, res.loss_train, res.lin_loss_train,
                                              [f"x_test[{j}]" for j in range(f.shape[1])]),
    }
    s = numbers
    verdict = " ".join(
        f"{m}: {'consistent with' if s[f'slope_{m}_ci_low'] <= -0.5 <= s[f'slope_{m}_ci_high'] else 'not consistent with'} −1/2."
        for m in sweep.fits if np.isfinite(s[f"slope_{m}_ci_low"]))
    caption = (
        "Original (Lee et al. 2019): in NTK parameterization the relative change of the weights "
        "and of the empirical NTK after training fall with width n, with slope ≈ −1/2 on log-log "
        "axes, and the outputs of a wide network stay on top of its linearization throughout "
        f"training. Here: depth {depth} {activation} nets, W_std={W_std}, b_std={b_std}, widths "
        f"{widths}, {len(seeds)} seeds, {steps} full-batch GD steps (lr={lr:.3g}) on {n_train} "
        "sklearn digits (0 vs 1), float32. Measured slopes (95 % CI): " + "; ".join(
            f"{m} {s[f'slope_{m}']:.3f} [{s[f'slope_{m}_ci_low']:.3f}, {s[f'slope_{m}_ci_high']:.3f}]"
            for m in sweep.fits)
        + ". " + verdict + " Expected from theory: the kernel error and kernel change scale like "
        "n^(−1/2); the relative change of the whole parameter vector is dominated by the n×n "
        "hidden weight matrices (norm ∝ n, change O(1)), so for depth ≥ 2 it can fall faster "
        "than n^(−1/2) (the −1/2 law is per input/readout layer). At n="
        f"{dyn_width} the largest relative gap between the network and its linearization over "
        f"training is {s['lin_gap_max']:.3g} (final losses {s['final_loss']:.3g} vs "
        f"{s['final_loss_lin']:.3g}).")
    config = dict(fast=fast, widths=widths, seeds=seeds, depth=depth, activation=str(activation),
                  W_std=W_std, b_std=b_std, parameterization="ntk", n_train=n_train,
                  dataset="digits 0 vs 1", steps=steps, learning_rate=lr, dyn_width=dyn_width,
                  dyn_points=dyn_points, data_seed=data_seed, dtype=str(ds.x_train.dtype))
    data = dict(table=table, fits=sweep.fits, steps=res.steps, f=f, f_lin=fl, gap=gap_t,
                loss=res.loss_train, loss_lin=res.lin_loss_train)
    return PresetResult("lee2019", PRESETS["lee2019"].title, figs, numbers, caption, config,
                        labels, data, time.time() - t0)


# ---------------------------------------------------------------------------------------------
# neural-tangents cookbook
# ---------------------------------------------------------------------------------------------


@_register("nt_cookbook", "neural-tangents cookbook: ensemble vs NTK and NNGP posteriors",
           "Novak et al. (2020), Neural Tangents: Fast and Easy Infinite Neural Networks in Python "
           "(ICLR), 'Neural Tangents Cookbook' notebook",
           "5 noisy samples of sin on [−π, π]; an ensemble of trained Erf nets (width 512) vs the "
           "infinite-width NTK posterior (mean ± 2σ) and the NNGP posterior.")
def nt_cookbook(fast: bool = False, n_nets=None, width: int = 512, depth: int = 2,
                activation="erf", W_std: float = 1.5, b_std: float = 0.05, n_train: int = 5,
                n_test=None, noise: float = 0.1, learning_rate: float = 0.1, steps=None,
                diag_reg: float = 1e-4, data_seed: int = 0, chunk=None,
                progress: Progress = None) -> PresetResult:
    """Ensemble of trained finite nets vs infinite-width posteriors on the cookbook's 1-D task.

    Cookbook setting: 5 training points of sin(x) + N(0, 0.1²) noise on [−π, π], 2 hidden Erf
    layers of width 512 (W_std 1.5, b_std 0.05), SGD with learning rate 0.1 for 10000 steps,
    an ensemble of trained networks compared with the NTK posterior (nt.predict) at the same
    time and the NNGP posterior. fast=True: 8 nets, 1000 steps, 50 test points.
    """
    t0 = time.time()
    n_nets = int(_pick(n_nets, 50, 8, fast))
    steps = int(_pick(steps, 10000, 1000, fast))
    n_test = int(_pick(n_test, 100, 50, fast))
    ds = _data.sine_1d(n_train, n_test, noise=noise, seed=data_seed)
    net = mlp([width] * depth, 1, activation, W_std, b_std, "ntk")
    lr = float(learning_rate)
    tr = _Tracker(progress, n_nets + 1)
    tr.start("infinite-width kernels")
    ktt = infinite_kernel(net, ds.x_train)
    kst = infinite_kernel(net, ds.x_test, ds.x_train)
    kss = infinite_kernel(net, ds.x_test, get="nngp").nngp
    args = (ktt.nngp, ktt.ntk, ds.y_train, kst.nngp, kst.ntk, kss)
    ntk_mean, ntk_cov = ensemble_mse(*args, t=steps, learning_rate=lr, get="ntk")
    ntk_inf_mean, _ = ensemble_mse(*args, t=None, learning_rate=lr, get="ntk", diag_reg=diag_reg,
                                   compute_cov=False)
    nngp_mean, nngp_cov = gp_inference(ktt.nngp, ds.y_train, kst.nngp, kss, diag_reg=diag_reg)
    max_lr = max_learning_rate(ktt.ntk)
    tr("infinite-width kernels", 1)

    every = max(1, steps // 20)
    out = train_ensemble(net, range(n_nets), ds.x_train, ds.y_train, ds.x_test, learning_rate=lr,
                         steps=steps, record_steps=list(range(0, steps + 1, every)) + [steps],
                         chunk=chunk, progress=lambda k: tr("training the ensemble", k))
    rec_steps = out["steps"]
    f_end = out["f_test"][:, -1, :]  # (E, m)
    sd = lambda c: np.sqrt(np.clip(np.diag(np.asarray(c)), 0, None))  # noqa: E731
    mu_ntk, sd_ntk = np.asarray(ntk_mean)[:, 0], sd(ntk_cov)
    mu_nngp, sd_nngp = np.asarray(nngp_mean)[:, 0], sd(nngp_cov)
    ens_mu, ens_sd = f_end.mean(0), f_end.std(0, ddof=1) if n_nets > 1 else np.zeros_like(f_end[0])
    y = ds.y_test[:, 0]

    # Expected test loss over training: ensemble average of per-net losses vs NTK theory.
    means_t, covs_t = ensemble_mse(*args, t=np.asarray(rec_steps, dtype=ds.x_train.dtype),
                                   learning_rate=lr, get="ntk")
    means_t = np.asarray(means_t)[..., 0]
    var_t = np.clip(np.diagonal(np.asarray(covs_t), axis1=1, axis2=2), 0, None)
    theory_loss = 0.5 * np.mean((means_t - y) ** 2 + var_t, axis=1)
    ens_loss = 0.5 * np.mean((out["f_test"] - y) ** 2, axis=(0, 2))

    numbers = {
        "mean_rms_ens_vs_ntk": _rms(ens_mu - mu_ntk),
        "std_rms_ens_vs_ntk": _rms(ens_sd - sd_ntk),
        "mean_rms_in_sigma": _rms(ens_mu - mu_ntk) / max(_rms(sd_ntk), 1e-30),
        "expected_mean_rms_sampling": _rms(sd_ntk) / math.sqrt(n_nets),
        "frac_inside_2sigma": float(np.mean(np.abs(f_end - mu_ntk) <= 2 * sd_ntk + 1e-6)),
        "mean_rms_ntk_vs_nngp": _rms(mu_ntk - mu_nngp),
        "mean_rms_ntk_t_vs_inf": _rms(mu_ntk - np.asarray(ntk_inf_mean)[:, 0]),
        "test_rmse_ensemble_mean": _rms(ens_mu - y),
        "test_rmse_ntk": _rms(mu_ntk - y),
        "test_rmse_nngp": _rms(mu_nngp - y),
        "final_test_loss_ens": float(ens_loss[-1]),
        "final_test_loss_theory": float(theory_loss[-1]),
        "max_stable_lr": float(max_lr),
    }
    labels = {
        "mean_rms_ens_vs_ntk": "RMS over x of (ensemble mean − NTK posterior mean)",
        "std_rms_ens_vs_ntk": "RMS over x of (ensemble std − NTK posterior std)",
        "mean_rms_in_sigma": "the same, in units of the RMS NTK posterior std",
        "expected_mean_rms_sampling": "sampling error expected from the ensemble size (σ/√E)",
        "frac_inside_2sigma": "fraction of (net, x) inside the NTK mean ± 2σ band",
        "mean_rms_ntk_vs_nngp": "RMS of (NTK posterior mean − NNGP posterior mean)",
        "mean_rms_ntk_t_vs_inf": "RMS of (NTK mean at t − NTK mean at t = ∞)",
        "test_rmse_ensemble_mean": "test RMSE of the ensemble mean vs sin x",
        "test_rmse_ntk": "test RMSE of the NTK posterior mean",
        "test_rmse_nngp": "test RMSE of the NNGP posterior mean",
        "final_test_loss_ens": "final test loss, average over the ensemble",
        "final_test_loss_theory": "final expected test loss from the NTK (mean² + variance)",
        "max_stable_lr": "largest stable GD learning rate of the infinite-width NTK",
    }
    bands = {f"NTK posterior (t={lr * steps:g})": (mu_ntk, sd_ntk), "NNGP posterior": (mu_nngp, sd_nngp)}
    figs = {
        "posterior": pp.posterior_bands(ds.x_test, ds.y_test, ds.x_train, ds.y_train, f_end, bands),
        "loss": pp.loss_curves(rec_steps, {"ensemble: mean test loss of the nets": ens_loss,
                                           "NTK theory: expected test loss": theory_loss}),
    }
    n = numbers
    caption = (
        "Original (neural-tangents cookbook): an ensemble of Erf nets (2 hidden layers of width "
        "512, W_std 1.5, b_std 0.05) trained on 5 noisy samples of sin on [−π, π] matches the "
        "infinite-width NTK posterior mean ± 2σ, and the NNGP posterior is close but not equal. "
        f"Here: {n_nets} nets of width {width}, {steps} GD steps at lr={lr:g} (t={lr * steps:g}), "
        f"noise {noise}, float32; NTK posterior = ntk.ensemble_mse(get='ntk', t={lr * steps:g}), "
        f"NNGP posterior = ntk.gp_inference (diag_reg {diag_reg:g}). Measured: ensemble mean vs NTK "
        f"mean RMS {n['mean_rms_ens_vs_ntk']:.3g} ({n['mean_rms_in_sigma']:.2g} σ; "
        f"sampling error alone ≈ {n['expected_mean_rms_sampling']:.2g}), ensemble std vs NTK std "
        f"RMS {n['std_rms_ens_vs_ntk']:.3g}, {100 * n['frac_inside_2sigma']:.1f} % of the "
        f"trained functions' values inside the 2σ band, NTK vs NNGP mean RMS "
        f"{n['mean_rms_ntk_vs_nngp']:.3g}; test RMSE ensemble {n['test_rmse_ensemble_mean']:.3g}, "
        f"NTK {n['test_rmse_ntk']:.3g}, NNGP {n['test_rmse_nngp']:.3g}.")
    if lr > max_lr:
        caption += (f" Note: lr={lr:g} is above the infinite-width NTK's stable limit "
                    f"{max_lr:.3g}; the closed form assumes gradient flow.")
    config = dict(fast=fast, n_nets=n_nets, width=width, depth=depth, activation=str(activation),
                  W_std=W_std, b_std=b_std, parameterization="ntk", n_train=n_train,
                  n_test=n_test, noise=noise, learning_rate=lr, steps=steps,
                  train_time=lr * steps, diag_reg=diag_reg, data_seed=data_seed,
                  dtype=str(ds.x_train.dtype))
    data = dict(x_test=ds.x_test, y_test=ds.y_test, x_train=ds.x_train, y_train=ds.y_train,
                f_end=f_end, ntk_mean=mu_ntk, ntk_std=sd_ntk, nngp_mean=mu_nngp,
                nngp_std=sd_nngp, steps=rec_steps, ens_loss=ens_loss, theory_loss=theory_loss)
    return PresetResult("nt_cookbook", PRESETS["nt_cookbook"].title, figs, numbers, caption,
                        config, labels, data, time.time() - t0)


__all__ = ["PRESETS", "PresetInfo", "PresetResult", "get_preset", "jacot_fig1", "jacot_fig2",
           "lee2019", "list_presets", "nt_cookbook", "run", "train_ensemble"]
