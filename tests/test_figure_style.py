"""Every figure the app and the presets draw is readable (issue 15): log axes labelled at decades
only (no bare minor-tick digits such as "1000 2 3"), every axis titled (heatmaps too), no raw
LaTeX (`_{`, `^`) in any label, legend entry, hover template or title.

Figures of every registered page's default view (`registry.pages()`, so new pages are covered)
and of every preset in fast mode are built and checked by `_figstyle.style_problems`; the checker
itself is tested on figures that break each rule.
"""
import json

import numpy as np
import plotly.graph_objects as go
import pytest

from _figstyle import _label_value, page_text_problems, style_problems
from ntk.analysis.presets import list_presets
from ntk.figures import theme


def _json(fig):
    return json.loads(fig.to_json())


#: Smaller sizes where a page's default view takes a minute to compute: the same figures, panels,
#: traces and labels (what this test checks), fewer points and seeds.
SMALLER = {"architectures": dict(n_train=30, n_test=30, widths=[16, 64], n_seeds=1)}


def _registry_pages():
    from ntk.app import registry as R

    return [r.name for r in R.pages() if r.data_fn]


@pytest.mark.slow
@pytest.mark.parametrize("page", _registry_pages())
def test_page_default_figures_are_readable(page):
    from ntk.app import registry as R
    from ntk.figures import apply_theme

    rec = R.get(page)
    args = rec.compute_args({**rec.default_config(), **SMALLER.get(page, {})})
    d = rec.data_function()(**args)
    figs = rec.default_figures(d)
    assert figs, f"{page}: no figure"
    problems = []
    for fn, kw in figs:
        for presenter in (False, True):
            fig = apply_theme(rec.figure(fn)(d, **kw), presenter=presenter)
            problems += style_problems(_json(fig), f"{page}/{fn}{' (presenter)' * presenter}: ")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("name", [i.name for i in list_presets()])
def test_preset_figures_are_readable(name):
    from ntk import presets

    r = presets.run(name, fast=True)
    problems = []
    for k, fig in r.figures.items():
        problems += style_problems(_json(fig), f"{name}/{k}: ")
    problems += page_text_problems([r.caption] + [lab for _, _, lab in r.table()])
    assert not problems, "\n".join(problems)


# ---- the theme's tick rule and the checker itself ----------------------------------------------

@pytest.mark.parametrize("lo, hi", [(1e-7, 1.0), (32, 2048), (0.003, 0.4), (1e-300, 1e300),
                                    (20, 90), (1.2, 1.9), (5e-6, 7e-6)])
def test_log_ticks_decades_or_full_numbers(lo, hi):
    t = theme.log_ticks(lo, hi)
    vals, texts = t["tickvals"], t["ticktext"]
    decades = [10.0**k for k in range(-300, 300) if lo <= 10.0**k <= hi]
    if len(decades) >= 2:
        assert all(abs(np.log10(v) - round(np.log10(v))) < 1e-9 for v in vals)
        assert len(vals) <= 12
    else:
        assert sum(lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9) for v in vals) >= 2
    for v, s in zip(vals, texts):
        assert "^" not in s and _label_value(s) == pytest.approx(v, rel=1e-9)
    assert not set(vals) & set(t["minor"]["tickvals"])


def test_tick_text():
    assert [theme.tick_text(v) for v in (1e-3, 0.01, 1, 10, 1000, 1e5, 1e-6, 2e-5, 0.002, 50)] == [
        "0.001", "0.01", "1", "10", "1000", "10⁵", "10⁻⁶", "2×10⁻⁵", "0.002", "50"]


def test_checker_flags_each_rule():
    bad = go.Figure(go.Scatter(x=[1, 10, 100, 1000], y=[1, 2, 3, 4], name="f_T^lin"))
    bad.update_xaxes(type="log")
    p = style_problems(_json(bad))
    assert any("xaxis: log axis without explicit decade ticks" in s for s in p)
    assert any("yaxis: no axis title" in s for s in p)
    assert any("raw '^'" in s for s in p)
    good = theme.layout(go.Figure(go.Scatter(x=[1, 10, 100, 1000], y=[1, 2, 3, 4], name="fₗᵢₙ")),
                        "ok", xtitle="width n", ytitle="error")
    good.update_xaxes(type="log")
    theme.decade_ticks(good)
    assert style_problems(_json(good)) == []
    assert good.layout.xaxis.ticktext == ("1", "10", "100", "1000")
    assert page_text_problems(["$A_{l-1}$ fine", "A_{l−1} raw"]) == [
        "raw '_{' in page text 'A_{l−1} raw'"]


def test_width_colours_distinguishable_and_not_pale():
    """Colours of widths an octave or more apart differ clearly (CIE76 ΔE > 10; 3 octaves > 25),
    lightness falls monotonically with width (readable in greyscale and for colour-blind viewers),
    and no width is pale on white (L* ≤ 75)."""
    def lab(h):
        rgb = np.array(theme.hex_to_rgb(h)) / 255.0
        lin = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
        xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                        [0.0193, 0.1192, 0.9505]]) @ lin / np.array([0.9505, 1.0, 1.089])
        f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
        return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])

    widths = [2**k for k in range(3, 15)]
    labs = [lab(theme.width_color(w)) for w in widths]
    for i in range(len(widths) - 1):
        assert np.linalg.norm(labs[i + 1] - labs[i]) > 10, widths[i]
        assert labs[i + 1][0] > labs[i][0]  # lighter with width
    for i in range(len(widths) - 3):
        assert np.linalg.norm(labs[i + 3] - labs[i]) > 25, widths[i]
    assert max(lab_[0] for lab_ in labs) <= 75
    assert np.linalg.norm(lab(theme.width_color(256)) - lab(theme.width_color(2048))) > 40


def test_presenter_mode_keeps_bands_without_outline():
    fig = go.Figure([go.Scatter(x=[0, 1, 1, 0], y=[0, 0, 1, 1], fill="toself", line=dict(width=0)),
                     go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(width=2))])
    theme.apply_theme(fig, presenter=True)
    assert fig.data[0].line.width == 0 and fig.data[1].line.width >= 4
