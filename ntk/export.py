"""Exports for figures: standalone HTML, the plotted data as CSV / NPZ, config JSON, Jupyter snippet.

Pure functions (no streamlit). `figure_arrays(fig)` collects the numbers a figure draws (x, y, z
of every trace, frames included), which is what CSV and NPZ exports contain.
"""
from __future__ import annotations

import io
import json
import re
from typing import Mapping, Optional

import numpy as np

__all__ = ["arrays_to_csv", "arrays_to_npz", "config_json", "figure_arrays", "figure_html",
           "jsonable", "python_snippet"]


def figure_html(fig, include_plotlyjs="cdn") -> str:
    """Interactive HTML page of a figure. include_plotlyjs=True embeds plotly.js (works offline,
    ~4.6 MB); "cdn" (default) loads it from the plotly CDN (small file)."""
    return fig.to_html(full_html=True, include_plotlyjs=include_plotlyjs,
                       config={"displaylogo": False})


def _slug(s, i):
    s = re.sub(r"[^A-Za-z0-9]+", "_", str(s or "")).strip("_")
    return f"trace{i}" + (f"_{s[:40]}" if s else "")


def figure_arrays(fig, frames: bool = False) -> dict:
    """{name: 1-D/2-D float array} for the x, y, z data of every trace (and frame if asked)."""
    out = {}

    def add(prefix, traces):
        for i, tr in enumerate(traces):
            base = prefix + _slug(getattr(tr, "name", None), i)
            for ax in ("x", "y", "z"):
                v = getattr(tr, ax, None) if ax in tr else None
                if v is None:
                    continue
                try:
                    a = np.asarray(v, dtype=float)
                except (TypeError, ValueError):
                    continue
                out[f"{base}_{ax}"] = a

    add("", fig.data)
    if frames:
        for fr in fig.frames or ():
            add(f"frame{fr.name}_", fr.data)
    return out


def arrays_to_csv(arrays: Mapping[str, np.ndarray]) -> str:
    """CSV text. Equal-length 1-D arrays -> one column each; otherwise tidy long format
    (array, i, j, value)."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    if not arrays:
        return ""
    lens = {v.shape for v in arrays.values()}
    if len(lens) == 1 and next(iter(lens)).__len__() == 1:
        keys = list(arrays)
        buf = io.StringIO()
        buf.write(",".join(keys) + "\n")
        for row in zip(*(arrays[k] for k in keys)):
            buf.write(",".join(repr(float(v)) for v in row) + "\n")
        return buf.getvalue()
    buf = io.StringIO()
    buf.write("array,i,j,value\n")
    for k, v in arrays.items():
        a = np.atleast_1d(v.astype(float) if v.dtype.kind in "biuf" else v)
        if a.ndim == 1:
            a = a[:, None]
        a = a.reshape(a.shape[0], -1)
        for i in range(a.shape[0]):
            for j in range(a.shape[1]):
                buf.write(f"{k},{i},{j},{float(a[i, j])!r}\n")
    return buf.getvalue()


def arrays_to_npz(arrays: Mapping[str, np.ndarray]) -> bytes:
    """Compressed NPZ bytes (np.load(io.BytesIO(b)) gives the arrays back)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return buf.getvalue()


def jsonable(v):
    """`v` with numpy scalars/arrays, tuples and dict keys made JSON-friendly (recursively);
    other objects (dtypes, callables) become their `str`. The one converter of the library:
    configuration exports, cache keys, reports and snippets use it."""
    if isinstance(v, dict):
        return {str(k): jsonable(u) for k, u in v.items()}
    if isinstance(v, np.ndarray):
        return jsonable(v.tolist())
    if isinstance(v, (tuple, list)):
        return [jsonable(u) for u in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


def config_json(config: Mapping) -> str:
    """The configuration as pretty, sorted JSON."""
    return json.dumps(jsonable(dict(config)), indent=2, sort_keys=True)


def python_snippet(data_fn: str, config: Mapping, figure_fn: str,
                   figure_kwargs: Optional[Mapping] = None) -> str:
    """A short script that rebuilds a figure in Jupyter with `ntk`:

        import ntk.plots as P
        data = P.<data_fn>(**config)
        fig = P.<figure_fn>(data, **figure_kwargs)
        fig.show()
    """
    cfg = ",\n    ".join(f"{k}={jsonable(v)!r}" for k, v in config.items())
    fk = "".join(f", {k}={jsonable(v)!r}" for k, v in (figure_kwargs or {}).items())
    return ("import ntk.plots as P\n\n"
            f"data = P.{data_fn}(\n    {cfg},\n)\n"
            f"fig = P.{figure_fn}(data{fk})\n"
            "fig.show()\n")
