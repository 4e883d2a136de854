"""Kernel explorer: infinite-width NNGP/NTK vs the empirical NTK, and Θ(x₀, x(γ)) on the circle."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from ..._validate import DEFAULT_MEMORY_BUDGET
from ..progress import as_progress
from ._common import infinite_net, make_inputs, make_net, np_or_none


def _circle_inputs(dataset, x, coord, n_gamma):
    """(gamma, x_circle, x0) of the circle plot; 1-D data uses its own input grid instead."""
    from ... import data

    if dataset == "sine":
        return coord, x, x[len(x) // 2: len(x) // 2 + 1]
    gamma = np.linspace(-np.pi, np.pi, int(n_gamma))
    if dataset == "digits":  # the circle of digit images (flattened), in the data's 64-D space
        xc = data.image_circle(gamma).reshape(len(gamma), -1)
        return gamma, xc, xc[len(gamma) // 2: len(gamma) // 2 + 1]
    xc = data.circle_points(gamma).astype(np.float32)
    return gamma, xc, xc[len(gamma) // 2: len(gamma) // 2 + 1]  # x0: gamma = 0


def _circle_curves(arch, parameterization, widths, n_seeds, x0, xc, memory_budget, progress):
    """Θ(x0, xc) of `n_seeds` nets per width (W, S, G) and the limit ((G,) or per width (W, G))."""
    from ...empirical import empirical_ntk
    from ...infinite import infinite_kernel

    curve_inf = np_or_none(infinite_kernel(infinite_net(*arch, parameterization, widths[0]),
                                           x0, xc, get="ntk").ntk)[0]
    curves = np.zeros((len(widths), int(n_seeds), len(xc)), np.float64)
    curves_inf = np.zeros((len(widths), len(xc)))
    prog, total, done = as_progress(progress), len(widths) * int(n_seeds), 0
    for i, w in enumerate(widths):
        cnet = make_net(w, *arch, parameterization)
        if parameterization == "standard":
            cinet = infinite_net(*arch, parameterization, w)
            curves_inf[i] = np_or_none(infinite_kernel(cinet, x0, xc, get="ntk").ntk)[0]
        else:
            curves_inf[i] = curve_inf
        for s in range(int(n_seeds)):
            p = cnet.init(_key(s), xc.shape[1], dtype=xc.dtype)
            curves[i, s] = np_or_none(empirical_ntk(cnet, p, x0, xc, memory_budget=memory_budget))[0]
            done += 1
            prog(done, total, f"circle: width {w}, seed {s}")
    return curves, curves_inf if parameterization == "standard" else curve_inf


def _key(seed):
    import jax

    return jax.random.PRNGKey(int(seed))


def kernel_data(width: int = 512, seed: int = 0, depth: int = 2, activation: str = "relu",
                alpha: float = 0.1, W_std: float = 1.5, b_std: float = 0.05,
                parameterization: str = "ntk", dataset: str = "circle", n: int = 32,
                circle_widths: Sequence[int] = (32, 256, 2048), circle_seeds: int = 4,
                n_gamma: int = 91, memory_budget: float = DEFAULT_MEMORY_BUDGET,
                architecture: str = "mlp", circle_channels: Sequence[int] = (8, 32, 128),
                flop_budget: Optional[float] = None, progress: Optional[Callable] = None) -> dict:
    """Infinite NNGP/NTK (n, n), empirical NTK at (width, seed), their difference, and
    Θ(x0, x(γ)) on the unit circle for `circle_widths` × `circle_seeds` nets (Jacot Fig. 1).

    `architecture` other than "mlp" (see `ntk.analysis.architectures`) works on images: a circle
    of digit images or the digits, with `circle_channels` for the circle plot; configurations
    above `flop_budget` (default: the architectures' budget) are refused with an estimate."""
    from ...empirical import empirical_ntk, estimate_cost
    from ...infinite import infinite_kernel

    if architecture != "mlp":
        from . import _arch

        return _arch.kernel_data(architecture, width, seed, depth, activation, alpha, W_std, b_std,
                                 parameterization, dataset, n, circle_channels, circle_seeds, n_gamma,
                                 **({} if flop_budget is None else dict(flop_budget=flop_budget)),
                                 memory_budget=memory_budget, progress=progress)

    arch = (depth, activation, alpha, W_std, b_std)
    x, coord, coord_label = make_inputs(dataset, n, seed)
    net = make_net(width, *arch, parameterization)
    k = infinite_kernel(infinite_net(*arch, parameterization, width), x, memory_budget=memory_budget)
    params = net.init(_key(seed), x.shape[1], dtype=x.dtype)
    flops, mem = estimate_cost(net, params, len(x), len(x), "structured")
    th = empirical_ntk(net, params, x, memory_budget=memory_budget)
    nngp, ntk_inf, ntk_emp = np_or_none(k.nngp), np_or_none(k.ntk), np_or_none(th)
    if not (np.all(np.isfinite(ntk_inf)) and np.all(np.isfinite(ntk_emp))):
        raise ValueError("The kernel contains NaN/inf; lower W_std or the depth.")
    gamma, xc, x0 = _circle_inputs(dataset, x, coord, n_gamma)
    cws = [int(w) for w in circle_widths]
    curves, circle_inf = _circle_curves(arch, parameterization, cws, circle_seeds, x0, xc,
                                        memory_budget, progress)
    rel = float(np.linalg.norm(ntk_emp - ntk_inf) / np.linalg.norm(ntk_inf))
    return dict(x=np.asarray(x), coord=np.asarray(coord, float), coord_label=coord_label,
                nngp_inf=nngp, ntk_inf=ntk_inf, ntk_emp=ntk_emp, diff=ntk_emp - ntk_inf,
                rel_error=rel, width=int(width), seed=int(seed), method="structured",
                flops=float(flops), memory=float(mem), num_params=int(net.num_params(x.shape[1])),
                gamma=np.asarray(gamma, float), circle_widths=np.asarray(cws),
                circle_curves=curves, circle_inf=circle_inf, parameterization=parameterization,
                circle_axis="angle γ" if dataset != "sine" else "x",
                **(dict(circle_title="NTK along a circle of digit images, x₀ = a digit 0")
                   if dataset == "digits" else {}))
