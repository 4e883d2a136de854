"""`ntk.stax`: neural-tangents' (0.6.5) layer language on current JAX.

Every layer and network is a `Layer`, a tuple that unpacks as (init_fn, apply_fn, kernel_fn):

    from ntk import stax
    init_fn, apply_fn, kernel_fn = stax.serial(
        stax.Conv(32, (3, 3), padding="SAME", W_std=1.4, b_std=0.1), stax.Relu(),
        stax.GlobalAvgPool(), stax.Dense(10))
    out_shape, params = init_fn(key, x.shape)     # x: (n, H, W, C), channels last
    y = apply_fn(params, x)
    k = kernel_fn(x1, x2, ("nngp", "ntk"))        # k.nngp, k.ntk: (n1, n2)

Names, keyword arguments, defaults and kernels follow neural-tangents; see `_layers` for the
map each layer applies to the infinite-width kernels and `_core` for the kernel state.
"""
from ._core import Layer
from ._layers import (ABRelu, Abs, AvgPool, Conv, Cos, Dense, Elementwise, ElementwiseNumerical, Erf,
                      FanInConcat, FanInSum, FanOut, Flatten, Gelu, GlobalAvgPool, Identity, LayerNorm,
                      LeakyRelu, Relu, Sigmoid_like, Sin, activation_layer, parallel, serial)

__all__ = ["ABRelu", "Abs", "AvgPool", "Conv", "Cos", "Dense", "Elementwise", "ElementwiseNumerical", "Erf",
           "FanInConcat", "FanInSum", "FanOut", "Flatten", "Gelu", "GlobalAvgPool", "Identity", "LayerNorm",
           "Layer", "LeakyRelu", "Relu", "Sigmoid_like", "Sin", "activation_layer", "parallel", "serial"]
