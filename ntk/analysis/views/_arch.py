"""The pages' views for the convolutional architectures of `ntk.analysis.architectures` (CNN,
CNN + pooling, ResNet): the same result dictionaries as the MLP views, on image inputs.

Image data for these views: "circle" is a great circle of 8x8 images through two digits
(`ntk.data.image_circle`, the image analogue of the unit circle) and "digits" the sklearn digits
(`ntk.data.digits_images`) sorted by class. Width means channels.
"""
from __future__ import annotations

import numpy as np

from .. import architectures as A
from ..progress import as_progress

IMAGE_SHAPE = (8, 8, 1)
IMAGE_DATASETS = ("circle", "digits")
CIRCLE_AXIS = "angle γ (circle of digit images)"


def check_image_dataset(architecture: str, dataset: str) -> None:
    if dataset not in IMAGE_DATASETS:
        raise ValueError(f"The {A.ARCHITECTURES[architecture]} takes images: choose Data = 'circle' (a circle "
                         f"of 8x8 images through two digits) or 'digits', not {dataset!r}.")


def image_inputs(dataset: str, n: int, seed: int = 0):
    """(x (n, 8, 8, 1), coordinate (n,), coordinate label) for the kernel views."""
    from ... import data

    n = int(n)
    if n <= 0:
        raise ValueError(f"Number of points must be positive, got {n}.")
    if dataset == "circle":
        g = np.linspace(-np.pi, np.pi, n, endpoint=False)
        return data.image_circle(g), g, CIRCLE_AXIS
    if dataset == "digits":
        d = data.digits_images(n, 1, seed=seed)
        order = np.argsort(d.y_train.argmax(1), kind="stable")
        return d.x_train[order], np.arange(n, dtype=float), "digit (sorted by class)"
    raise ValueError(f"Unknown image dataset {dataset!r}; choose 'circle' or 'digits'.")


def _arch_kw(depth, activation, alpha, W_std, b_std, parameterization="ntk"):
    return dict(depth=int(depth), activation=str(activation), alpha=float(alpha), W_std=float(W_std),
                b_std=float(b_std), parameterization=str(parameterization))


def _limit_net(architecture, kw, width):
    return A.build(architecture, A.limit_width(kw["parameterization"], width), **kw)


def _check_budget(architecture, kw, jobs, flop_budget, memory_budget, suggestion):
    """`jobs`: [(width, n1, n2, count)] empirical kernels plus [(None, n1, n2, 1)] infinite ones."""
    flops, mem = 0.0, 0.0
    for width, n1, n2, count in jobs:
        c = A.cost(architecture, width or 1, kw["depth"], n1, n2)
        key = "emp" if width else "inf"
        flops += count * c[f"{key}_flops"]
        mem = max(mem, c[f"{key}_bytes"] if width else c["inf_bytes"] * min(1.0, 64 * 64 / max(n1 * n2, 1)))
    A.check_cost(flops, mem, f"The {A.ARCHITECTURES[architecture]} at these settings", suggestion,
                 flop_budget, memory_budget)
    return flops, mem


# ---------------------------------------------------------------------------------------------
# Kernel explorer
# ---------------------------------------------------------------------------------------------

def _circle_curves(architecture, kw, widths, n_seeds, x0, xc, progress):
    """Θ(x0, xc) of `n_seeds` nets per width (W, S, G) and the limit ((G,), or (W, G) per width
    in standard parameterization)."""
    prog = as_progress(progress)
    curves = np.zeros((len(widths), int(n_seeds), len(xc)))
    limits = np.zeros((len(widths), len(xc)))
    done = 0
    for i, w in enumerate(widths):
        net = A.build(architecture, w, **kw)
        if i == 0 or kw["parameterization"] == "standard":  # NTK parameterization: one limit
            limits[i] = A.infinite_kernels(_limit_net(architecture, kw, w), x0, xc, get="ntk",
                                           block=A.max_block(architecture))["ntk"][0]
        for s in range(int(n_seeds)):
            p = A.init_params(net, s, xc.shape, kw["parameterization"])
            curves[i, s] = A.empirical_ntk(net, p, x0, xc)[0]
            done += 1
            prog(done, len(widths) * int(n_seeds), f"circle: width {w}, seed {s}")
    return curves, (limits if kw["parameterization"] == "standard" else limits[0])


def kernel_data(architecture, width, seed, depth, activation, alpha, W_std, b_std,
                parameterization, dataset, n, circle_channels, circle_seeds, n_gamma,
                flop_budget=A.FLOP_BUDGET, memory_budget=None, progress=None) -> dict:
    """`views.kernel_data` for a convolutional architecture (keys as there)."""
    from ... import data

    check_image_dataset(architecture, dataset)
    kw = _arch_kw(depth, activation, alpha, W_std, b_std, parameterization)
    cws = [int(w) for w in circle_channels]
    n, ng = int(n), int(n_gamma)
    _check_budget(architecture, kw, [(int(width), n, n, 1), (None, n, n, 1), (None, 1, ng, len(cws))]
                  + [(w, 1, ng, int(circle_seeds)) for w in cws], flop_budget, memory_budget,
                  "Use fewer channels (width) or fewer points.")
    x, coord, coord_label = image_inputs(dataset, n, seed)
    net = A.build(architecture, width, **kw)
    k = A.infinite_kernels(_limit_net(architecture, kw, width), x, block=A.max_block(architecture))
    params = A.init_params(net, seed, x.shape, kw["parameterization"])
    ntk_emp = A.empirical_ntk(net, params, x)
    nngp, ntk_inf = k["nngp"], k["ntk"]
    if not (np.all(np.isfinite(ntk_inf)) and np.all(np.isfinite(ntk_emp))):
        raise ValueError("The kernel contains NaN/inf; lower W_std or the depth.")
    gamma = np.linspace(-np.pi, np.pi, ng)
    xc = data.image_circle(gamma)
    curves, circle_inf = _circle_curves(architecture, kw, cws, circle_seeds, xc[ng // 2: ng // 2 + 1],
                                        xc, progress)
    c = A.cost(architecture, int(width), kw["depth"], n, n)
    return dict(x=x, coord=np.asarray(coord, float), coord_label=coord_label, nngp_inf=nngp,
                ntk_inf=ntk_inf, ntk_emp=ntk_emp, diff=ntk_emp - ntk_inf,
                rel_error=float(np.linalg.norm(ntk_emp - ntk_inf) / np.linalg.norm(ntk_inf)),
                width=int(width), seed=int(seed), method="structured (traced from the jaxpr)",
                flops=c["emp_flops"], memory=c["emp_bytes"],
                num_params=A.num_params(architecture, width, kw["depth"]), gamma=gamma,
                circle_widths=np.asarray(cws), circle_curves=curves, circle_inf=circle_inf,
                parameterization=kw["parameterization"], circle_axis=CIRCLE_AXIS,
                circle_title="NTK along a circle of digit images, x₀ = a digit 0",
                architecture=architecture)


# ---------------------------------------------------------------------------------------------
# Width convergence
# ---------------------------------------------------------------------------------------------

def convergence_data(architecture, widths, n_seeds, depth, activation, alpha, W_std, b_std,
                     dataset, n, flop_budget=A.FLOP_BUDGET, progress=None) -> dict:
    """`views.convergence_data` for a convolutional architecture (keys as there)."""
    from ..sweeps import fit_loglog_slope

    check_image_dataset(architecture, dataset)
    kw = _arch_kw(depth, activation, alpha, W_std, b_std)
    n, n_seeds = int(n), int(n_seeds)
    _check_budget(architecture, kw, [(None, n, n, 1)] + [(w, n, n, n_seeds) for w in widths],
                  flop_budget, None, "Lower the largest width (channels), the seeds or the points.")
    x, _, _ = image_inputs(dataset, n)
    ntk_inf = A.infinite_kernels(_limit_net(architecture, kw, 1), x, get="ntk",
                                 block=A.max_block(architecture))["ntk"]
    err = A.kernel_errors(lambda w: A.build(architecture, w, **kw), widths, range(n_seeds), x, ntk_inf,
                          progress=progress)
    fit = fit_loglog_slope(np.repeat(widths, n_seeds), err.ravel())
    return dict(widths=np.asarray(widths), seeds=np.arange(n_seeds), errors=err, mean=err.mean(1),
                std=err.std(1), slope=fit["slope"], intercept=fit["intercept"], ci_low=fit["ci_low"],
                ci_high=fit["ci_high"], r2=fit["r2"], architecture=architecture)


# ---------------------------------------------------------------------------------------------
# Training dynamics and spectrum: flattened images for the training loop
# ---------------------------------------------------------------------------------------------

def circle_regression(n_train, seed, noise, n_test=120):
    """Training images at random angles of the image circle, a test grid of angles, y = sin 2γ
    (+ noise on the training targets): (g_train, x_train, y_train, g_test, x_test, y_test),
    images flattened to (n, 64)."""
    from ... import data

    rng = np.random.default_rng(int(seed))
    g_tr = np.sort(rng.uniform(-np.pi, np.pi, int(n_train)))
    g_te = np.linspace(-np.pi, np.pi, int(n_test))
    y_tr = (np.sin(2 * g_tr) + float(noise) * rng.normal(size=g_tr.shape))[:, None].astype(np.float32)
    y_te = np.sin(2 * g_te)[:, None].astype(np.float32)
    x_tr, x_te = (data.image_circle(g).reshape(len(g), -1) for g in (g_tr, g_te))
    return g_tr, x_tr, y_tr, g_te, x_te, y_te


def stax_model(architecture, width, depth, activation, alpha, W_std, b_std, parameterization="ntk"):
    """(apply on flattened images, empirical NTK fn(params, x_flat), limit kernels fn(x_flat),
    init(seed, n)) of a convolutional architecture, for code that trains on (n, d) inputs."""
    kw = _arch_kw(depth, activation, alpha, W_std, b_std, parameterization)
    net = A.build(architecture, width, **kw)
    inet = _limit_net(architecture, kw, width)

    def img(x):
        return np.asarray(x).reshape((-1,) + IMAGE_SHAPE)

    def emp(params, x):
        return A.empirical_ntk(net, params, img(x))

    def limit(x):
        k = A.infinite_kernels(inet, img(x), block=A.max_block(architecture))
        return k["nngp"], k["ntk"]

    def init(seed, n):
        return A.init_params(net, seed, (int(n),) + IMAGE_SHAPE, kw["parameterization"])

    return A.flat_apply(net, IMAGE_SHAPE), emp, limit, init


def check_cost(architecture, width, depth, n_kernel, n_train=0, steps=0, flop_budget=A.FLOP_BUDGET):
    """Refuse a width whose empirical kernel on `n_kernel` points and `steps` training steps of the
    network and its linearization on `n_train` points (≈ 2 x 6 x params x positions flops per point
    and step) are too costly."""
    c = A.cost(architecture, int(width), int(depth), n_kernel, n_kernel)
    positions = int(np.prod(IMAGE_SHAPE[:2])) if architecture != "mlp" else 1
    train = 12.0 * c["params"] * positions * int(n_train) * int(steps)
    A.check_cost(c["emp_flops"] + train, c["emp_bytes"], f"Training the {A.ARCHITECTURES[architecture]} "
                 f"of width {int(width)}", "Use fewer channels (widths), fewer points or fewer steps.",
                 flop_budget, None)


def training_data(architecture, widths, steps, arch, dataset, n_train, noise, optimizer_name,
                  lr_fraction, n_frames, seed, progress) -> dict:
    """`views.training_data` for a convolutional architecture: regression of sin 2γ on the circle
    of digit images (keys as there, plus the angles `coord_train`, `coord_test`)."""
    from ..progress import scaled
    from .training import _infinite_width, _train_width

    if dataset != "circle":
        raise ValueError(f"The {A.ARCHITECTURES[architecture]} trains on images here: choose Data = 'circle' "
                         f"(sin 2γ on a circle of 8x8 images through two digits), not {dataset!r}.")
    depth, activation, alpha, W_std, b_std, parameterization = arch
    for w in widths:
        check_cost(architecture, w, depth, int(n_train) + 120, int(n_train), steps)
    g_tr, xtr, ytr, g_te, xte, yte = circle_regression(n_train, seed, noise)
    rsteps = np.unique(np.round(np.linspace(0, steps, int(n_frames))).astype(int))
    _, _, limit, _ = stax_model(architecture, widths[0], depth, activation, alpha, W_std, b_std,
                                parameterization)
    x_all, lr, lr_max, mean, std = _infinite_width(None, xtr, ytr, xte, rsteps.astype(np.float64),
                                                   lr_fraction, optimizer_name, limit=limit)
    out = dict(kind="1d", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte, steps=rsteps,
               learning_rate=lr, lr_max=float(lr_max), optimizer=optimizer_name,
               widths=np.asarray(widths), inf_mean=mean, inf_std=std, runs={}, coord_train=g_tr,
               coord_test=g_te, coord_label=CIRCLE_AXIS, architecture=architecture)
    total = len(widths) * steps
    for i, w in enumerate(widths):
        apply_fn, emp, _, init = stax_model(architecture, w, depth, activation, alpha, W_std, b_std,
                                            parameterization)
        prog = scaled(progress, i * steps, total, f"training width {w}")
        out["runs"][w] = _train_width(apply_fn, init(seed, len(xtr)), xtr, ytr, xte, yte, x_all, lr,
                                      rsteps, optimizer_name, prog, emp=emp)
        if not out["runs"][w]["diverged"] and prog is not None:
            prog(steps, steps)
    return out
