"""The app's pages, one record each (see `registry.PageRecord`)."""
from __future__ import annotations

from ..analysis.architectures import ARCHITECTURES as ARCH_NAMES
from .registry import (ACTIVATIONS, APP_MEMORY_BUDGET, ARCHITECTURE, WIDTH_OPTIONS, PageRecord,
                       choice, number, register, slider)

_ARCH_NO_PARAM = tuple(w for w in ARCHITECTURE if w.name != "parameterization")
#: The network family (ntk.analysis.architectures); convolutional ones work on 8x8 digit images.
ARCH_CHOICE = choice("architecture", "Architecture", list(ARCH_NAMES),
                     help="MLP: fully connected. CNN, CNN + pool, ResNet (built with ntk.stax) take "
                          "8×8 images: a circle of digit images or the digits; width = channels.")
_DATA_HELP = ("circle: equally spaced angles (for CNN/ResNet: a circle of 8×8 images through two "
              "digits); sine: a 1-D grid; moons: 2-D points by class; digits: 8×8 digits by class")
_ARCH_DEFAULTS = dict(depth=2, activation="relu", alpha=0.1, W_std=1.5, b_std=0.05)
TRAINING_STEPS = [50, 100, 200, 300, 500, 1000, 2000]


def _training_figures(d) -> list:
    ok = [int(w) for w in d["widths"] if not d["runs"][int(w)]["diverged"]]
    if not ok:
        return []
    return [("training_animation", dict(width=ok[0], step_buttons=False)), ("gap_figure", {}),
            ("final_predictions_figure", {}), ("loss_figure", {})]


register(PageRecord(
    "home", "Home", ":material/home:", "pages/home.py", data_fn="home_data", default=True,
    defaults=dict(depths=[1, 2, 3, 4], activation="relu", W_std=1.5, b_std=0.05),
    figures=lambda d: [("home_figure", {})], prewarm=False))

register(PageRecord(
    "kernel", "Kernel explorer", ":material/grid_on:", "pages/kernel.py", data_fn="kernel_data",
    defaults=dict(width=512, seed=0, **_ARCH_DEFAULTS, parameterization="ntk", dataset="circle",
                  n=32, circle_seeds=4, architecture="mlp"),
    widgets=(choice("width", "Width n", WIDTH_OPTIONS, kind="select_slider"),
             number("seed", "Seed", 0, 10_000), ARCH_CHOICE, *ARCHITECTURE,
             choice("dataset", "Data", ["circle", "sine", "moons", "digits"], help=_DATA_HELP),
             number("n", "Number of points", 4, 2000,
                    help="Large values with large widths exceed the memory budget (you will be told)."),
             slider("circle_seeds", "Seeds per width (circle plot)", 1, 10)),
    fixed_args=dict(circle_widths=[32, 256, 2048], circle_channels=[8, 32, 128],
                    memory_budget=APP_MEMORY_BUDGET),
    figures=lambda d: [("infinite_heatmaps", {}), ("empirical_heatmaps", {}), ("circle_figure", {})]))

register(PageRecord(
    "convergence", "Width convergence", ":material/trending_down:", "pages/convergence.py",
    data_fn="convergence_data",
    defaults=dict(w_min=32, w_max=2048, n_widths=7, n_seeds=4, **_ARCH_DEFAULTS, dataset="circle",
                  n=16, architecture="mlp"),
    widgets=(number("w_min", "Smallest width", 1, 16384), number("w_max", "Largest width", 1, 16384),
             slider("n_widths", "Number of widths (log-spaced)", 2, 12),
             slider("n_seeds", "Seeds per width", 1, 20), ARCH_CHOICE, *_ARCH_NO_PARAM,
             choice("dataset", "Data", ["circle", "sine", "moons", "digits"], help=_DATA_HELP),
             number("n", "Number of points", 2, 500)),
    figures=lambda d: [("convergence_figure", {})]))

register(PageRecord(
    "training", "Training dynamics", ":material/play_circle:", "pages/training.py",
    data_fn="training_data",
    defaults=dict(widths=[32, 512], depth=2, activation="erf", alpha=0.1, W_std=1.5, b_std=0.1,
                  parameterization="ntk", dataset="sine", n_train=8, noise=0.05,
                  optimizer_name="sgd", lr_fraction=0.5, steps=300, seed=0, architecture="mlp"),
    widgets=(choice("widths", "Widths", WIDTH_OPTIONS, kind="multiselect",
                    help="Several widths at once: the network-vs-linearization gap shrinks as width grows."),
             choice("dataset", "Data", ["sine", "circle", "moons", "spirals"],
                    help="sine: 1-D regression; circle: sin(2γ) on the unit circle (CNN/ResNet: on a "
                         "circle of 8×8 digit images); moons/spirals: 2-D ±1"),
             slider("n_train", "Training points", 2, 256), ARCH_CHOICE, *ARCHITECTURE,
             choice("optimizer_name", "Optimizer", ["sgd", "momentum", "adam"]),
             slider("lr_fraction", "Learning rate (× $\\eta_{max} = 2N/\\lambda_{max}$ of Θ∞; Adam: × 0.01)",
                    0.01, 5.0,
                    step=0.01),
             choice("steps", "Steps", TRAINING_STEPS, kind="select_slider"),
             slider("noise", "Label noise", 0.0, 1.0, step=0.01), number("seed", "Seed", 0, 10_000)),
    sort_lists=("widths",), figures=_training_figures))

register(PageRecord(
    "lazy", "Lazy regime", ":material/bedtime:", "pages/lazy.py", data_fn="lazy_data",
    defaults=dict(w_min=32, w_max=1024, n_widths=4, n_seeds=2, **_ARCH_DEFAULTS, n_train=8,
                  steps=100, lr_fraction=0.5, narrow=32, wide=1024),
    widgets=(number("w_min", "Smallest width", 1, 8192), number("w_max", "Largest width", 1, 8192),
             slider("n_widths", "Number of widths", 2, 10), slider("n_seeds", "Seeds per width", 1, 10),
             *_ARCH_NO_PARAM, slider("n_train", "Training points (unit circle)", 2, 128),
             number("steps", "Steps", 1, 5000),
             slider("lr_fraction", "Learning rate (× $\\eta_{max}$)", 0.01, 5.0, step=0.01),
             choice("narrow", "Narrow width (drift plot)", WIDTH_OPTIONS, kind="select_slider"),
             choice("wide", "Wide width (drift plot)", WIDTH_OPTIONS, kind="select_slider")),
    figures=lambda d: [("lazy_scaling_figure", {}), ("kernel_drift_figure", {})]))

register(PageRecord(
    "spectrum", "Spectrum", ":material/equalizer:", "pages/spectrum.py", data_fn="spectrum_data",
    defaults=dict(width=512, seed=0, **_ARCH_DEFAULTS, n_train=32, lr_fraction=0.5, steps=300,
                  n_modes=6, architecture="mlp"),
    widgets=(choice("width", "Width n", WIDTH_OPTIONS, kind="select_slider"), ARCH_CHOICE,
             *_ARCH_NO_PARAM,
             slider("n_train", "Training points on the circle", 2, 512),
             slider("lr_fraction", "Learning rate (× $\\eta_{max} = 2N/\\lambda_{max}$)", 0.01, 5.0, step=0.01),
             number("steps", "Steps", 1, 5000), slider("n_modes", "Modes shown", 1, 8),
             number("seed", "Seed", 0, 10_000)),
    figures=lambda d: [("spectrum_figure", {})]))

register(PageRecord(
    "architectures", "Architectures", ":material/account_tree:", "pages/architectures.py",
    data_fn="architectures_data",
    defaults=dict(architectures=["mlp", "cnn", "cnn_pool", "resnet"], n_train=100, n_test=100,
                  max_shift=1, depth=2, activation="relu", alpha=0.1, W_std=1.5, b_std=0.05,
                  widths=[16, 64, 256], n_seeds=4, seed=0),
    widgets=(choice("architectures", "Architectures", list(ARCH_NAMES), kind="multiselect",
                    help="MLP: fully connected; CNN: 3×3 convolutions, flatten readout; CNN + pool: "
                         "global average pooling readout; ResNet: stride-2 stem, residual blocks, pooling"),
             number("n_train", "Training digits", 10, 1000,
                    help="Pooled kernels cost (8×8)² numbers per pair of digits: large values are "
                         "refused with an estimate."),
             number("n_test", "Test digits", 10, 1000),
             slider("max_shift", "Random shift of every digit (pixels)", 0, 3,
                    help="0: the original digits. Shifting tests translation invariance."),
             slider("depth", "Depth (layers; residual blocks for the ResNet)", 1, 6),
             choice("activation", "Activation", ACTIVATIONS),
             slider("alpha", "Leaky ReLU α", 0.0, 1.0, step=0.05),
             slider("W_std", "W_std (σ_w)", 0.1, 4.0, step=0.05),
             slider("b_std", "b_std (σ_b)", 0.0, 2.0, step=0.05),
             choice("widths", "Widths / channels (convergence plot)", [8, 16, 32, 64, 128, 256, 512, 1024],
                    kind="multiselect"),
             slider("n_seeds", "Seeds per width", 1, 8), number("seed", "Data seed", 0, 10_000)),
    fixed_args=dict(n_conv=12, memory_budget=APP_MEMORY_BUDGET),
    sort_lists=("widths",),
    figures=lambda d: [("architecture_heatmaps", {}), ("architecture_accuracy", {}),
                       ("architecture_spectra", {}), ("architecture_convergence", {})]))

register(PageRecord("presets", "Presets", ":material/tune:", "pages/presets.py", prewarm=False))

__all__ = ["ACTIVATIONS", "TRAINING_STEPS"]
