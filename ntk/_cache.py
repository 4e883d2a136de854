"""One registry of the library's in-process caches, emptied by `ntk.clear_caches()`.

Two kinds of caches are cleared:

* every module-level `functools.lru_cache` of a loaded `ntk.*` module (found by scanning the
  modules, so the caches of the kernel modules need no registration and a renamed or new one is
  never forgotten; `tests/test_layout.py` checks the scan against a grep of `lru_cache`);
* anything registered explicitly with `register(clear_fn)` (caches that are not module-level
  functions, e.g. the app's process-wide results store) or created with `cached(maxsize)`.

Clearing drops compiled programs and interned networks, so the next call recompiles; results
computed before stay valid (caches never change a result, only its cost).
"""
from __future__ import annotations

import functools
import sys
from typing import Callable

_REGISTERED: dict = {}  # name -> clear function


def register(clear: Callable[[], None], name: str | None = None) -> Callable[[], None]:
    """Register `clear()` (no arguments) to be called by `clear_caches()`; returns it."""
    name = name or f"{getattr(clear, '__module__', '?')}.{getattr(clear, '__qualname__', clear)}"
    _REGISTERED[name] = clear
    return clear


def cached(maxsize: int = 128):
    """`functools.lru_cache(maxsize)` whose cache `clear_caches()` empties."""
    def deco(fn):
        wrapped = functools.lru_cache(maxsize=maxsize)(fn)
        register(wrapped.cache_clear, f"{fn.__module__}.{fn.__qualname__}")
        return wrapped

    return deco


def _module_caches() -> dict:
    """{"module.function": lru-cached function} for every loaded ntk module."""
    out = {}
    for mod_name, mod in list(sys.modules.items()):
        if mod is None or not (mod_name == "ntk" or mod_name.startswith("ntk.")):
            continue
        for attr, v in list(vars(mod).items()):
            if callable(getattr(v, "cache_clear", None)) and callable(getattr(v, "cache_info", None)):
                if getattr(v, "__module__", mod_name) == mod_name:  # defined here, not imported
                    out[f"{mod_name}.{attr}"] = v
    return out


def registered() -> list:
    """Names of the caches `clear_caches()` empties now (explicit and module-level)."""
    return sorted(set(_REGISTERED) | set(_module_caches()))


def clear_caches() -> int:
    """Empty every cache of the library (see the module docstring). Returns how many."""
    clears = {k: v.cache_clear for k, v in _module_caches().items()}
    clears.update(_REGISTERED)
    for clear in clears.values():
        clear()
    return len(clears)


def jax_cache_dir():
    """The on-disk cache of compiled XLA programs shared by the app's processes (and the test
    suite's): NTK_JAX_CACHE, default ~/.cache/ntk-app/jax; None when NTK_JAX_CACHE is 0 or empty."""
    import os
    from pathlib import Path

    path = os.environ.get("NTK_JAX_CACHE", str(Path.home() / ".cache" / "ntk-app" / "jax"))
    return None if not path or path == "0" else path


def configure_jax_cache():
    """Persist every compiled XLA program of this process in `jax_cache_dir()`, unless a
    compilation cache is configured already (e.g. JAX_COMPILATION_CACHE_DIR). Returns the folder
    in use, or None."""
    import jax

    path = jax_cache_dir()
    if path and not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    return jax.config.jax_compilation_cache_dir or None


__all__ = ["cached", "clear_caches", "configure_jax_cache", "jax_cache_dir", "register", "registered"]
