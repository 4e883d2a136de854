"""CNN-GP (Novak et al. 2019) / CNTK (Arora et al. 2019) on digits: fully connected vs
convolutional kernels, with and without global average pooling, built with `ntk.stax`."""
from __future__ import annotations

import time

import numpy as np

from ._base import Progress, Tracker, pick, register, result
from .text import stax_cnn_labels

ARCHS = ("mlp", "cnn", "cnn_pool")


def _setting(archs, arch_kw, n_train, n_test, seed, shift, tracker):
    """{arch: kernel_comparison(...)} on the digits shifted by up to `shift` pixels."""
    from ... import data
    from ..architectures import kernel_comparison

    d = data.digits_images(n_train, n_test, seed=seed, max_shift=shift)
    order = np.argsort(d.y_train.argmax(1), kind="stable")
    x_train, y_train = d.x_train[order], d.y_train[order]
    out = {}
    for a in archs:
        out[a] = kernel_comparison(a, arch_kw, x_train, y_train, d.x_test, d.y_test)
        tracker(f"{a}, shift {shift}")
    return out, y_train.argmax(1)


def _view(per, labels, archs, n_train, n_test, shift, depth):
    """The dict `ntk.figures.architecture_*` draw (the Architectures page's layout)."""
    from ..architectures import ARCHITECTURES

    return dict(architectures=list(archs), per={a: dict(name=ARCHITECTURES[a], **per[a]) for a in archs},
                labels=labels, n_train=n_train, n_test=n_test, max_shift=shift, depth=depth)


@register
def stax_cnn(fast: bool = False, n_train=None, n_test=None, shifts=(0, 1), depth: int = 2,
             W_std: float = 1.5, b_std: float = 0.05, seed: int = 0, progress: Progress = None):
    """Test accuracy of kernel regression at t = ∞ (NNGP and NTK) of an MLP, a CNN without
    pooling and a CNN with global average pooling, all infinite-width and built with ntk.stax,
    on the same sklearn digits (8x8 images, 10 classes): the original digits and digits shifted
    at random by up to one pixel (`shifts`).

    Papers: CIFAR-10 with deep CNNs and the full training set; here depth-`depth` ReLU nets with
    3x3 filters, `n_train` training and `n_test` test digits. fast=True: 40 / 40 digits.
    """
    from ...figures.architectures import architecture_accuracy, architecture_heatmaps

    t0 = time.time()
    n_train = int(pick(n_train, 100, 40, fast))
    n_test = int(pick(n_test, 200, 40, fast))
    shifts = tuple(int(s) for s in shifts)
    arch_kw = dict(depth=int(depth), activation="relu", W_std=float(W_std), b_std=float(b_std))
    tracker = Tracker(progress, len(ARCHS) * len(shifts))
    tracker.start("computing kernels")
    numbers, figures, views = {}, {}, {}
    for s in shifts:
        per, labels = _setting(ARCHS, arch_kw, n_train, n_test, seed, s, tracker)
        views[s] = _view(per, labels, ARCHS, n_train, n_test, s, depth)
        for a in ARCHS:
            for g in ("ntk", "nngp"):
                numbers[f"acc_{a}_{g}_shift{s}"] = per[a][f"acc_{g}"]
        numbers[f"pool_gain_ntk_shift{s}"] = per["cnn_pool"]["acc_ntk"] - per["mlp"]["acc_ntk"]
        figures[f"accuracy_shift{s}"] = architecture_accuracy(views[s])
    figures["kernels"] = architecture_heatmaps(views[shifts[0]])
    config = dict(fast=fast, n_train=n_train, n_test=n_test, shifts=list(shifts), depth=depth,
                  activation="relu", W_std=W_std, b_std=b_std, filter="3x3", padding="SAME",
                  architectures=list(ARCHS), seed=seed, classes=10, dtype="float32 kernels, "
                  "float64 solve")
    data_ = {f"shift{s}": v for s, v in views.items()}
    return result("stax_cnn", figures, numbers, config, stax_cnn_labels(ARCHS, shifts), data_, t0)
