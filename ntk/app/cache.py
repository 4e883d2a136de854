"""Cached computation: results (and built figures) in a process-wide LRU shared by sessions, and
results on disk across server restarts.

The disk key is the configuration *and* a fingerprint of what results depend on (the library's
sources outside the UI, recursively, and the versions of the numerical libraries), so a code change
never serves an old result. NTK_RESULTS_CACHE=0 turns the disk cache off; another value moves
its folder (default ~/.cache/ntk-app/results).
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
from typing import Callable, Mapping, Optional

import streamlit as st

from .. import _cache
from ..export import jsonable
from ..figures import apply_theme
from . import cost as C
from . import registry as R

_CACHE_ENTRIES = 160  # results and built figures
_DISK_ENTRIES = 400  # results kept on disk (oldest removed first)
_DISK_MAX_BYTES = 32 * 1024**2  # larger results are not written to disk
#: Parts of ntk/ that do not change results (the app, figures, exports, compatibility modules).
_UI_PARTS = ("app", "figures", "ui.py", "export.py", "report.py", "__main__.py", "plots.py",
             "preset_plots.py")


@st.cache_resource(show_spinner=False)
def _store():
    """Process-wide LRU of results (shared by sessions; results are never mutated by pages)."""
    return collections.OrderedDict(), threading.Lock(), collections.defaultdict(threading.Lock)


def clear_store() -> None:
    """Forget every result and figure held in memory (as a restarted server would)."""
    store, lock, _ = _store()
    with lock:
        store.clear()


_cache.register(clear_store, "ntk.app.cache.store")


def cache_key(fn_name, cfg):
    return fn_name + ":" + json.dumps(jsonable(dict(cfg)), sort_keys=True)


def cache_get(key: str):
    """The cached value for `key` (marked recently used) or None."""
    store, lock, _ = _store()
    with lock:
        hit = store.get(key)
        if hit is not None:
            store.move_to_end(key)
        return hit


def cache_put(key: str, value) -> None:
    store, lock, key_locks = _store()
    with lock:
        store[key] = value
        key_locks.pop(key, None)
        while len(store) > _CACHE_ENTRIES:
            store.popitem(last=False)


def results_dir() -> Optional[Path]:
    d = os.environ.get("NTK_RESULTS_CACHE", str(Path.home() / ".cache" / "ntk-app" / "results"))
    return None if d.strip().lower() in ("", "0", "off", "false", "no") else Path(d)


def result_sources() -> list:
    """The source files results depend on: ntk/**/*.py outside the UI parts (sorted)."""
    root = Path(__file__).resolve().parents[1]
    files = sorted(root.rglob("*.py"))
    return [f for f in files if f.relative_to(root).parts[0] not in _UI_PARTS]


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 of `result_sources()` and the versions of the libraries that compute results."""
    import jax
    import numpy
    import optax
    import scipy

    h = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]
    for f in result_sources():
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    h.update(" ".join(m.__version__ for m in (jax, numpy, optax, scipy)).encode())
    return h.hexdigest()


def _disk_path(key: str) -> Optional[Path]:
    d = results_dir()
    if d is None:
        return None
    return d / (hashlib.sha256((code_fingerprint() + "\0" + key).encode()).hexdigest() + ".pkl")


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
    """`<fn_name>(**cfg)` (a data function of the registry) through the process-wide cache, then
    the on-disk cache of earlier server runs (no streamlit calls; errors propagate). One
    computation per configuration even with many sessions (or the prewarm thread) asking at once:
    later callers wait for it."""
    _, lock, key_locks = _store()
    key = cache_key(fn_name, cfg)
    hit = cache_get(key)
    if hit is not None:
        return hit
    with lock:
        klock = key_locks[key]
    with klock:
        hit = cache_get(key)
        if hit is not None:
            return hit
        out = _disk_get(key)
        if out is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out = R.data_function(fn_name)(**dict(cfg), progress=progress)
            _disk_put(key, out)
        cache_put(key, out)
    return out


def stored_result(fn_name: str, cfg: Mapping):
    """The result of `<fn_name>(**cfg)` if it is in memory or on disk (never computes), else None."""
    key = cache_key(fn_name, cfg)
    hit = cache_get(key)
    if hit is None:
        hit = _disk_get(key)
        if hit is not None:
            cache_put(key, hit)
    return hit


def forget_result(fn_name: str, cfg: Mapping) -> None:
    """Drop a result from memory and disk (to compute it again)."""
    key = cache_key(fn_name, cfg)
    store, lock, _ = _store()
    with lock:
        store.pop(key, None)
    path = _disk_path(key)
    if path is not None:
        path.unlink(missing_ok=True)


def cached_figure(d: Mapping, data_fn: str, cfg: Mapping, fig_fn: str, kwargs: Mapping,
                  presenter_mode: bool = False):
    """`<fig_fn>(d, **kwargs)` with the theme applied, built once per (data configuration,
    arguments, presenter mode) and cached (figures are never mutated later)."""
    key = (f"fig:{fig_fn}:{json.dumps(jsonable(dict(kwargs)), sort_keys=True)}:"
           f"{int(presenter_mode)}:" + cache_key(data_fn, cfg))
    fig = cache_get(key)
    if fig is None:
        fig = apply_theme(R.figure_function(fig_fn)(d, **kwargs), presenter=presenter_mode)
        cache_put(key, fig)
    return fig


_VISITS = [0]  # computations a visitor is waiting for (the prewarm thread gives way to them)
_VISITS_LOCK = threading.Lock()


def visit(delta: int) -> None:
    with _VISITS_LOCK:
        _VISITS[0] += delta


def visitors() -> int:
    return _VISITS[0]


@functools.lru_cache(maxsize=16)
def _computing_figure(label: str):
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.update_layout(height=240, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="#fafafa",
                      xaxis=dict(visible=False), yaxis=dict(visible=False),
                      annotations=[dict(text=f"{label}…", showarrow=False, x=0.5, y=0.5,
                                        xref="paper", yref="paper",
                                        font=dict(size=16, color="#888"))])
    return fig


def _progress_bar(label: str, estimate: Optional[float] = None):
    """A progress bar and the `progress(done, total, label)` callback that moves it; the text
    shows the elapsed time and the time left (extrapolated from the progress, or the estimate
    before the first report)."""
    first = f" (estimated {C.format_seconds(estimate)})" if estimate else ""
    bar = st.progress(0.0, text=f"{label}…{first}")
    t0 = time.perf_counter()

    def progress(done, total, what=""):
        el = time.perf_counter() - t0
        left = C.eta(done, total, el)
        if left is None and estimate:
            left = max(estimate - el, 0.0)
        tail = f", {C.format_seconds(left)} left" if left is not None else ""
        try:
            bar.progress(min(max(done / max(total, 1), 0.0), 1.0),
                         text=f"{label}… {done}/{total} ({el:.0f} s{tail})")
        except Exception:  # the browser went away; keep computing for the cache
            pass

    return bar, progress


def app_message(e: BaseException) -> str:
    """An error of the library phrased for the app user: what to lower, never an argument the
    app user cannot pass (batch_size, memory_budget)."""
    import re

    msg = str(e)
    m = re.search(r"^(.*?) needs an estimated (.*?), above the memory budget of (.*?)\.", msg)
    if m:
        return (f"{m.group(1)} needs more memory than the app allows for one computation "
                f"({m.group(2)} needed, {m.group(3)} allowed). Lower the number of points or the "
                "width.")
    msg = re.sub(r"\s*(Pass|Use a smaller) batch_size[^.]*\.", "", msg)
    msg = re.sub(r"\s*Pass diag_reg[^.]*\.", " Lower the learning rate or use fewer points.", msg)
    return msg.strip()


def _report_error(e: BaseException) -> None:
    if isinstance(e, (ValueError, TypeError, FloatingPointError, OverflowError, RuntimeError)):
        st.error(f"**Cannot compute this configuration.** {app_message(e)}")
    elif isinstance(e, MemoryError):
        st.error("Out of memory: lower the width or the number of points.")
    else:  # never a traceback in the app
        st.error(f"Unexpected error ({type(e).__name__}): {e}. Try other settings.")


def _confirmed_key(fn_name: str, cfg: Mapping) -> str:
    return "_confirmed_" + hashlib.sha256(cache_key(fn_name, cfg).encode()).hexdigest()[:16]


def preflight(fn_name: str, cfg: Mapping) -> tuple:
    """Before an uncached computation: (ok, estimated seconds). Shows a memory message and returns
    (False, ...) when the choice needs more memory than the app allows; shows the estimate and a
    confirm button, returning (False, ...) until pressed, when it exceeds `cost.CONFIRM_SECONDS`."""
    c = C.estimate(fn_name, cfg)
    if c is None:
        return True, None
    msg = C.memory_message(c, R.APP_MEMORY_BUDGET)
    if msg is not None:
        st.error(f"**Too large for the app.** {msg}")
        return False, c.seconds
    if c.seconds <= C.CONFIRM_SECONDS or st.session_state.get(_confirmed_key(fn_name, cfg)):
        return True, c.seconds
    st.warning(f"**This will take {C.format_seconds(c.seconds)}** on this machine now "
               f"({c.what}). To make it faster, lower {c.lower}; or start it:")
    ck = _confirmed_key(fn_name, cfg)
    if st.button(f"Compute ({C.format_seconds(c.seconds)})", type="primary", key=f"confirm_{ck}",
                 on_click=st.session_state.__setitem__, args=(ck, True)) or st.session_state.get(ck):
        st.session_state[ck] = True
        return True, c.seconds
    return False, c.seconds


def compute(fn_name: str, cfg: Mapping, label: str = "Computing") -> Optional[dict]:
    """`<fn_name>(**cfg)`, cached across reruns and sessions, with a progress bar and time left.

    An uncached configuration first goes through `preflight` (memory check, estimate, confirm
    above ~20 s). Returns None after showing a message when the configuration is invalid, too
    expensive or not confirmed yet.
    """
    key = cache_key(fn_name, cfg)
    hit = cache_get(key)
    if hit is not None:
        return hit
    ok, est = (True, None) if _disk_path(key) is not None and _disk_path(key).is_file() \
        else preflight(fn_name, cfg)
    if not ok:
        return None
    bar, progress = _progress_bar(label, est)
    # An empty chart frame while computing: the browser fetches and starts the plotly renderer
    # in parallel with the computation instead of after it (faster first page load).
    frame = st.empty()
    frame.plotly_chart(_computing_figure(label), key=f"computing_{abs(hash(key))}",
                       theme=None, config={"displayModeBar": False, "staticPlot": True})
    visit(+1)
    try:
        return cached_result(fn_name, cfg, progress)
    except Exception as e:
        _report_error(e)
        return None
    finally:
        visit(-1)
        bar.empty()
        frame.empty()


__all__ = ["app_message", "cache_get", "cache_key", "cache_put", "cached_figure", "cached_result",
           "clear_store", "code_fingerprint", "compute", "forget_result", "preflight",
           "result_sources", "results_dir", "stored_result"]
