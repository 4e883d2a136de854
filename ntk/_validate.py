"""Input validation shared by the public API: clear messages that say what to change."""
from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np

DEFAULT_MEMORY_BUDGET = 2 * 1024**3  # bytes; a request estimated above this raises ValueError


def is_tracer(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def as_jax(a):
    """`jnp.asarray` for concrete values via `jax.device_put`, which (unlike `jnp.asarray` on a
    numpy array) does not compile a program per new shape. Jax arrays and tracers pass through."""
    if isinstance(a, (jax.Array, jax.core.Tracer)):
        return a
    return jax.device_put(np.asarray(a))


def check_positive_int(value, name: str) -> int:
    """A positive integer (Python or numpy int). Booleans, floats (even 2.0) and strings are
    refused with TypeError, values < 1 with ValueError."""
    return check_int(value, name, minimum=1)


def check_int(value, name: str, minimum: int | None = 0) -> int:
    """An integer >= `minimum` (None: no bound). TypeError for bool/float/str, ValueError below."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        kind = type(value).__name__
        what = "a positive integer" if minimum == 1 else "an integer"
        hint = f" Pass int({value!r})." if isinstance(value, numbers.Real) and not isinstance(value, bool) \
            and float(value).is_integer() else ""
        raise TypeError(f"{name} must be {what}, got {kind} {value!r}.{hint}")
    if minimum is not None and value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {what}, got {value}. Use a value >= {minimum}.")
    return int(value)


def check_bool(value, name: str) -> bool:
    """A bool (Python or numpy); TypeError for anything else (e.g. the string 'False')."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}.")


def as_progress(progress, name: str = "progress"):
    """Normalize a progress callback to the library's signature `progress(done, total, label)`.

    Accepts None, a 3-argument callable, or an old-style 2-argument `progress(done, total)`
    (called without the label): a callable with exactly two required positional parameters (and
    no *args) is treated as old-style, so `lambda done, total, i=i: ...` keeps its `i`.
    Returns a 3-argument callable or None."""
    if progress is None:
        return None
    if not callable(progress):
        raise TypeError(f"{name} must be a callable progress(done, total, label) or None, got {progress!r}.")
    import inspect

    try:
        params = list(inspect.signature(progress).parameters.values())
    except (TypeError, ValueError):
        return progress
    P = inspect.Parameter
    if any(p.kind == P.VAR_POSITIONAL for p in params):
        return progress
    positional = [p for p in params if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is P.empty]
    if len(required) >= 3:
        return progress
    if len(positional) < 2:
        raise TypeError(f"{name} must accept (done, total, label) or (done, total), got {progress!r}.")

    def three(done, total, label=""):
        return progress(done, total)

    return three


def check_positive_float(value, name: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}.")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}.")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value}.")
    return value


def as_numeric(x, name):
    """np.asarray(x), refusing what is not a numeric (float or integer) array with a TypeError
    naming `name`."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}: {e}") from None
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must be a numeric (float) array, got dtype {arr.dtype}.")
    return arr


def check_inputs(x, name: str = "x", *, ndim: int = 2):
    """Validate a data array of shape (n, d): non-empty, finite, numeric. Returns a jax array.

    Checks run in numpy on concrete values (so they also work for constants closed over inside a
    `jax.jit` trace); traced values only get their shape checked.
    """
    if x is None:
        raise ValueError(f"{name} is None; pass an array of shape (n, d).")
    if is_tracer(x):
        if x.ndim != ndim:
            raise ValueError(f"{name} must have {ndim} dimensions (n, d), got shape {x.shape}.")
        return x
    arr = as_numeric(x, name)
    if arr.ndim != ndim:
        hint = " Reshape a single point to (1, d) or a 1-D feature to (n, 1)." if ndim == 2 else ""
        raise ValueError(f"{name} must have {ndim} dimensions (n, d), got shape {arr.shape}.{hint}")
    if arr.size == 0 or arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); pass at least one point.")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN/inf value(s); clean or drop those points first.")
    if isinstance(x, jax.Array):
        return x
    if np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(jnp.result_type(float))
    return as_jax(arr)


def check_pair(x1, x2):
    x1 = check_inputs(x1, "x1")
    if x2 is not None:
        x2 = check_inputs(x2, "x2")
        if x1.shape[1:] != x2.shape[1:]:
            raise ValueError(
                f"x1 and x2 must have the same feature size, got x1 {x1.shape} and x2 {x2.shape}."
            )
    return x1, x2


def check_budget(budget, name: str = "memory_budget"):
    """`budget` (bytes) if it is None or a positive finite number, else a clear TypeError/ValueError."""
    if budget is None:
        return None
    if isinstance(budget, bool) or not isinstance(budget, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number of bytes or None (no limit), got {budget!r}.")
    if not (np.isfinite(budget) and budget > 0):
        raise ValueError(f"{name} must be a positive number of bytes or None (no limit), got {budget!r}.")
    return budget


def check_memory(estimate_bytes: float, budget: float | None, what: str, suggestion: str):
    if check_budget(budget) is None:
        return
    if estimate_bytes > budget:
        raise ValueError(
            f"{what} needs an estimated {format_bytes(estimate_bytes)}, above the memory budget of "
            f"{format_bytes(budget)}. {suggestion}"
        )


def format_bytes(n: float) -> str:
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"
