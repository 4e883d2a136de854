"""Compatibility module: width sweeps live in `ntk.analysis.sweeps`, metrics in
`ntk.analysis.metrics` (`ntk.width_sweep`, `ntk.kernel_error`, ... keep working)."""
from .analysis.metrics import kernel_error
from .analysis.sweeps import METRICS, SweepResult, fit_loglog_slope, log_widths, width_sweep

__all__ = ["METRICS", "SweepResult", "fit_loglog_slope", "kernel_error", "log_widths",
           "width_sweep"]
