"""Style checks of plotly figures (issue 15): readable log axes, titled axes, no raw LaTeX.

`style_problems(fig_json)` returns a list of human-readable problems (empty = fine) for a figure
as JSON (`json.loads(fig.to_json())`), so the same check runs on figures built by the library and
on figures read back from the app's chart elements.
"""
from __future__ import annotations

import base64
import math
import re

import numpy as np

#: Text that would show LaTeX source instead of maths.
RAW_MATH = ("_{", "^")


def _values(v):
    if v is None:
        return np.zeros(0)
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).astype(float)
    try:
        return np.asarray(v, dtype=float).ravel()
    except (TypeError, ValueError):
        return np.zeros(0)


def _is_decade(v: float) -> bool:
    return v > 0 and abs(math.log10(v) - round(math.log10(v))) < 1e-9


def _label_value(text: str):
    """The number a tick label states ('0.01', '1000', '10⁵', '2×10⁻⁵'), or None if it is not
    a complete number (e.g. a bare minor-tick digit is a number too, checked by the caller)."""
    sup = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")
    t = text.replace("−", "-").strip()
    m = re.fullmatch(r"(?:([0-9.]+)×)?10([⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)", t)
    if m:
        return float(m.group(1) or 1) * 10.0 ** int(m.group(2).translate(sup))
    try:
        return float(t)
    except ValueError:
        return None


def _texts(obj, path=""):
    """(path, text) of every user-visible string in a figure JSON (names, titles, templates...)."""
    keys = ("name", "text", "hovertemplate", "texttemplate", "title", "label", "prefix", "ticktext")
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("template", "bdata"):
                continue
            p = f"{path}.{k}"
            if k in keys and isinstance(v, str):
                yield p, v
            elif k in keys and isinstance(v, list) and all(isinstance(u, str) for u in v):
                for u in v:
                    yield p, u
            else:
                yield from _texts(v, p)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _texts(v, f"{path}[{i}]")


def _axes(layout):
    return {k: v for k, v in layout.items() if re.fullmatch(r"[xy]axis\d*", k)}


def _used_axes(fig):
    used = set()
    for tr in fig["data"]:
        if tr.get("type") in ("pie", "table"):
            continue
        for letter in "xy":
            a = tr.get(f"{letter}axis", letter)
            used.add(f"{letter}axis" + a[1:])
    return used


def _axis_data(fig, axis):
    letter, ident = axis[0], axis[0] + axis[5:]
    vals = [_values(tr.get(letter)) for tr in fig["data"]
            if tr.get(f"{letter}axis", letter) == ident and tr.get("type", "scatter") == "scatter"]
    v = np.concatenate(vals) if vals else np.zeros(0)
    return v[np.isfinite(v) & (v > 0)]


def style_problems(fig: dict, where: str = "") -> list:
    """Problems of figure JSON `fig`: log axes without decade ticks or with bare minor labels,
    axes without a title, raw LaTeX (`_{`, `^`) in any text."""
    problems = []
    lay = fig.get("layout", {})
    axes = _axes(lay)
    for name in sorted(_used_axes(fig)):
        ax = axes.get(name, {})
        title = ax.get("title", {})
        title = title.get("text") if isinstance(title, dict) else title
        shared = ax.get("matches") and ax.get("showticklabels") is False
        if not title and not shared and ax.get("visible", True) is not False:
            problems.append(f"{where}{name}: no axis title")
        if ax.get("type") != "log":
            continue
        vals, texts = ax.get("tickvals"), ax.get("ticktext")
        if ax.get("tickmode") != "array" or not vals or not texts or len(vals) != len(texts):
            problems.append(f"{where}{name}: log axis without explicit decade ticks")
            continue
        for v, t in zip(vals, texts):
            got = _label_value(t)
            if got is None or abs(got / v - 1) > 1e-6:
                problems.append(f"{where}{name}: tick {v:g} labelled {t!r}")
        data = _axis_data(fig, name)
        if ax.get("range"):
            lo, hi = 10.0 ** ax["range"][0], 10.0 ** ax["range"][1]
        elif len(data):
            lo, hi = data.min(), data.max()
        else:
            continue
        inside = [v for v in vals if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)]
        n_decades = sum(_is_decade(10.0 ** k) and lo <= 10.0 ** k <= hi
                        for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1))
        if n_decades >= 2 and not all(_is_decade(v) for v in vals):
            problems.append(f"{where}{name}: data span {n_decades} decades but ticks {vals} are "
                            "not all powers of 10")
        if len(inside) < 2 and n_decades < 2 and hi / lo > 1.5:
            problems.append(f"{where}{name}: fewer than 2 labelled ticks in [{lo:.3g}, {hi:.3g}]")
    for path, text in _texts({"data": fig.get("data", []), "layout": lay,
                              "frames": fig.get("frames", [])}):
        for bad in RAW_MATH:
            if bad in text:
                problems.append(f"{where}{path}: raw {bad!r} in {text!r}")
    return problems


def page_text_problems(texts) -> list:
    """Raw LaTeX in page text (markdown, captions, metric labels) outside $...$ maths."""
    problems = []
    for t in texts:
        plain = re.sub(r"\$\$.*?\$\$|\$[^$]*\$", "", t, flags=re.S)
        for bad in RAW_MATH:
            if bad in plain:
                problems.append(f"raw {bad!r} in page text {t[:120]!r}")
    return problems
