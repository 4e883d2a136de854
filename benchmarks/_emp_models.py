"""Plain-JAX models of the empirical-NTK race, importable in both environments (jax 0.10 and the
reference env's jax 0.4.25): only jax.numpy / jax.lax that exist in both.

Parameters are lists of (W, b) arrays (the race writes them to an .npz; both sides load them).

  mlp_apply   64 -> w -> w -> 1, ReLU, NTK parameterization
              z = W_std / sqrt(fan_in) * (h @ W) + b_std * b
  cnn_apply   3 x [Conv 3x3 SAME (NHWC, HWIO) -> ReLU] -> global average pool -> Dense(k);
              parameterization "ntk" (as above, fan_in = 3 * 3 * C_in) or "standard"
              (z = conv(h, W) + b, the layout of flax.linen.Conv / Dense)
"""
from __future__ import annotations

import numpy as np

W_STD, B_STD = 1.5, 0.05
CNN_CHANNELS = (32, 64, 128)


def mlp_apply(params, x):
    import jax

    h = x
    for i, (W, b) in enumerate(params):
        h = (W_STD / np.sqrt(W.shape[0])) * (h @ W) + B_STD * b
        if i < len(params) - 1:
            h = jax.nn.relu(h)
    return h


def mlp_params(rng: np.random.Generator, widths, in_dim=64, out_dim=1, dtype=np.float32):
    dims = [in_dim, *widths, out_dim]
    return [(rng.standard_normal((a, b)).astype(dtype), rng.standard_normal((b,)).astype(dtype))
            for a, b in zip(dims[:-1], dims[1:])]


def _conv(h, W):
    from jax import lax

    return lax.conv_general_dilated(h, W, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def cnn_apply_fn(parameterization="ntk"):
    import jax
    import jax.numpy as jnp

    def apply(params, x):
        h = x
        for W, b in params[:-1]:
            if parameterization == "ntk":
                fan_in = W.shape[0] * W.shape[1] * W.shape[2]
                h = (W_STD / np.sqrt(fan_in)) * _conv(h, W) + B_STD * b
            else:
                h = _conv(h, W) + b
            h = jax.nn.relu(h)
        h = jnp.mean(h, axis=(1, 2))
        W, b = params[-1]
        if parameterization == "ntk":
            return (W_STD / np.sqrt(W.shape[0])) * (h @ W) + B_STD * b
        return h @ W + b

    return apply


def cnn_params(rng: np.random.Generator, out_dim=1, in_chan=3, parameterization="ntk",
               dtype=np.float32):
    params, c = [], in_chan
    for co in CNN_CHANNELS:
        W = rng.standard_normal((3, 3, c, co))
        b = rng.standard_normal((co,))
        if parameterization == "standard":
            W, b = W * W_STD / np.sqrt(9 * c), b * B_STD
        params.append((W.astype(dtype), b.astype(dtype)))
        c = co
    W, b = rng.standard_normal((c, out_dim)), rng.standard_normal((out_dim,))
    if parameterization == "standard":
        W, b = W * W_STD / np.sqrt(c), b * B_STD
    params.append((W.astype(dtype), b.astype(dtype)))
    return params
