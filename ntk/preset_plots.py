"""Compatibility module: the preset figures live in `ntk.figures.presets` (on the shared theme)."""
from .figures.presets import (function_quantiles, kernel_on_circle, linearization_dynamics,  # noqa: F401
                              loglog_metrics, loss_curves, posterior_bands)
from .figures.theme import INFINITE_COLOR, LABELS, width_colors  # noqa: F401

METRIC_LABELS = LABELS

__all__ = ["function_quantiles", "kernel_on_circle", "linearization_dynamics", "loglog_metrics",
           "loss_curves", "posterior_bands", "width_colors"]
