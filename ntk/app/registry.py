"""The single page registry: one `PageRecord` per page of the app.

app.py builds its navigation from `pages()`, the pages build their state and widgets from their
record (`state.PageState.of(name)`), the caches resolve data and figure functions by name, and
prewarm computes `prewarm_pages()`. A new page is one record (here, or `register(...)` at run time)
plus one script in pages/. No streamlit import here.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Optional

from .._validate import DEFAULT_MEMORY_BUDGET

#: The app's budget for one kernel computation: half the library's default, so a page leaves
#: room for the figures and the other sessions of the server.
APP_MEMORY_BUDGET = DEFAULT_MEMORY_BUDGET // 2

WIDTH_OPTIONS = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
ACTIVATIONS = ["relu", "erf", "tanh", "gelu", "leaky_relu", "abs", "sin", "identity", "softplus",
               "silu"]


@dataclasses.dataclass(frozen=True)
class Widget:
    """One control: `kind` is a Streamlit widget (slider, number_input, select_slider, selectbox,
    multiselect, radio, toggle); `bounds` (lo, hi) or `options` limit both the widget and the
    values accepted from the URL."""

    name: str
    kind: str
    label: str
    bounds: Optional[tuple] = None
    options: Optional[list] = None
    step: Optional[float] = None
    help: Optional[str] = None


def slider(name, label, lo, hi, step=None, help=None):
    return Widget(name, "slider", label, bounds=(lo, hi), step=step, help=help)


def number(name, label, lo, hi, help=None):
    return Widget(name, "number_input", label, bounds=(lo, hi), help=help)


def choice(name, label, options, kind="selectbox", help=None):
    return Widget(name, kind, label, options=list(options), help=help)


ARCHITECTURE = (
    slider("depth", "Depth (hidden layers)", 1, 6),
    choice("activation", "Activation", ACTIVATIONS),
    slider("alpha", "Leaky ReLU α", 0.0, 1.0, step=0.05),
    slider("W_std", "Weight scale $\\sigma_w$ (W_std)", 0.1, 4.0, step=0.05),
    slider("b_std", "Bias scale $\\sigma_b$ (b_std)", 0.0, 2.0, step=0.05),
    choice("parameterization", "Parameterization", ["ntk", "standard"], kind="radio"),
)


@dataclasses.dataclass
class PageRecord:
    """Everything the app knows about one page.

    data_fn      name of the data function (in `ntk.analysis.views`, or registered with
                 `register_data_fn`), called as data_fn(**compute_args(config), progress=...)
    defaults     the default configuration (also what the URL omits)
    widgets      the controls, with bounds/options (URL values are checked against them)
    fixed_args   arguments the page always adds to its configuration (not in the URL)
    sort_lists   configuration entries sorted before computing (order-free multiselects)
    figures      result -> [(figure function name, kwargs)] shown by default (prewarm, tests)
    """

    name: str
    title: str
    icon: str
    script: str
    data_fn: Optional[str] = None
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    widgets: tuple = ()
    fixed_args: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    sort_lists: tuple = ()
    figures: Callable[[Mapping], list] = lambda d: []
    prewarm: bool = True
    default: bool = False

    def default_config(self) -> dict:
        """A fresh copy of the default configuration."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.defaults.items()}

    def compute_args(self, cfg: Mapping) -> dict:
        """Arguments of the data function for the page's configuration `cfg`."""
        cfg = dict(cfg)
        for k in self.sort_lists:
            cfg[k] = sorted(cfg[k])
        return {**cfg, **dict(self.fixed_args)}

    def widget(self, name: str) -> Widget:
        for w in self.widgets:
            if w.name == name:
                return w
        raise KeyError(f"page {self.name!r} has no widget {name!r}")

    def options(self) -> dict:
        return {w.name: w.options for w in self.widgets if w.options is not None}

    def ranges(self) -> dict:
        return {w.name: w.bounds for w in self.widgets if w.bounds is not None}

    def data_function(self) -> Callable:
        return data_function(self.data_fn)

    def figure(self, fig_fn: str) -> Callable:
        return figure_function(fig_fn)

    def default_figures(self, d: Mapping) -> list:
        return list(self.figures(d))


_PAGES: dict = {}
_DATA_FNS: dict = {}
_FIGURE_FNS: dict = {}


def register(record: PageRecord) -> PageRecord:
    """Add (or replace) a page; the navigation lists pages in registration order."""
    _PAGES[record.name] = record
    return record


def unregister(name: str) -> None:
    _PAGES.pop(name, None)


def register_data_fn(fn: Callable, name: Optional[str] = None) -> str:
    """Make `fn` available to records by name (for data functions outside ntk.analysis.views)."""
    _DATA_FNS[name or fn.__name__] = fn
    return name or fn.__name__


def register_figure_fn(fn: Callable, name: Optional[str] = None) -> str:
    _FIGURE_FNS[name or fn.__name__] = fn
    return name or fn.__name__


def data_function(name: str) -> Callable:
    """The data function called `name` (looked up at call time, so tests can replace it)."""
    from ..analysis import views

    fn = _DATA_FNS.get(name) or getattr(views, name, None)
    if fn is None:
        raise ValueError(f"Unknown data function {name!r}.")
    return fn


def figure_function(name: str) -> Callable:
    from .. import figures

    fn = _FIGURE_FNS.get(name) or getattr(figures, name, None)
    if fn is None:
        raise ValueError(f"Unknown figure function {name!r}.")
    return fn


def get(name: str) -> PageRecord:
    if name not in _PAGES:
        raise ValueError(f"Unknown page {name!r}; pages: {', '.join(_PAGES)}.")
    return _PAGES[name]


def pages() -> list:
    return list(_PAGES.values())


def prewarm_pages() -> tuple:
    """Names of the pages whose default view is computed ahead of the first visit."""
    return tuple(r.name for r in _PAGES.values() if r.prewarm and r.data_fn)


from . import _pages  # noqa: E402,F401  (registers the app's pages)
