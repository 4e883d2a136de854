"""Paper presets: classic NTK figures recomputed with this library, with figures and numbers.

    import ntk.presets
    ntk.presets.list_presets()                 # name, title, reference of each preset
    r = ntk.presets.jacot_fig1(fast=True)      # or ntk.presets.run("jacot_fig1", fast=True)
    r.numbers                                  # measured numbers (computed, never hard-coded)
    r.figures["kernel"].show()                 # plotly figures (the same ones the app shows)
    print(r.caption)                           # what the paper showed and how close we are

One file per preset (`jacot_fig1.py`, ...): a function `name(fast=False, ..., progress=None) ->
PresetResult` registered with `@register`; its prose (title, reference, summary, descriptions of
the numbers, caption) is in `text.py`. Defaults follow the original experiment as far as a CPU
budget allows (what differs is stated in the caption); `fast=True` shrinks widths / seeds / steps
for tests and quick looks. Size arguments override both. `progress(done, total, label)` is called
as work completes.

Presets run in float32 (the library default; jax_enable_x64 is never changed here). Training
uses full-batch gradient descent on L = 1/(2N) sum (f - y)^2, so "time" t = learning_rate x steps
is the gradient-flow time of that loss; closed forms (`ntk.ensemble_mse`) are evaluated at the
same t. Ensembles are trained together (`ntk.analysis.ensemble.train_ensemble`). A diverged
training run raises RuntimeError with the training message.
"""
from ..ensemble import train_ensemble
from ._base import PRESETS, PresetInfo, PresetResult
from .jacot_fig1 import jacot_fig1
from .jacot_fig2 import jacot_fig2
from .lee2019 import lee2019
from .nt_cookbook import nt_cookbook
from .stax_cnn import stax_cnn


def list_presets() -> list:
    """All presets as `PresetInfo(name, title, reference, summary)`, in a stable order."""
    return list(PRESETS.values())


def get_preset(name: str) -> PresetInfo:
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of: {', '.join(PRESETS)}.")
    return PRESETS[name]


def run(name: str, fast: bool = False, progress=None, **kwargs) -> PresetResult:
    """Run preset `name` (see `list_presets()`); keyword arguments go to the preset function."""
    return get_preset(name).fn(fast=fast, progress=progress, **kwargs)


__all__ = ["PRESETS", "PresetInfo", "PresetResult", "get_preset", "jacot_fig1", "jacot_fig2",
           "lee2019", "list_presets", "nt_cookbook", "run", "stax_cnn", "train_ensemble"]
