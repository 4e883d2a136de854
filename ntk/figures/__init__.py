"""Plotly figure factories, one file per view, all drawn with one theme (`ntk.figures.theme`).

Each figure function takes the dict of a view-model function (`ntk.analysis.views`) or a
preset's plain data and returns a `plotly.graph_objects.Figure`:

    from ntk.analysis import views
    from ntk import figures
    figures.circle_figure(views.kernel_data(width=512)).show()

Nothing here computes kernels or imports streamlit.
"""
from .architectures import (architecture_accuracy, architecture_convergence,
                            architecture_heatmaps, architecture_spectra)
from .convergence import convergence_figure
from .home import home_figure
from .kernel import circle_figure, empirical_heatmaps, infinite_heatmaps, kernel_heatmaps
from .lazy import kernel_drift_figure, lazy_scaling_figure
from .presets import (function_quantiles, kernel_on_circle, linearization_dynamics,
                      loglog_metrics, loss_curves, posterior_bands)
from .spectrum import (eigenvalue_figure, eigenvector_figure, mode_convergence_figure,
                       spectrum_figure)
from .theme import (CATEGORICAL, INFINITE_COLOR, LABELS, MODE_COLORS, apply_theme, layout,
                    presenter_template, width_color, width_colors)
from .training import final_predictions_figure, gap_figure, loss_figure, training_animation

__all__ = [
    "architecture_accuracy", "architecture_convergence", "architecture_heatmaps",
    "architecture_spectra", "CATEGORICAL", "INFINITE_COLOR", "LABELS", "MODE_COLORS", "apply_theme", "circle_figure",
    "convergence_figure", "eigenvalue_figure", "eigenvector_figure", "empirical_heatmaps",
    "final_predictions_figure", "function_quantiles", "gap_figure", "home_figure",
    "infinite_heatmaps", "kernel_drift_figure", "kernel_heatmaps", "kernel_on_circle",
    "layout", "lazy_scaling_figure", "linearization_dynamics", "loglog_metrics", "loss_curves",
    "loss_figure", "mode_convergence_figure", "posterior_bands", "presenter_template",
    "spectrum_figure", "training_animation", "width_color", "width_colors",
]
