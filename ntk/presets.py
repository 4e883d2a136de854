"""Compatibility module: the paper presets live in `ntk.analysis.presets` (one file each).

    import ntk.presets
    r = ntk.presets.jacot_fig1(fast=True)
"""
from .analysis.presets import (PRESETS, PresetInfo, PresetResult, get_preset, jacot_fig1,  # noqa: F401
                               jacot_fig2, lee2019, list_presets, nt_cookbook, run,
                               stax_cnn, train_ensemble)
from .analysis.presets import __all__  # noqa: F401
