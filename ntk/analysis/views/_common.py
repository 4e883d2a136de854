"""Helpers shared by the view-model functions: interned networks and the pages' input sets."""
from __future__ import annotations

import numpy as np

from ..._cache import cached


def activation_spec(activation: str, alpha: float = 0.1):
    """The `ntk.mlp` activation argument for a page's (activation, leaky-ReLU alpha) pair."""
    return ("leaky_relu", {"alpha": float(alpha)}) if activation == "leaky_relu" else activation


def make_net(width, depth=2, activation="relu", alpha=0.1, W_std=1.5, b_std=0.05,
             parameterization="ntk", out_dim=1):
    """`ntk.mlp([width] * depth, ...)`, interned: equal configurations return the same object.

    The core caches compiled training loops on `net.apply`, and bound methods compare by the
    identity of the object, so a fresh (equal) network would recompile; interning avoids that.
    """
    return _make_net(int(width), int(depth), str(activation), float(alpha), float(W_std),
                     float(b_std), str(parameterization), int(out_dim))


@cached(maxsize=256)
def _make_net(width, depth, activation, alpha, W_std, b_std, parameterization, out_dim):
    from ...nets import mlp

    return mlp([int(width)] * int(depth), out_dim, activation_spec(activation, alpha),
               W_std, b_std, parameterization)


def infinite_net(depth, activation, alpha, W_std, b_std, parameterization, width, out_dim=1):
    """The network whose infinite-width kernel is the limit of `make_net(width, ...)`.

    In NTK parameterization the limit does not depend on the width: a canonical width is used so
    the compiled kernel (static on the network) is shared by all widths.
    """
    w = 1 if parameterization == "ntk" else width
    return make_net(w, depth, activation, alpha, W_std, b_std, parameterization, out_dim)


def make_inputs(dataset: str, n: int, seed: int = 0):
    """Inputs for kernel views, ordered so heatmaps show structure: (x (n, d), coordinate (n,),
    coordinate label)."""
    from ... import data

    n = int(n)
    if n <= 0:
        raise ValueError(f"Number of points must be positive, got {n}.")
    if dataset == "circle":
        g = np.linspace(-np.pi, np.pi, n, endpoint=False)
        return data.circle_points(g).astype(np.float32), g, "angle γ"
    if dataset == "sine":
        x = np.linspace(-np.pi, np.pi, n)
        return x[:, None].astype(np.float32), x, "x"
    if dataset == "moons":
        d = data.moons(n_train=n, n_test=1, seed=seed)
        order = np.lexsort((d.x_train[:, 0], d.y_train[:, 0]))
        return d.x_train[order], np.arange(n, dtype=float), "point (sorted by class, x₁)"
    if dataset == "digits":  # 8x8 digit images, flattened to 64 features, sorted by class
        d = data.digits_images(n, 1, seed=seed)
        order = np.argsort(d.y_train.argmax(1), kind="stable")
        return d.x_train[order].reshape(n, -1), np.arange(n, dtype=float), "digit (sorted by class)"
    raise ValueError(f"Unknown dataset {dataset!r}; choose 'circle', 'sine', 'moons' or 'digits'.")


def np_or_none(a):
    return None if a is None else np.asarray(a)
