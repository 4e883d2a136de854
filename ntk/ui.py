"""Streamlit-side helpers shared by the pages (imports streamlit; `import ntk` never imports this).

* `PageState`: a page's full configuration in `st.session_state` *and* the URL (`st.query_params`):
  opening a URL reproduces the view; invalid URL values are reported, not raised.
* `compute`: one cached call into `ntk.plots.<data_fn>(**config)` with a progress bar and
  readable errors (ValueError from the core -> `st.error`, never a traceback). Results are
  cached in memory (shared by sessions) and on disk across server restarts, keyed by the
  configuration and a fingerprint of the ntk sources (`NTK_RESULTS_CACHE`: folder, 0 = off).
* `show_figure`: theme (presenter mode), cached chart, "what to notice" caption, and an Export
  button opening a dialog (interactive HTML, CSV, NPZ, JSON config, Python snippet that rebuilds
  the figure in Jupyter).
* `plotly_chart`: a chart that a rerun with a new figure updates in place (Plotly.react).
* `presenter()`: lecture mode flag (sidebar toggle in app.py).
"""
from __future__ import annotations

import collections
import functools
import hashlib
import json
import os
import pickle
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import streamlit as st

from . import export as E
from . import plots as P

MEMORY_BUDGET = 1024**3  # bytes; the app's budget for one kernel computation
_CACHE_ENTRIES = 160  # results and built figures
_DISK_ENTRIES = 400  # results kept on disk (oldest removed first)
_DISK_MAX_BYTES = 32 * 1024**2  # larger results are not written to disk


# ---------------------------------------------------------------------------------------------
# Lecture mode
# ---------------------------------------------------------------------------------------------

def presenter() -> bool:
    return bool(st.session_state.get("presenter", False))


def _ensure_app_navigation():
    """Run pages through app.py's `st.navigation`, never Streamlit's legacy pages/ discovery.

    Streamlit decides at server start that an app with a `pages/` folder is a v1 multipage app;
    until app.py has called st.navigation once, a first visit to e.g. /kernel runs
    pages/kernel.py alone (no titles, icons, page config). Flip the flag and rerun through app.py.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # pragma: no cover - other streamlit versions
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def presenter_toggle():
    """Sidebar toggle, rendered once by every page; ?presenter=1 in the URL turns it on."""
    _ensure_app_navigation()
    q = st.query_params.get("presenter")
    if q is not None and st.session_state.get("_presenter_url") != q:
        st.session_state["presenter"] = q in ("1", "true", "True")
    st.session_state["_presenter_url"] = q
    if "presenter" not in st.session_state:
        st.session_state["presenter"] = False
    st.sidebar.toggle("Presenter mode", key="presenter",
                      help="Large fonts and thick lines, fewer controls, step-through animations "
                           "and a 'what to notice' note under each figure.")


# ---------------------------------------------------------------------------------------------
# URL / session state
# ---------------------------------------------------------------------------------------------

def _encode(v) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (list, tuple)):
        return ",".join(_encode(u) for u in v)
    if isinstance(v, float):
        return repr(float(v))
    return str(v)


def _decode(s: str, default):
    if isinstance(default, bool):
        if s.lower() in ("1", "true", "yes", "on"):
            return True
        if s.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError("expected 1 or 0")
    if isinstance(default, int):
        return int(float(s)) if float(s).is_integer() else int(s)
    if isinstance(default, float):
        v = float(s)
        return v
    if isinstance(default, (list, tuple)):
        if s.strip() == "":
            return []
        elem = default[0] if len(default) else 0
        return [_decode(u.strip(), elem) for u in s.split(",")]
    return s


class PageState:
    """A page's configuration: defaults, validation, session state and the URL, in one place.

        S = ui.PageState("kernel", DEFAULTS, options={"activation": [...]}, ranges={"n": (4, 400)})
        st.slider("points", 4, 400, key=S.key("n"))
        cfg = S.sync()          # dict of values; also written to st.query_params
    """

    def __init__(self, page: str, defaults: Mapping[str, Any],
                 options: Optional[Mapping[str, list]] = None,
                 ranges: Optional[Mapping[str, tuple]] = None):
        self.page = page
        self.defaults = dict(defaults)
        self.options = dict(options or {})
        self.ranges = dict(ranges or {})
        self.errors: list[str] = []
        presenter_toggle()
        self._load()

    def key(self, name: str) -> str:
        return f"{self.page}__{name}"

    def _check(self, name, v):
        opts = self.options.get(name)
        if opts is not None:
            vals = v if isinstance(v, list) else [v]
            bad = [u for u in vals if u not in opts]
            if bad or (isinstance(v, list) and not v):
                raise ValueError(f"{bad[0] if bad else '(empty)'} is not one of the available "
                                 f"values {opts}")
        rng = self.ranges.get(name)
        if rng is not None:
            vals = v if isinstance(v, list) else [v]
            for u in vals:
                if not (rng[0] <= u <= rng[1]):
                    raise ValueError(f"{u} is outside the allowed range [{rng[0]}, {rng[1]}]")
        if isinstance(v, float) and v != v:
            raise ValueError("NaN is not a valid number")
        return v

    def _load(self):
        ss = st.session_state
        qp = {k: st.query_params.get(k) for k in st.query_params.keys()}
        qp = {k: v for k, v in qp.items() if k in self.defaults}
        last = ss.get(f"_url_{self.page}")
        saved = ss.get(f"_saved_{self.page}", {})
        from_url = bool(qp) and qp != last
        for name, default in self.defaults.items():
            k = self.key(name)
            if from_url and name in qp:
                try:
                    v = self._check(name, _decode(qp[name], default))
                except (ValueError, TypeError) as e:
                    self.errors.append(f"URL parameter {name}={qp[name]!r} ignored: {e}. "
                                       f"Using {name}={_encode(default)!r}; change it with the "
                                       "controls.")
                    v = default
                ss[k] = list(v) if isinstance(default, (list, tuple)) else v
            elif from_url or k not in ss:
                v = saved.get(name, default) if not from_url else default
                ss[k] = list(v) if isinstance(v, (list, tuple)) else v

    def values(self) -> dict:
        return {n: st.session_state.get(self.key(n), d) for n, d in self.defaults.items()}

    def sync(self) -> dict:
        """Write the current values to the URL (only the non-default ones) and return them."""
        vals = self.values()
        enc = {n: _encode(v) for n, v in vals.items() if _encode(v) != _encode(self.defaults[n])}
        if presenter():
            enc["presenter"] = "1"
        cur = {k: st.query_params.get(k) for k in st.query_params.keys()}
        if cur != enc:
            st.query_params.from_dict(enc)
        st.session_state[f"_url_{self.page}"] = {k: v for k, v in enc.items() if k in self.defaults}
        st.session_state[f"_saved_{self.page}"] = vals
        for e in self.errors:
            st.warning(e)
        return vals

    def url_query(self) -> str:
        vals = self.values()
        return "&".join(f"{n}={_encode(v)}" for n, v in vals.items())


# ---------------------------------------------------------------------------------------------
# Cached computation
# ---------------------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def _store():
    """Process-wide LRU of results (shared by sessions; results are never mutated by pages)."""
    return collections.OrderedDict(), threading.Lock(), collections.defaultdict(threading.Lock)


def _cache_key(fn_name, cfg):
    return fn_name + ":" + json.dumps(E._jsonable(dict(cfg)), sort_keys=True)


@functools.lru_cache(maxsize=16)
def _computing_figure(label: str):
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.update_layout(height=240, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="#fafafa",
                      xaxis=dict(visible=False), yaxis=dict(visible=False),
                      annotations=[dict(text=f"{label}…", showarrow=False, x=0.5, y=0.5,
                                        xref="paper", yref="paper", font=dict(size=16,
                                                                               color="#888"))])
    return fig


def _cache_get(key: str):
    """The cached value for `key` (marked recently used) or None."""
    store, lock, _ = _store()
    with lock:
        hit = store.get(key)
        if hit is not None:
            store.move_to_end(key)
        return hit


def _cache_put(key: str, value) -> None:
    store, lock, key_locks = _store()
    with lock:
        store[key] = value
        key_locks.pop(key, None)
        while len(store) > _CACHE_ENTRIES:
            store.popitem(last=False)


# Results persist on disk across server restarts (like st.cache_data(persist="disk")), keyed by
# the configuration *and* a fingerprint of the ntk sources and library versions, so a code change
# never serves an old result. NTK_RESULTS_CACHE=0 turns this off; another value moves the folder.

def _results_dir() -> Optional[Path]:
    d = os.environ.get("NTK_RESULTS_CACHE", str(Path.home() / ".cache" / "ntk-app" / "results"))
    return None if d.strip().lower() in ("", "0", "off", "false", "no") else Path(d)


@functools.lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """sha256 of every ntk/*.py source and the versions of the libraries that compute results."""
    import jax
    import numpy
    import optax
    import scipy

    h = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    h.update(" ".join(m.__version__ for m in (jax, numpy, optax, scipy)).encode())
    return h.hexdigest()


def _disk_path(key: str) -> Optional[Path]:
    d = _results_dir()
    if d is None:
        return None
    return d / (hashlib.sha256((_code_fingerprint() + "\0" + key).encode()).hexdigest() + ".pkl")


def _disk_get(key: str):
    """The result stored on disk for `key` by this code version, or None (missing/unreadable)."""
    path = _disk_path(key)
    if path is None or not path.is_file():
        return None
    try:
        with open(path, "rb") as f:
            stored_key, value = pickle.load(f)
        if stored_key != key:
            return None
        os.utime(path)  # recently used: pruned last
        return value
    except Exception:  # corrupt or from an incompatible version: recompute
        return None


def _disk_put(key: str, value) -> None:
    path = _disk_path(key)
    if path is None:
        return
    try:
        blob = pickle.dumps((key, value), protocol=pickle.HIGHEST_PROTOCOL)
        if len(blob) > _DISK_MAX_BYTES:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, path)  # atomic: readers never see a partial file
        files = sorted(path.parent.glob("*.pkl"), key=lambda f: f.stat().st_mtime)
        for old in files[:max(0, len(files) - _DISK_ENTRIES)]:
            old.unlink(missing_ok=True)
    except OSError:  # read-only or full disk: the in-memory cache still works
        pass


def cached_result(fn_name: str, cfg: Mapping, progress: Optional[Callable] = None):
    """`ntk.plots.<fn_name>(**cfg)` through the process-wide cache, then the on-disk cache of
    earlier server runs (no streamlit calls; errors propagate). One computation per
    configuration even with many sessions (or the prewarm thread) asking at once: later callers
    wait for it."""
    _, lock, key_locks = _store()
    key = _cache_key(fn_name, cfg)
    hit = _cache_get(key)
    if hit is not None:
        return hit
    with lock:
        klock = key_locks[key]
    with klock:
        hit = _cache_get(key)
        if hit is not None:
            return hit
        out = _disk_get(key)
        if out is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out = getattr(P, fn_name)(**dict(cfg), progress=progress)
            _disk_put(key, out)
        _cache_put(key, out)
    return out


_VISITS = [0]  # computations a visitor is waiting for (the prewarm thread gives way to them)
_VISITS_LOCK = threading.Lock()


def _visit(delta: int) -> None:
    with _VISITS_LOCK:
        _VISITS[0] += delta


def compute(fn_name: str, cfg: Mapping, label: str = "Computing") -> Optional[dict]:
    """`ntk.plots.<fn_name>(**cfg)`, cached across reruns and sessions, with a progress bar.

    Returns None after showing `st.error` when the configuration is invalid or too expensive.
    """
    key = _cache_key(fn_name, cfg)
    hit = _cache_get(key)
    if hit is not None:
        return hit
    bar = st.progress(0.0, text=f"{label}…")
    # An empty chart frame while computing: the browser fetches and starts the plotly renderer
    # in parallel with the computation instead of after it (faster first page load).
    frame = st.empty()
    frame.plotly_chart(_computing_figure(label), key=f"computing_{abs(hash(key))}", theme=None,
                       config={"displayModeBar": False, "staticPlot": True})
    t0 = time.perf_counter()

    def progress(done, total):
        try:
            bar.progress(min(max(done / max(total, 1), 0.0), 1.0),
                         text=f"{label}… {done}/{total} ({time.perf_counter() - t0:.1f} s)")
        except Exception:  # the browser went away; keep computing for the cache
            pass

    _visit(+1)
    try:
        return cached_result(fn_name, cfg, progress)
    except (ValueError, TypeError, FloatingPointError, OverflowError) as e:
        st.error(f"**Cannot compute this configuration.** {e}")
        return None
    except MemoryError:
        st.error("Out of memory: reduce the width or the number of points.")
        return None
    except Exception as e:  # never a traceback in the app
        st.error(f"Unexpected error ({type(e).__name__}): {e}. Try other settings.")
        return None
    finally:
        _visit(-1)
        bar.empty()
        frame.empty()


# ---------------------------------------------------------------------------------------------
# Figures with exports
# ---------------------------------------------------------------------------------------------

CHART_CONFIG = {"displaylogo": False, "responsive": True}

# Charts are drawn by a small Streamlit component that keeps one Plotly div per chart key and
# updates it with Plotly.react. st.plotly_chart gives a chart a new element id whenever its
# figure changes, so every slider move would rebuild the chart from scratch (Plotly.newPlot:
# axes, legends, layers); Plotly.react only redraws what changed, about twice as fast in the
# browser. The component uses the plotly.js bundle that Streamlit itself serves (the chunk of
# its own chart element, which defines window.Plotly); st.plotly_chart is the fallback when that
# chunk cannot be found.
_PLOT_JS = """
let loading = null;
function plotly(chunk) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!loading) {
    const main = document.querySelector('script[type="module"][src*="/static/js/"]');
    const base = main ? main.src : new URL("static/js/", document.baseURI).href;
    loading = import(new URL(chunk, base).href).then(() => window.Plotly);
    loading.catch(() => { loading = null; });
  }
  return loading;
}
export default function (component) {
  const { data, parentElement } = component;
  let el = parentElement.querySelector(".ntk-plot");
  if (!el) {
    el = document.createElement("div");
    el.className = "ntk-plot";
    el.style.width = "100%";
    el.style.minHeight = data.height + "px";
    parentElement.appendChild(el);
  }
  if (el.__ntkSpec !== data.spec) {
    el.__ntkSpec = data.spec;
    plotly(data.chunk).then((Plotly) => {
      if (el.__ntkSpec !== data.spec) return;  // a newer figure arrived meanwhile
      const fig = JSON.parse(data.spec);
      const draw = fig.frames && fig.frames.length ? Plotly.newPlot : Plotly.react;
      return draw(el, {data: fig.data, layout: fig.layout, frames: fig.frames, config: data.config});
    }).catch((e) => {
      el.textContent = "This chart could not be drawn (" + e + "). Reload the page.";
    });
  }
  return () => setTimeout(() => { if (!el.isConnected && window.Plotly) window.Plotly.purge(el); }, 0);
}
"""
_plot_component = st.components.v2.component("ntk_plot", js=_PLOT_JS, isolate_styles=False)


@functools.lru_cache(maxsize=1)
def _plotly_chunk() -> Optional[str]:
    """File name of the JS chunk with Streamlit's bundled plotly.js (None if not found)."""
    js = Path(st.__file__).parent / "static" / "static" / "js"
    found = sorted(js.glob("PlotlyChart.*.js"))
    return found[0].name if found else None


_SPECS: "collections.OrderedDict[int, tuple]" = collections.OrderedDict()
_SPECS_LOCK = threading.Lock()


def _figure_json(fig) -> str:
    """JSON of a (never mutated, cached) figure, memoised by identity for reruns."""
    with _SPECS_LOCK:
        hit = _SPECS.get(id(fig))
        if hit is not None and hit[0] is fig:
            _SPECS.move_to_end(id(fig))
            return hit[1]
    spec = fig.to_json(validate=False) if hasattr(fig, "to_json") else json.dumps(fig)
    with _SPECS_LOCK:
        _SPECS[id(fig)] = (fig, spec)
        while len(_SPECS) > 64:
            _SPECS.popitem(last=False)
    return spec


def plotly_chart(fig, key: str, config: Optional[Mapping] = None) -> None:
    """Draw a plotly figure full-width under `key`; moving to a new figure under the same key
    updates the chart in place (Plotly.react) instead of rebuilding it."""
    config = dict(CHART_CONFIG if config is None else config)
    chunk = _plotly_chunk()
    if chunk is None:
        st.plotly_chart(fig, key=key, theme=None, config=config)
        return
    height = int(getattr(getattr(fig, "layout", None), "height", None) or 450)
    _plot_component(key=key, data={"spec": _figure_json(fig), "config": config,
                                   "chunk": chunk, "height": height})


def cached_figure(d: Mapping, data_fn: str, cfg: Mapping, fig_fn: str, kwargs: Mapping,
                  presenter_mode: bool = False):
    """`ntk.plots.<fig_fn>(d, **kwargs)` with the theme applied, built once per (data
    configuration, arguments, presenter mode) and cached (figures are never mutated later)."""
    key = (f"fig:{fig_fn}:{json.dumps(E._jsonable(dict(kwargs)), sort_keys=True)}:"
           f"{int(presenter_mode)}:" + _cache_key(data_fn, cfg))
    fig = _cache_get(key)
    if fig is None:
        fig = P.apply_theme(getattr(P, fig_fn)(d, **kwargs), presenter=presenter_mode)
        _cache_put(key, fig)
    return fig


def show_figure(fig, name: str, *, data_fn: str, cfg: Mapping, fig_fn: str,
                fig_kwargs: Optional[Mapping] = None, notice: str = "", exports: bool = True,
                build_kwargs: Optional[Mapping] = None):
    """Chart + (presenter) 'what to notice' + export panel for one figure.

    `fig` is a ready `go.Figure`, or the result dict of `compute(data_fn, cfg)`: then the figure
    is `ntk.plots.<fig_fn>(fig, **fig_kwargs, **build_kwargs)`, built and themed once per
    (data, arguments, presenter mode) and cached, so a rerun with cached data (e.g. moving a
    slider back) does not rebuild plotly objects.
    """
    pres = presenter()
    if isinstance(fig, Mapping):
        fig = cached_figure(fig, data_fn, cfg, fig_fn,
                            {**dict(fig_kwargs or {}), **dict(build_kwargs or {})}, pres)
    else:
        P.apply_theme(fig, presenter=pres)
    plotly_chart(fig, key=f"chart_{name}")
    if pres and notice:
        st.info(f"**What to notice:** {notice}")
    if exports and not pres:
        export_panel(fig, name, data_fn=data_fn, cfg=cfg, fig_fn=fig_fn, fig_kwargs=fig_kwargs)


def export_panel(fig, name, *, data_fn, cfg, fig_fn, fig_kwargs=None):
    """An "Export" button under the figure; the export options open in a dialog, so a rerun
    (e.g. a slider move) does not re-render download buttons and code for every figure."""
    if st.button(f"Export {name.replace('_', ' ')}", key=f"export_{name}", icon=":material/download:",
                 type="tertiary", help="HTML, CSV, NPZ, JSON and a Python snippet for Jupyter"):
        _export_dialog(fig, name, data_fn, cfg, fig_fn, fig_kwargs)


@st.dialog("Export", width="large")
def _export_dialog(fig, name, data_fn, cfg, fig_fn, fig_kwargs):
    st.markdown(f"**{name}**: the figure, its data and the configuration that produced it.")
    c1, c2, c3, c4 = st.columns(4)
    c1.download_button("HTML (interactive)", data=lambda: E.figure_html(fig),
                       file_name=f"{name}.html", mime="text/html", key=f"dl_html_{name}",
                       on_click="ignore")
    c2.download_button("Data (CSV)", data=lambda: E.arrays_to_csv(E.figure_arrays(fig)),
                       file_name=f"{name}.csv", mime="text/csv", key=f"dl_csv_{name}",
                       on_click="ignore")
    c3.download_button("Data (NPZ)", data=lambda: E.arrays_to_npz(E.figure_arrays(fig)),
                       file_name=f"{name}.npz", mime="application/octet-stream",
                       key=f"dl_npz_{name}", on_click="ignore")
    c4.download_button("Config (JSON)", data=E.config_json(cfg), file_name=f"{name}.json",
                       mime="application/json", key=f"dl_json_{name}", on_click="ignore")
    snippet = E.python_snippet(data_fn, cfg, fig_fn, fig_kwargs)
    st.caption("Reproduce this figure in Jupyter:")
    st.code(snippet, language="python")


def error_if(cond: bool, msg: str) -> bool:
    if cond:
        st.error(msg)
    return cond


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g}"


WIDTH_OPTIONS = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
ACTIVATIONS = ["relu", "erf", "tanh", "gelu", "leaky_relu", "abs", "sin", "identity", "softplus",
               "silu"]


def architecture_controls(S: PageState, container=None, parameterization: bool = True):
    """Depth, activation (+ leaky alpha), W_std, b_std (and parameterization) widgets."""
    c = container or st.sidebar
    c.slider("Depth (hidden layers)", 1, 6, key=S.key("depth"))
    c.selectbox("Activation", ACTIVATIONS, key=S.key("activation"))
    if S.values()["activation"] == "leaky_relu":
        c.slider("Leaky ReLU α", 0.0, 1.0, step=0.05, key=S.key("alpha"))
    c.slider("W_std (σ_w)", 0.1, 4.0, step=0.05, key=S.key("W_std"))
    c.slider("b_std (σ_b)", 0.0, 2.0, step=0.05, key=S.key("b_std"))
    if parameterization:
        c.radio("Parameterization", ["ntk", "standard"], key=S.key("parameterization"),
                horizontal=True)


ARCH_OPTIONS = {"activation": ACTIVATIONS, "parameterization": ["ntk", "standard"]}
ARCH_RANGES = {"depth": (1, 6), "alpha": (0.0, 1.0), "W_std": (0.1, 4.0), "b_std": (0.0, 2.0)}


# ---------------------------------------------------------------------------------------------
# Page defaults and prewarming
# ---------------------------------------------------------------------------------------------

PAGE_DEFAULTS = {
    "kernel": dict(width=512, seed=0, depth=2, activation="relu", alpha=0.1, W_std=1.5,
                   b_std=0.05, parameterization="ntk", dataset="circle", n=32, circle_seeds=4),
    "convergence": dict(w_min=32, w_max=2048, n_widths=7, n_seeds=4, depth=2, activation="relu",
                        alpha=0.1, W_std=1.5, b_std=0.05, dataset="circle", n=16),
    "training": dict(widths=[32, 512], depth=2, activation="erf", alpha=0.1, W_std=1.5,
                     b_std=0.1, parameterization="ntk", dataset="sine", n_train=8, noise=0.05,
                     optimizer_name="sgd", lr_fraction=0.5, steps=300, seed=0),
    "lazy": dict(w_min=32, w_max=1024, n_widths=4, n_seeds=2, depth=2, activation="relu",
                 alpha=0.1, W_std=1.5, b_std=0.05, n_train=8, steps=100, lr_fraction=0.5,
                 narrow=32, wide=1024),
    "spectrum": dict(width=512, seed=0, depth=2, activation="relu", alpha=0.1, W_std=1.5,
                     b_std=0.05, n_train=32, lr_fraction=0.5, steps=300, n_modes=6),
}
DATA_FN = {"kernel": "kernel_data", "convergence": "convergence_data",
           "training": "training_data", "lazy": "lazy_data", "spectrum": "spectrum_data"}


def defaults(page: str) -> dict:
    """A fresh copy of a page's default configuration."""
    return {k: (list(v) if isinstance(v, list) else v) for k, v in PAGE_DEFAULTS[page].items()}


def compute_args(page: str, cfg: Mapping) -> dict:
    """Arguments of the page's data function (`DATA_FN[page]`) for its configuration `cfg`."""
    cfg = dict(cfg)
    if page == "kernel":
        return dict(cfg, circle_widths=[32, 256, 2048], memory_budget=MEMORY_BUDGET)
    if page == "training":
        cfg["widths"] = sorted(cfg["widths"])
    return cfg


def page_figures(page: str, d: Mapping) -> list:
    """(figure function, keyword arguments) of the figures a page shows for result `d` when the
    controls below the computation are at their defaults (not in presenter mode)."""
    if page == "kernel":
        return [("infinite_heatmaps", {}), ("empirical_heatmaps", {}), ("circle_figure", {})]
    if page == "convergence":
        return [("convergence_figure", {})]
    if page == "training":
        ok = [int(w) for w in d["widths"] if not d["runs"][int(w)]["diverged"]]
        if not ok:
            return []
        return [("training_animation", dict(width=ok[0], step_buttons=False)), ("gap_figure", {}),
                ("final_predictions_figure", {}), ("loss_figure", {})]
    if page == "lazy":
        return [("lazy_scaling_figure", {}), ("kernel_drift_figure", {})]
    if page == "spectrum":
        return [("spectrum_figure", {})]
    raise ValueError(f"Unknown page {page!r}")


PREWARM_ORDER = ("kernel", "convergence", "training", "lazy", "spectrum")


def _default_result(page: str) -> tuple:
    """(arguments, result) of `page`'s default view, through `cached_result`."""
    args = compute_args(page, defaults(page))
    return args, cached_result(DATA_FN[page], args)


def prewarm(pages=PREWARM_ORDER, status: Optional[dict] = None) -> list:
    """Compute every page's default result and figures into the process-wide cache (the same
    computation a first visitor would trigger, or its result stored on disk by an earlier server
    run of the same code). Waits while a visitor's computation runs. Returns the pages done; a
    page that fails is skipped and reports its error when visited. `status` (optional dict)
    receives "done" (pages so far) and "finished"."""
    done = [] if status is None else status.setdefault("done", [])
    for page in pages:
        while _VISITS[0] > 0:  # a visitor waits for a computation: do not compete for the CPU
            time.sleep(0.05)
        try:
            args, d = _default_result(page)
            for fig_fn, kw in page_figures(page, d):
                cached_figure(d, DATA_FN[page], args, fig_fn, kw, False)
        except Exception:  # pragma: no cover - reported on the page itself
            continue
        done.append(page)
    if status is not None:
        status["finished"] = True
    return done


def configure_jax_cache() -> None:
    """Persist compiled XLA programs across processes in NTK_JAX_CACHE (default
    ~/.cache/ntk-app/jax; 0 = off), unless a compilation cache is configured already."""
    import jax

    path = os.environ.get("NTK_JAX_CACHE", str(Path.home() / ".cache" / "ntk-app" / "jax"))
    if path and path != "0" and not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


def warm_caches(pages=None, progress: Optional[Callable] = None) -> list:
    """Outside the app (`python -m ntk warm-app`, run by `make run` after an install or a code
    change): compute every page's default result into the on-disk caches (results and compiled
    programs), so that a freshly started server answers its first visits from disk. Returns the
    pages done; `progress(done, total, page)` after each."""
    configure_jax_cache()
    pages = PREWARM_ORDER if pages is None else pages
    done = []
    for i, page in enumerate(pages):
        _default_result(page)
        done.append(page)
        if progress is not None:
            progress(i + 1, len(pages), page)
    return done


@st.cache_resource(show_spinner=False)
def start_prewarm() -> dict:
    """Once per server process: compute the default views in a background thread, so that the
    first visit of each page finds them ready. Off with NTK_PREWARM=0. Returns the status dict
    (enabled, pages, done, finished) that `prewarm` updates."""
    status = dict(enabled=False, pages=list(PREWARM_ORDER), done=[], finished=False)
    if os.environ.get("NTK_PREWARM", "1").lower() in ("0", "false", "no", "off"):
        return status
    status["enabled"] = True
    _store()  # create the shared cache in a script thread
    threading.Thread(target=prewarm, args=(PREWARM_ORDER, status), name="ntk-prewarm",
                     daemon=True).start()
    return status
