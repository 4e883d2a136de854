"""Width convergence: ‖Θ_emp − Θ∞‖_F / ‖Θ∞‖_F over log-spaced widths × seeds, log-log fit."""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ..sweeps import log_widths, width_sweep
from ._common import activation_spec, make_inputs


def convergence_data(w_min: int = 32, w_max: int = 2048, n_widths: int = 7, n_seeds: int = 4,
                     depth: int = 2, activation: str = "relu", alpha: float = 0.1,
                     W_std: float = 1.5, b_std: float = 0.05, dataset: str = "circle",
                     n: int = 16, architecture: str = "mlp",
                     progress: Optional[Callable] = None) -> dict:
    """Kernel error over widths (W,) × seeds (S,): errors (W, S), mean/std (W,), fitted slope
    with its 95 % interval and r2. `architecture` other than "mlp" works on images (width =
    channels; see `ntk.analysis.architectures`)."""
    widths = log_widths(w_min, w_max, n_widths)
    if architecture != "mlp":
        from . import _arch

        return _arch.convergence_data(architecture, widths, n_seeds, depth, activation, alpha, W_std,
                                      b_std, dataset, n, progress=progress)
    x, _, _ = make_inputs(dataset, n)
    sw = width_sweep(widths, seeds=range(int(n_seeds)), x_train=x, depth=int(depth),
                     activation=activation_spec(activation, alpha), W_std=W_std, b_std=b_std,
                     metrics=("kernel_error",), progress=progress)
    t = sw.table()
    err = np.asarray(t["kernel_error"], float).reshape(len(widths), int(n_seeds))
    fit = sw.fits["kernel_error"]
    return dict(widths=np.asarray(widths), seeds=np.arange(int(n_seeds)), errors=err,
                mean=err.mean(1), std=err.std(1), slope=fit["slope"],
                intercept=fit["intercept"], ci_low=fit["ci_low"], ci_high=fit["ci_high"],
                r2=fit["r2"])
