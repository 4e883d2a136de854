"""Paper presets in the app: computed in background threads, stored with the results cache (memory
and disk), so a preset computed once (by a visitor, by the server's prewarm or by
`python -m ntk warm-app --presets all`) opens instantly afterwards.

    job = preset_jobs.start("lee2019", fast=False)     # returns at once; runs in a thread
    preset_jobs.status("lee2019", False)              # state, done/total, label, elapsed, left
    preset_jobs.stored("lee2019", False)              # the PresetResult, or None

Progress of a run is shared by every session (one computation per preset and size, whoever
started it). Background runs (`low_priority`) pause between units of work while a visitor waits
for a page computation. The time a run took is kept per preset and size (a small JSON next to the
stored results) and serves as the estimate of the next run on this machine.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Optional

import streamlit as st

from ..analysis.progress import as_progress
from . import cache
from . import cost as C
from . import registry as R

FN = "preset_result"


def preset_result(name: str, fast: bool = True, progress=None):
    """The data function of a preset run: `ntk.presets.run(name, fast)`."""
    from .. import presets

    return presets.run(name, fast=bool(fast), progress=progress)


R.register_data_fn(preset_result, FN)


def presets_list() -> list:
    from ..analysis import presets

    return presets.list_presets()


def _cfg(name: str, fast: bool) -> dict:
    return dict(name=str(name), fast=bool(fast))


@st.cache_resource(show_spinner=False)
def _jobs() -> tuple:
    """Process-wide {(name, fast): job dict} and its lock (shared by sessions and threads)."""
    return {}, threading.Lock()


def _timings_path():
    d = cache.results_dir()
    return None if d is None else d / "preset_timings.json"


def _timings() -> dict:
    path = _timings_path()
    try:
        return json.loads(path.read_text()) if path is not None and path.is_file() else {}
    except (OSError, ValueError):
        return {}


def _save_timing(name: str, fast: bool, seconds: float) -> None:
    path = _timings_path()
    if path is None:
        return
    t = _timings()
    t[f"{name}:{int(bool(fast))}"] = round(float(seconds), 1)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(t, indent=1, sort_keys=True))
    except OSError:
        pass


def last_seconds(name: str, fast: bool) -> Optional[float]:
    """How long the last run of this preset and size took on this machine (None if never)."""
    v = _timings().get(f"{name}:{int(bool(fast))}")
    return float(v) if v is not None else None


def stored(name: str, fast: bool):
    """The finished `PresetResult` (memory or disk), or None."""
    return cache.stored_result(FN, _cfg(name, fast))


def status(name: str, fast: bool) -> Optional[dict]:
    """A copy of the job's state: state ('running', 'done', 'error'), done, total, label,
    elapsed, left (seconds, extrapolated from the progress), error, background."""
    jobs, lock = _jobs()
    with lock:
        job = jobs.get((name, bool(fast)))
        if job is None:
            return None
        job = dict(job)
    end = job.get("t_end") or time.perf_counter()
    job["elapsed"] = end - job["t0"]
    job["left"] = C.eta(job["done"], job["total"], job["elapsed"])
    if job["left"] is None and job.get("estimate"):
        job["left"] = max(job["estimate"] - job["elapsed"], 0.0)
    return job


def _run(name: str, fast: bool, low_priority: bool, rerun: bool) -> None:
    jobs, lock = _jobs()
    job = jobs[(name, fast)]

    def progress(done, total, label=""):
        with lock:
            job.update(done=int(done), total=int(total), label=str(label))
        while low_priority and cache.visitors() > 0:  # give the CPU to a waiting visitor
            time.sleep(0.2)

    if not low_priority:
        cache.visit(+1)
    try:
        if rerun:
            cache.forget_result(FN, _cfg(name, fast))
        t0 = time.perf_counter()
        cache.cached_result(FN, _cfg(name, fast), as_progress(progress))
        _save_timing(name, fast, time.perf_counter() - t0)
        with lock:
            job.update(state="done", t_end=time.perf_counter())
    except Exception as e:  # shown on the page
        with lock:
            job.update(state="error", error=cache.app_message(e) or type(e).__name__,
                       t_end=time.perf_counter())
    finally:
        if not low_priority:
            cache.visit(-1)


def start(name: str, fast: bool, low_priority: bool = False, rerun: bool = False) -> dict:
    """Start computing preset `name` in a background thread unless it is running already (or,
    without `rerun`, stored). Returns the job's status."""
    fast = bool(fast)
    jobs, lock = _jobs()
    have = None if rerun else stored(name, fast)
    with lock:
        job = jobs.get((name, fast))
        now = time.perf_counter()
        if job is not None and job["state"] == "running":
            launch = False
        elif have is not None:
            jobs[(name, fast)] = dict(state="done", done=1, total=1, label="stored", t0=now,
                                      t_end=now, background=low_priority)
            launch = False
        else:
            jobs[(name, fast)] = dict(state="running", done=0, total=1, label="starting", t0=now,
                                      t_end=None, background=low_priority,
                                      estimate=last_seconds(name, fast))
            launch = True
    if not launch:
        return status(name, fast)
    threading.Thread(target=_run, args=(name, fast, low_priority, rerun), daemon=True,
                     name=f"ntk-preset-{name}-{int(fast)}").start()
    return status(name, fast)


def precompute(names=None, sizes=(True, False), wait: bool = True) -> list:
    """Compute every preset (fast and full size) that is not stored yet, one after another, at
    low priority (the server's prewarm thread calls this after the pages' default views)."""
    from ..analysis import presets

    names = [i.name for i in presets.list_presets()] if names is None else list(names)
    done = []
    for fast in sizes:
        for name in names:
            if stored(name, fast) is not None:
                done.append((name, fast))
                continue
            start(name, fast, low_priority=True)
            while wait and (status(name, fast) or {}).get("state") == "running":
                time.sleep(0.5)
            done.append((name, fast))
    return done


__all__ = ["last_seconds", "precompute", "preset_result", "start", "status", "stored"]
