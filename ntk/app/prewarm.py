"""Default views computed before anyone asks: in a background thread of the server
(`start_prewarm`) and by `python -m ntk warm-app` into the on-disk caches (`warm_caches`)."""
from __future__ import annotations

import os
import threading
import time
from typing import Callable, Optional

import streamlit as st

from .._cache import configure_jax_cache
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
    from . import cost

    cost.machine_speed()  # calibrate the cost model now, not on a visitor's first estimate
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


def warm_caches(pages=None, progress: Optional[Callable] = None, presets: str = "none") -> list:
    """Outside the app (`python -m ntk warm-app`, run by `make run` after an install or a code
    change): compute every page's default result into the on-disk caches (results and compiled
    programs), so that a freshly started server answers its first visits from disk; with
    `presets="fast"` or `"all"` also the paper presets (fast sizes, or fast and full size), so
    the Presets page opens them instantly. Returns what was done; `progress(done, total, what)`
    after each."""
    from . import preset_jobs

    configure_jax_cache()
    pages = R.prewarm_pages() if pages is None else pages
    sizes = {"none": (), "fast": (True,), "all": (True, False)}[presets]
    names = [i.name for i in preset_jobs.presets_list()] if sizes else []
    jobs = [("page", p, None) for p in pages] + [("preset", n, f) for f in sizes for n in names]
    done = []
    for i, (kind, what, fast) in enumerate(jobs):
        if kind == "page":
            default_result(what)
        else:
            cache.cached_result(preset_jobs.FN, dict(name=what, fast=fast))
            what = f"preset {what} ({'fast' if fast else 'full size'})"
        done.append(what)
        if progress is not None:
            progress(i + 1, len(jobs), what)
    return done


@st.cache_resource(show_spinner=False)
def start_prewarm() -> dict:
    """Once per server process: compute the default views in a background thread, so that the
    first visit of each page finds them ready, then the paper presets not stored yet (fast, then
    full size; NTK_PREWARM_PRESETS=0 leaves them out), pausing while visitors wait for a
    computation. Off with NTK_PREWARM=0. Returns the status dict (enabled, pages, done,
    finished) that `prewarm` updates."""
    pages = list(R.prewarm_pages())
    status = dict(enabled=False, pages=pages, done=[], finished=False)
    if os.environ.get("NTK_PREWARM", "1").lower() in ("0", "false", "no", "off"):
        return status
    status["enabled"] = True
    cache._store()  # create the shared caches in a script thread
    from . import preset_jobs

    preset_jobs._jobs()
    presets_too = os.environ.get("NTK_PREWARM_PRESETS", "1").lower() not in ("0", "false", "no", "off")

    def work():
        prewarm(pages, status)
        if presets_too:  # then every paper preset, fast and full size, at low priority
            preset_jobs.precompute()

    threading.Thread(target=work, name="ntk-prewarm", daemon=True).start()
    return status


__all__ = ["configure_jax_cache", "default_result", "prewarm", "start_prewarm", "warm_caches"]
