"""Default views computed before anyone asks: in a background thread of the server
(`start_prewarm`) and by `python -m ntk warm-app` into the on-disk caches (`warm_caches`)."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable, Optional

import streamlit as st

from . import cache
from . import registry as R


def default_result(page: str) -> tuple:
    """(arguments, result) of `page`'s default view, through `cache.cached_result`."""
    rec = R.get(page)
    args = rec.compute_args(rec.default_config())
    return args, cache.cached_result(rec.data_fn, args)


def prewarm(pages=None, status: Optional[dict] = None) -> list:
    """Compute every page's default result and figures into the process-wide cache (the same
    computation a first visitor would trigger, or its result stored on disk by an earlier server
    run of the same code). Waits while a visitor's computation runs. Returns the pages done; a
    page that fails is skipped and reports its error when visited. `status` (optional dict)
    receives "done" (pages so far) and "finished"."""
    pages = R.prewarm_pages() if pages is None else pages
    done = [] if status is None else status.setdefault("done", [])
    for page in pages:
        while cache.visitors() > 0:  # a visitor waits for a computation: do not compete for the CPU
            time.sleep(0.05)
        try:
            args, d = default_result(page)
            rec = R.get(page)
            for fig_fn, kw in rec.default_figures(d):
                cache.cached_figure(d, rec.data_fn, args, fig_fn, kw, False)
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
    pages = R.prewarm_pages() if pages is None else pages
    done = []
    for i, page in enumerate(pages):
        default_result(page)
        done.append(page)
        if progress is not None:
            progress(i + 1, len(pages), page)
    return done


@st.cache_resource(show_spinner=False)
def start_prewarm() -> dict:
    """Once per server process: compute the default views in a background thread, so that the
    first visit of each page finds them ready. Off with NTK_PREWARM=0. Returns the status dict
    (enabled, pages, done, finished) that `prewarm` updates."""
    pages = list(R.prewarm_pages())
    status = dict(enabled=False, pages=pages, done=[], finished=False)
    if os.environ.get("NTK_PREWARM", "1").lower() in ("0", "false", "no", "off"):
        return status
    status["enabled"] = True
    cache._store()  # create the shared cache in a script thread
    threading.Thread(target=prewarm, args=(pages, status), name="ntk-prewarm",
                     daemon=True).start()
    return status


__all__ = ["configure_jax_cache", "default_result", "prewarm", "start_prewarm", "warm_caches"]
