"""Compatibility module: the data functions of the app's views (`ntk.analysis.views`) and their
figures (`ntk.figures`) under one name, as used by exported snippets and notebooks:

    import ntk.plots as P
    d = P.kernel_data(width=512, activation="relu")      # numbers   (ntk.analysis.views)
    P.kernel_heatmaps(d).show()                            # figure    (ntk.figures)

New code can import from the two homes directly.
"""
from .analysis.sweeps import log_widths  # noqa: F401
from .analysis.views import *  # noqa: F401,F403
from .analysis.views import __all__ as _views_all
from .figures import *  # noqa: F401,F403
from .figures import __all__ as _figures_all

from .figures.theme import LABELS as _LABELS

LAZY_LABELS = {k: _LABELS[k] for k in ("weight_change", "kernel_change", "lin_gap")}

__all__ = sorted(set(_views_all) | set(_figures_all) | {"log_widths", "LAZY_LABELS"})
