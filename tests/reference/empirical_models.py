"""Plain-JAX models for the empirical-NTK tests, importable in both environments (the main env and
the reference env's jax 0.4.25): only jax.numpy / jax.lax that exist in both.

Each model is `MODELS[name] = (apply, make_params, input_shape)`:
  apply(p, x)            p a flat dict of arrays (so the .npz of the cross-check holds it as is)
  make_params(rng)       float64 numpy arrays from a numpy Generator
  input_shape            per-example shape of x
They cover what the structured method must handle: dense layers with biases, convolutions (SAME /
VALID / explicit padding, strides, rhs and lhs dilation, feature groups, NCHW layout), residual
connections, tied weights, parameters reshaped / transposed / used twice, a parameter broadcast
over positions, rank-3 inputs with per-position outputs, and pytree outputs.
"""
from __future__ import annotations

import numpy as np


def _n(rng, *shape):
    return rng.standard_normal(shape)


def mlp_apply(p, x):
    import jax.numpy as jnp

    h = jnp.tanh(1.3 / np.sqrt(3) * (x @ p["W0"]) + 0.2 * p["b0"])
    h = jnp.tanh(1.3 / np.sqrt(6) * (h @ p["W1"]) + 0.2 * p["b1"])
    return 1.3 / np.sqrt(5) * (h @ p["W2"]) + 0.2 * p["b2"]


def mlp_params(rng):
    return {"W0": _n(rng, 3, 6), "b0": _n(rng, 6), "W1": _n(rng, 6, 5), "b1": _n(rng, 5),
            "W2": _n(rng, 5, 2), "b2": _n(rng, 2)}


def cnn_apply(p, x):
    """x (n, 7, 7, 2) NHWC."""
    import jax.numpy as jnp
    from jax import lax

    nhwc = ("NHWC", "HWIO", "NHWC")
    h = lax.conv_general_dilated(x, p["c1"], (1, 1), "SAME", dimension_numbers=nhwc)
    h = jnp.tanh(0.4 * h + p["c1b"])                                              # (n, 7, 7, 4)
    h = lax.conv_general_dilated(h, p["c2"], (2, 2), "VALID", rhs_dilation=(2, 1),
                                 feature_group_count=2, dimension_numbers=nhwc)   # (n, 3, 3, 6)
    h = jnp.sin(h)
    # NCHW / OIHW layout, lhs dilation (a transposed convolution) and explicit padding
    hc = jnp.transpose(h, (0, 3, 1, 2))
    h = lax.conv_general_dilated(hc, p["c3"], (1, 1), ((1, 0), (0, 1)), lhs_dilation=(2, 2),
                                 dimension_numbers=("NCHW", "OIHW", "NCHW"))      # (n, 3, 5, 5)
    h = jnp.tanh(h).reshape(h.shape[0], -1)
    return h @ p["out"] * 0.3


def cnn_params(rng):
    return {"c1": _n(rng, 3, 3, 2, 4), "c1b": _n(rng, 4), "c2": _n(rng, 2, 2, 2, 6) * 0.5,
            "c3": _n(rng, 3, 6, 2, 2) * 0.5, "out": _n(rng, 75, 3)}


def resnet_apply(p, x):
    import jax.numpy as jnp

    h = jnp.tanh(x @ p["W1"] + p["b1"])
    h = h + jnp.tanh(h @ p["W2"] + p["b2"])          # residual block
    h = h + 0.5 * jnp.sin(h @ p["W3"])               # second block, no bias
    return h @ p["Wo"]


def resnet_params(rng):
    return {"W1": _n(rng, 3, 5) * 0.7, "b1": _n(rng, 5), "W2": _n(rng, 5, 5) * 0.5, "b2": _n(rng, 5),
            "W3": _n(rng, 5, 5) * 0.5, "Wo": _n(rng, 5, 2)}


def tied_apply(p, x):
    """Autoencoder with the decoder tied to the encoder (W used twice, once transposed)."""
    import jax.numpy as jnp

    h = jnp.tanh(x @ p["W"] + p["b"])
    return h @ p["W"].T + p["c"]


def tied_params(rng):
    return {"W": _n(rng, 4, 3), "b": _n(rng, 3), "c": _n(rng, 4)}


def reuse_apply(p, x):
    """Parameters reshaped and transposed before use, one used twice, a scalar, pytree output."""
    import jax.numpy as jnp

    V = p["v"].reshape(3, 4)                       # reshape chain
    h = jnp.tanh(x @ V)
    h = jnp.tanh(h @ p["M"].T)                     # transpose chain (M is (5, 4))
    h = h * p["s"] + jnp.sin(p["s"])               # s used twice
    y = h @ p["w"] * p["a"]                        # scalar multiplier (generic use)
    return {"y": y, "z": jnp.cos(h[:, :2])}


def reuse_params(rng):
    return {"v": _n(rng, 12), "M": _n(rng, 5, 4) * 0.5, "s": _n(rng, 5), "w": _n(rng, 5, 2),
            "a": _n(rng)}


def seq_apply(p, x):
    """Rank-3 inputs (n, L, d), a dense layer per position, a bias explicitly broadcast over
    positions (not co-isometric: Jacobian fallback), a per-position offset and per-position
    outputs (n, L, 2)."""
    import jax.numpy as jnp

    z = x @ p["W"]
    h = jnp.tanh(z + p["pos"][None, :, None] + jnp.broadcast_to(p["b"], z.shape))
    return h @ p["Wo"]


def seq_params(rng):
    return {"W": _n(rng, 3, 4), "pos": _n(rng, 5), "b": _n(rng, 4), "Wo": _n(rng, 4, 2)}


MODELS = {
    "mlp": (mlp_apply, mlp_params, (3,)),
    "cnn": (cnn_apply, cnn_params, (7, 7, 2)),
    "resnet": (resnet_apply, resnet_params, (3,)),
    "tied": (tied_apply, tied_params, (4,)),
    "reuse": (reuse_apply, reuse_params, (3,)),
    "seq": (seq_apply, seq_params, (5, 3)),
}
