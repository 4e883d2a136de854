"""Exports: HTML, CSV/NPZ of the figure data, JSON config, and the Jupyter snippet round trip."""
import io
import json

import numpy as np
import plotly.graph_objects as go

import ntk.plots as P
from ntk import export as E


def _fig():
    return go.Figure([go.Scatter(x=[1, 2, 3], y=[4.0, 5.0, 6.5], name="a b"),
                      go.Heatmap(z=[[1, 2], [3, 4]], name="h")])


def test_html_standalone():
    h = E.figure_html(_fig(), include_plotlyjs=True)
    assert "<html>" in h[:100] and "Plotly.newPlot" in h and len(h) > 1_000_000
    assert "cdn.plot.ly" in E.figure_html(_fig())


def test_figure_arrays_csv_npz():
    a = E.figure_arrays(_fig())
    assert set(a) == {"trace0_a_b_x", "trace0_a_b_y", "trace1_h_z"}
    np.testing.assert_array_equal(a["trace1_h_z"], [[1, 2], [3, 4]])
    back = np.load(io.BytesIO(E.arrays_to_npz(a)))
    np.testing.assert_array_equal(back["trace0_a_b_y"], [4.0, 5.0, 6.5])
    csv = E.arrays_to_csv(a).splitlines()
    assert csv[0] == "array,i,j,value" and "trace1_h_z,1,0,3.0" in csv
    wide = E.arrays_to_csv({"x": np.arange(3), "y": np.ones(3)}).splitlines()
    assert wide == ["x,y", "0.0,1.0", "1.0,1.0", "2.0,1.0"]


def test_config_json():
    s = E.config_json({"widths": (np.int64(8), 16), "lr": np.float32(0.5), "name": "erf"})
    assert json.loads(s) == {"widths": [8, 16], "lr": 0.5, "name": "erf"}


def test_snippet_reproduces_figure():
    cfg = dict(w_min=16, w_max=64, n_widths=3, n_seeds=2, n=6)
    fig = P.convergence_figure(P.convergence_data(**cfg))
    code = E.python_snippet("convergence_data", cfg, "convergence_figure")
    assert code.startswith("import ntk.plots as P")
    ns = {}
    exec(code.replace("fig.show()", ""), ns)
    a, b = E.figure_arrays(fig), E.figure_arrays(ns["fig"])
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k])
