"""Compare figure JSON recorded as a fixture with a fresh one: structure, strings and styling
exactly; numbers (plain lists or Plotly's base64 `bdata` arrays) to a relative tolerance, because
a refactor of a kernel code path may reorder floating-point sums (round-off, not a change)."""
import base64

import numpy as np


def decode(v):
    """A Plotly JSON value as a numpy array (base64 typed arrays decoded), or None if not numeric."""
    if isinstance(v, dict) and "bdata" in v and "dtype" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return a.reshape([int(s) for s in str(v["shape"]).split(",")]) if v.get("shape") else a
    if isinstance(v, float):
        return np.asarray([v])
    if isinstance(v, list) and v and all(isinstance(u, (int, float)) and not isinstance(u, bool)
                                         or u is None for u in np.ravel(np.asarray(v, dtype=object))):
        return np.asarray(v, dtype=float)
    return None


def max_rel_diff(a, b) -> float:
    """max |a - b| / max |b| (NaN positions must agree; 0 for two empty or all-zero arrays)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        return np.inf
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return np.inf
    ok = ~np.isnan(b)
    scale = np.max(np.abs(b[ok])) if ok.any() else 0.0
    d = np.max(np.abs(a[ok] - b[ok])) if ok.any() else 0.0
    return float(d / scale) if scale > 0 else float(d)


def diff(got, want, path="", out=None):
    """[(path, what)] of every difference: 'rel <x>' for numeric arrays (to filter by tolerance),
    'changed' for anything else."""
    out = [] if out is None else out
    ga, wa = decode(got), decode(want)
    if ga is not None and wa is not None:
        out.append((path, max_rel_diff(ga, wa)))
    elif isinstance(got, dict) and isinstance(want, dict):
        if set(got) != set(want):
            out.append((path + f" keys {sorted(set(got) ^ set(want))}", np.inf))
        for k in set(got) & set(want):
            diff(got[k], want[k], f"{path}.{k}", out)
    elif isinstance(got, list) and isinstance(want, list):
        if len(got) != len(want):
            out.append((path + " length", np.inf))
        for i, (g, w) in enumerate(zip(got, want)):
            diff(g, w, f"{path}[{i}]", out)
    elif got != want:
        out.append((path, np.inf))
    return out


def assert_same_figure(got, want, rtol, what=""):
    """Equal structure and text; every numeric array within `rtol` (relative to its max |value|)."""
    bad = [(p, r) for p, r in diff(got, want) if r > rtol]
    assert not bad, f"{what}: " + "; ".join(f"{p} ({'changed' if r == np.inf else f'rel {r:.2g}'})"
                                           for p, r in bad[:8])
