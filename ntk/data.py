"""Small data sets for NTK experiments. Every generator takes an explicit seed.

All return a `Dataset(x_train, y_train, x_test, y_test)` of float arrays, y of shape (n, k).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _validate as V


class Dataset(NamedTuple):
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def __repr__(self):
        return (f"Dataset(x_train={self.x_train.shape}, y_train={self.y_train.shape}, "
                f"x_test={self.x_test.shape}, y_test={self.y_test.shape})")


def _rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {seed!r}.")
    return np.random.default_rng(int(seed))


def sine_1d(n_train: int = 5, n_test: int = 200, noise: float = 0.1, seed: int = 0,
            dtype=np.float32) -> Dataset:
    """Noisy y = sin(x) at n_train uniform points on [-pi, pi]; a clean test grid on [-pi, pi]."""
    n_train = V.check_positive_int(n_train, "n_train")
    n_test = V.check_positive_int(n_test, "n_test")
    noise = V.check_positive_float(noise, "noise", allow_zero=True)
    rng = _rng(seed)
    x = rng.uniform(-np.pi, np.pi, (n_train, 1))
    y = np.sin(x) + noise * rng.normal(size=x.shape)
    xt = np.linspace(-np.pi, np.pi, n_test)[:, None]
    return Dataset(x.astype(dtype), y.astype(dtype), xt.astype(dtype), np.sin(xt).astype(dtype))


def circle_points(gamma) -> np.ndarray:
    """Points on the unit circle x = (cos gamma, sin gamma), shape (len(gamma), 2)."""
    g = np.asarray(gamma, dtype=np.float64).reshape(-1)
    return np.stack([np.cos(g), np.sin(g)], axis=1)


def unit_circle(n_train: int = 4, n_test: int = 100, noise: float = 0.0, seed: int = 0,
                target=None, dtype=np.float32) -> Dataset:
    """Training points at random angles on the unit circle, test points on a uniform angle grid.

    `target(gamma)` defaults to sin(2 gamma) (a smooth function of the angle). The test grid runs
    over gamma in [-pi, pi].
    """
    n_train = V.check_positive_int(n_train, "n_train")
    n_test = V.check_positive_int(n_test, "n_test")
    rng = _rng(seed)
    target = target or (lambda g: np.sin(2 * g))
    g = rng.uniform(-np.pi, np.pi, n_train)
    gt = np.linspace(-np.pi, np.pi, n_test)
    y = target(g)[:, None] + noise * rng.normal(size=(n_train, 1))
    return Dataset(circle_points(g).astype(dtype), y.astype(dtype),
                   circle_points(gt).astype(dtype), target(gt)[:, None].astype(dtype))


def moons(n_train: int = 64, n_test: int = 256, noise: float = 0.1, seed: int = 0,
          dtype=np.float32) -> Dataset:
    """Two interleaving half circles in 2-D, targets +-1, inputs centred."""
    n_train = V.check_positive_int(n_train, "n_train")
    n_test = V.check_positive_int(n_test, "n_test")
    rng = _rng(seed)

    def make(n):
        lab = rng.integers(0, 2, n)
        t = rng.uniform(0, np.pi, n)
        x = np.where(lab[:, None] == 0,
                     np.stack([np.cos(t), np.sin(t)], 1),
                     np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
        x = x - np.array([0.5, 0.25]) + noise * rng.normal(size=(n, 2))
        return x, (2.0 * lab - 1.0)[:, None]

    x, y = make(n_train)
    xt, yt = make(n_test)
    return Dataset(x.astype(dtype), y.astype(dtype), xt.astype(dtype), yt.astype(dtype))


def spirals(n_train: int = 64, n_test: int = 256, noise: float = 0.05, turns: float = 1.5,
            seed: int = 0, dtype=np.float32) -> Dataset:
    """Two interleaved spirals in 2-D (radius <= 1), targets +-1."""
    n_train = V.check_positive_int(n_train, "n_train")
    n_test = V.check_positive_int(n_test, "n_test")
    rng = _rng(seed)

    def make(n):
        lab = rng.integers(0, 2, n)
        r = rng.uniform(0.1, 1.0, n)
        ang = 2 * np.pi * turns * r + np.pi * lab
        x = np.stack([r * np.cos(ang), r * np.sin(ang)], 1) + noise * rng.normal(size=(n, 2))
        return x, (2.0 * lab - 1.0)[:, None]

    x, y = make(n_train)
    xt, yt = make(n_test)
    return Dataset(x.astype(dtype), y.astype(dtype), xt.astype(dtype), yt.astype(dtype))


def digits(n_train: int = 150, n_test: int = 150, classes=(0, 1), seed: int = 0,
           one_hot: bool = False, dtype=np.float32) -> Dataset:
    """scikit-learn's bundled 8x8 digits (offline), standardized features, 64 dimensions.

    With two classes targets are +-1 (shape (n, 1)); otherwise, or with one_hot=True, one-hot
    targets centred to mean zero (shape (n, n_classes)).
    """
    from sklearn.datasets import load_digits

    n_train = V.check_positive_int(n_train, "n_train")
    n_test = V.check_positive_int(n_test, "n_test")
    rng = _rng(seed)
    X, y = load_digits(return_X_y=True)
    classes = tuple(int(c) for c in classes)
    if not classes or any(c < 0 or c > 9 for c in classes):
        raise ValueError(f"classes must be digits 0..9, got {classes}.")
    mask = np.isin(y, classes)
    X, y = X[mask], y[mask]
    if n_train + n_test > len(X):
        raise ValueError(
            f"Only {len(X)} digits of classes {classes}; reduce n_train + n_test "
            f"(asked {n_train + n_test})."
        )
    perm = rng.permutation(len(X))
    X, y = X[perm], y[perm]
    X = X / 16.0
    mu, sd = X[:n_train].mean(0), X[:n_train].std(0) + 1e-3
    X = (X - mu) / sd
    if len(classes) == 2 and not one_hot:
        Y = np.where(y == classes[1], 1.0, -1.0)[:, None]
    else:
        idx = np.searchsorted(np.array(sorted(classes)), y)
        Y = np.eye(len(classes))[idx] - 1.0 / len(classes)
    return Dataset(X[:n_train].astype(dtype), Y[:n_train].astype(dtype),
                   X[n_train:n_train + n_test].astype(dtype), Y[n_train:n_train + n_test].astype(dtype))


DATASETS = {"sine": sine_1d, "circle": unit_circle, "moons": moons, "spirals": spirals,
            "digits": digits}


def load(name: str, **kwargs) -> Dataset:
    """Dataset by name: 'sine', 'circle', 'moons', 'spirals' or 'digits'."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    return DATASETS[name](**kwargs)


def _standardize_images(X):
    """Each image to zero mean and unit variance over its pixels (blank images stay zero)."""
    X = X - X.mean(axis=(1, 2, 3), keepdims=True)
    sd = X.std(axis=(1, 2, 3), keepdims=True)
    return X / np.where(sd > 0, sd, 1.0)


def _shift_images(X, max_shift: int, rng):
    """Translate each image (n, H, W, C) by a random (dy, dx) in [-max_shift, max_shift]^2,
    filling with background (zero)."""
    n, H, W, _ = X.shape
    s = int(max_shift)
    P = np.pad(X, ((0, 0), (s, s), (s, s), (0, 0)))
    d = rng.integers(-s, s + 1, size=(n, 2))
    return np.stack([P[i, s - dy:s - dy + H, s - dx:s - dx + W] for i, (dy, dx) in enumerate(d)])


def digits_images(n_train: int = 100, n_test: int = 100, seed: int = 0,
                  classes=tuple(range(10)), one_hot: bool = True, max_shift: int = 0,
                  dtype=np.float32) -> Dataset:
    """scikit-learn's bundled 8x8 digits (offline) as images: x of shape (n, 8, 8, 1), channels
    last (the layout of `ntk.stax` convolutions; flatten to (n, 64) for an MLP).

    Each image is standardized over its 64 pixels (zero mean, unit variance), so every input
    has the same norm and the spatial structure is kept. `max_shift` > 0 first translates every
    image (train and test) by a random offset of up to that many pixels in each direction (a
    synthetic test of translation invariance). A random subset (explicit `seed`) of the
    given `classes`; targets as in `digits`: one-hot centred to mean zero, shape (n, k) (or +-1 of
    shape (n, 1) for two classes with one_hot=False). Labels are `y.argmax(1)` (position in
    sorted `classes`).
    """
    from sklearn.datasets import load_digits

    n_train = V.check_positive_int(n_train, "n_train")
    n_test = V.check_positive_int(n_test, "n_test")
    rng = _rng(seed)
    classes = tuple(sorted({int(c) for c in classes}))
    if len(classes) < 2 or any(c < 0 or c > 9 for c in classes):
        raise ValueError(f"classes must be at least two digits out of 0..9, got {classes}.")
    X, y = load_digits(return_X_y=True)
    mask = np.isin(y, classes)
    X, y = X[mask], y[mask]
    if n_train + n_test > len(X):
        raise ValueError(f"Only {len(X)} digits of classes {classes}; reduce n_train + n_test "
                         f"(asked {n_train + n_test}).")
    max_shift = V.check_int(max_shift, "max_shift", minimum=0)
    if max_shift > 3:
        raise ValueError(f"max_shift must be 0..3 pixels (the images are 8x8), got {max_shift}.")
    perm = rng.permutation(len(X))[:n_train + n_test]
    X = (X[perm] / 16.0).reshape(-1, 8, 8, 1)
    if max_shift:
        X = _shift_images(X, max_shift, rng)
    X = _standardize_images(X)
    idx = np.searchsorted(np.array(classes), y[perm])
    if len(classes) == 2 and not one_hot:
        Y = np.where(idx == 1, 1.0, -1.0)[:, None]
    else:
        Y = np.eye(len(classes))[idx] - 1.0 / len(classes)
    return Dataset(X[:n_train].astype(dtype), Y[:n_train].astype(dtype),
                   X[n_train:].astype(dtype), Y[n_train:].astype(dtype))


def image_circle(gamma, pair=(0, 1), seed: int = 0, dtype=np.float32) -> np.ndarray:
    """Images on a great circle through two digits: x(γ) = cos γ · u + sin γ · v, shape
    (len(gamma), 8, 8, 1).

    u is a standardized image of digit pair[0] (drawn with `seed`), v the standardized image of
    digit pair[1] made orthogonal to u (Gram-Schmidt) and rescaled to the same norm (8, the norm
    of every standardized 8x8 image), so x(0) is the first digit and every x(γ) has norm 8: the
    image analogue of the unit circle of Jacot et al.'s Fig. 1.
    """
    from sklearn.datasets import load_digits

    rng = _rng(seed)
    a, b = (int(c) for c in pair)
    if a == b or not (0 <= a <= 9 and 0 <= b <= 9):
        raise ValueError(f"pair must be two different digits 0..9, got {pair}.")
    X, y = load_digits(return_X_y=True)
    u = X[rng.choice(np.flatnonzero(y == a))]
    v = X[rng.choice(np.flatnonzero(y == b))]
    u = _standardize_images(u.reshape(1, 8, 8, 1)).ravel()
    v = _standardize_images(v.reshape(1, 8, 8, 1)).ravel()
    v = v - (v @ u) / (u @ u) * u
    v = v * np.linalg.norm(u) / np.linalg.norm(v)
    g = np.asarray(gamma, dtype=np.float64).reshape(-1, 1)
    return (np.cos(g) * u + np.sin(g) * v).reshape(-1, 8, 8, 1).astype(dtype)
