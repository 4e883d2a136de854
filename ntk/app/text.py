"""Small text helpers of the pages: numbers that never read "nan"."""
from __future__ import annotations

import math


def num(v, spec: str = ".3g", missing: str = "—") -> str:
    """`format(v, spec)`, or `missing` for None, NaN and ±inf (a metric never shows "nan")."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return missing
    return format(f, spec) if math.isfinite(f) else missing


def finite(*vals) -> bool:
    """True when every value is a finite number."""
    try:
        return all(math.isfinite(float(v)) for v in vals)
    except (TypeError, ValueError):
        return False


__all__ = ["finite", "num"]
