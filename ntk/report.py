"""Self-contained HTML reports of preset results (`python -m ntk report --preset NAME`).

    r = ntk.presets.jacot_fig1(fast=True)
    ntk.report.write_report(r, "report.html")

The page embeds plotly.js once (the first figure carries it, the others reuse it), so it opens
offline; it lists the measured numbers, the caption, the configuration and the versions of
Python, JAX and ntk that produced it.
"""
from __future__ import annotations

import datetime as _dt
import html
import json
import os
import platform
from pathlib import Path

import numpy as np

from .export import jsonable


def versions() -> dict:
    """Versions of the software that produced a result (python, jax, jaxlib, numpy, plotly, ntk)."""
    import jax
    import jaxlib
    import plotly

    from . import __version__

    try:
        backend = f"{jax.default_backend()} ({len(jax.devices())} device(s))"
    except Exception as e:  # pragma: no cover - backend init failure is reported, not raised
        backend = f"unavailable: {e}"
    return {
        "ntk": __version__,
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "numpy": np.__version__,
        "plotly": plotly.__version__,
        "platform": platform.platform(),
        "backend": backend,
        "x64": bool(jax.config.jax_enable_x64),
    }


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    return str(v)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222}
h1{font-size:1.6em} h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ddd;padding:4px 10px;
text-align:left;vertical-align:top} th{background:#f5f5f5} td.num{font-family:monospace}
.caption{background:#f8f8f8;border-left:4px solid #1f77b4;padding:.6em 1em;line-height:1.5}
pre{background:#f5f5f5;padding:.8em;overflow-x:auto} .meta{color:#666;font-size:.9em}
"""


def render_html(result, versions_info: dict | None = None) -> str:
    """The report as one HTML string (plotly.js embedded once)."""
    v = versions() if versions_info is None else versions_info
    e = html.escape
    parts = [
        "<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(result.title)} — ntk report</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(result.title)}</h1>",
        f"<p class='meta'>preset <code>{e(result.name)}</code> · computed in "
        f"{result.elapsed_s:.1f} s · {e(_dt.datetime.now().isoformat(timespec='seconds'))}</p>",
        f"<div class='caption'>{e(result.caption)}</div>",
        "<h2>Figures</h2>",
    ]
    first = True
    for name, fig in result.figures.items():
        parts.append(f"<h3>{e(str(name))}</h3>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=first, default_width="100%"))
        first = False
    parts.append("<h2>Measured numbers</h2><table><tr><th>name</th><th>value</th>"
                 "<th>meaning</th></tr>")
    for k, val, label in result.table():
        parts.append(f"<tr><td><code>{e(k)}</code></td><td class='num'>{e(_fmt(val))}</td>"
                     f"<td>{e(label)}</td></tr>")
    parts.append("</table>")
    parts.append("<h2>Configuration</h2><pre>"
                 + e(json.dumps(jsonable(result.config), indent=2, ensure_ascii=False), quote=False)
                 + "</pre>")
    parts.append("<h2>Versions</h2><table>")
    for k, val in v.items():
        parts.append(f"<tr><th>{e(str(k))}</th><td>{e(str(val))}</td></tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts)


def check_writable(path) -> Path:
    """Raise ValueError with a readable message if a report cannot be written to `path`."""
    p = Path(path).expanduser()
    if p.exists() and p.is_dir():
        raise ValueError(f"--out {path} is a directory; give a file name such as {p / 'report.html'}.")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise ValueError(f"cannot write {path}: directory {parent} does not exist.")
    if not parent.is_dir():
        raise ValueError(f"cannot write {path}: {parent} is not a directory.")
    if p.exists() and not os.access(p, os.W_OK):
        raise ValueError(f"cannot write {path}: permission denied.")
    if not p.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write {path}: directory {parent} is not writable.")
    return p


def write_report(result, path, versions_info: dict | None = None) -> Path:
    """Write the HTML report of `result` (a PresetResult) to `path`; returns the path."""
    p = check_writable(path)
    text = render_html(result, versions_info)
    try:
        p.write_text(text, encoding="utf-8")
    except OSError as err:
        raise ValueError(f"cannot write {path}: {err.strerror or err}.") from None
    return p


__all__ = ["check_writable", "render_html", "versions", "write_report"]
