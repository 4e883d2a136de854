"""Analysis above the kernels: metrics, width sweeps, ensembles, view models and paper presets.

    ntk.analysis.metrics     one definition each: kernel_error, weight_change, kernel_change,
                             lin_gap (and lin_gap_curve over training)
    ntk.analysis.sweeps      width_sweep -> SweepResult (tidy table + log-log fits)
    ntk.analysis.ensemble    train_ensemble: many small nets trained together (vmapped)
    ntk.analysis.views       the data functions of the app's pages (kernel_data, training_data, ...)
    ntk.analysis.presets     paper experiments, one file each (loaded on first use: plotly)
    ntk.analysis.progress    the one progress-callback convention (done, total, label)

Nothing here imports streamlit; figures live in `ntk.figures`.
"""
from . import ensemble, metrics, progress, sweeps, views
from .ensemble import train_ensemble
from .metrics import kernel_change, kernel_error, lin_gap, lin_gap_curve, weight_change
from .sweeps import METRICS, SweepResult, fit_loglog_slope, log_widths, width_sweep


def __getattr__(name):
    if name == "presets":
        import importlib

        return importlib.import_module(f"{__name__}.presets")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["METRICS", "SweepResult", "ensemble", "fit_loglog_slope", "kernel_change",
           "kernel_error", "lin_gap", "lin_gap_curve", "log_widths", "metrics", "progress",
           "sweeps", "train_ensemble", "views", "weight_change", "width_sweep"]
