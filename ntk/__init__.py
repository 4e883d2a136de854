"""ntk: Neural Tangent Kernel analysis and visualization on current JAX.

    import ntk
    net = ntk.mlp(widths=[512, 512], out_dim=1, activation="relu", W_std=1.5, b_std=0.05)
    params = net.init(jax.random.PRNGKey(0), in_dim)
    k = ntk.infinite_kernel(net, x1)           # k.nngp, k.ntk
    theta = ntk.empirical_ntk(net, params, x1)
    f_lin = ntk.linearize(net.apply, params)

    from ntk import stax                      # neural-tangents' layer language (conv, pooling, ...)
    init_fn, apply_fn, kernel_fn = stax.serial(stax.Conv(32, (3, 3), padding="SAME"), stax.Relu(),
                                               stax.GlobalAvgPool(), stax.Dense(1))
    k = kernel_fn(x1, x2, ("nngp", "ntk"))     # x: (n, H, W, C); also ntk.infinite_kernel(layer, x1)

`import ntk` does not enable x64, import streamlit or compile anything.
"""
from . import activations, data, dynamics, empirical, experiments, infinite, linearize as _lin_mod, nets, stax
from .activations import ACTIVATION_NAMES, Activation, get_activation
from .dynamics import (TrainResult, ensemble_mse, gp_inference, gradient_descent_mse,
                       max_learning_rate, train)
from ._empirical_engine import (NtkImplementation, empirical_kernel_fn, empirical_nngp_fn, empirical_ntk_fn,
                                monte_carlo_kernel_fn)
from .empirical import CostEstimate, empirical_ntk, estimate_cost, ntk_fn
from .experiments import SweepResult, fit_loglog_slope, kernel_error, width_sweep
from .infinite import Kernel, batch, infinite_kernel
from .linearize import linearize, taylor_expand
from .nets import MLP, mlp

__version__ = "0.1.0"

# Heavier submodules (plotly, scikit-learn) load on first use: `ntk.presets.jacot_fig1()` works
# after a plain `import ntk`, while `import ntk` itself stays light.
_LAZY = ("plots", "presets", "preset_plots", "export", "report", "sklearn")


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'ntk' has no attribute {name!r}")


__all__ = [
    "ACTIVATION_NAMES", "Activation", "CostEstimate", "Kernel", "MLP", "NtkImplementation", "SweepResult",
    "TrainResult",
    "activations", "batch", "data", "dynamics", "empirical", "empirical_kernel_fn", "empirical_nngp_fn",
    "empirical_ntk", "empirical_ntk_fn", "ensemble_mse", "monte_carlo_kernel_fn",
    "estimate_cost", "experiments", "fit_loglog_slope", "get_activation", "gp_inference",
    "gradient_descent_mse", "infinite", "infinite_kernel", "kernel_error", "linearize",
    "max_learning_rate", "mlp", "nets", "ntk_fn", "stax", "taylor_expand", "train", "width_sweep",
]
del _lin_mod

# Issue 14 (layout): one cache registry; the layers above the kernels load on first use.
from ._cache import clear_caches  # noqa: E402

_LAZY = _LAZY + ("analysis", "figures")
__all__ += ["clear_caches"]
