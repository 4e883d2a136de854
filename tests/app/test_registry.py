"""A new page is one registry record plus one page file: the app's navigation, its state, the
cached computation, prewarm and the figures all come from the record."""
import numpy as np
import plotly.graph_objects as go
import pytest
from _apphelpers import APP, TIMEOUT, as_array, assert_clean, charts
from streamlit.testing.v1 import AppTest

from ntk.app import prewarm
from ntk.app import registry as R


def toy_data(scale: float = 2.0, n: int = 5, progress=None):
    if progress is not None:
        progress(1, 1, "toy")
    return dict(x=np.arange(n, dtype=float), y=float(scale) * np.arange(n, dtype=float))


def toy_figure(d):
    return go.Figure(go.Scatter(x=d["x"], y=d["y"], name="toy"))


@pytest.fixture
def toy():
    R.register_data_fn(toy_data)
    R.register_figure_fn(toy_figure)
    rec = R.register(R.PageRecord(
        "toy", "Toy page", ":material/science:", "tests/app/toy_page.py", data_fn="toy_data",
        defaults=dict(scale=2.0, n=5),
        widgets=(R.slider("scale", "Scale", 0.5, 4.0, step=0.5), R.number("n", "Points", 2, 50)),
        figures=lambda d: [("toy_figure", {})]))
    yield rec
    R.unregister("toy")


def test_toy_page_through_the_registry(toy):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.query_params["n"] = "7"
    at.switch_page("tests/app/toy_page.py")
    at.run()
    assert_clean(at)
    assert at.title[0].value == "Toy page"
    assert at.slider(key="toy__scale").value == 2.0 and at.number_input(key="toy__n").value == 7
    (fig,) = charts(at)
    np.testing.assert_array_equal(as_array(fig["data"][0]["y"]), 2.0 * np.arange(7))
    at.slider(key="toy__scale").set_value(3.0).run()
    assert_clean(at)
    np.testing.assert_array_equal(as_array(charts(at)[0]["data"][0]["y"]), 3.0 * np.arange(7))
    assert at.query_params["scale"] in ("3.0", ["3.0"])
    # Out-of-bounds URL values are refused with the record's bounds.
    at2 = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at2.run()
    at2.query_params["n"] = "500"
    at2.switch_page("tests/app/toy_page.py")
    at2.run()
    assert any("outside the allowed range [2, 50]" in w.value for w in at2.warning)
    # Prewarm knows the page too.
    assert "toy" in R.prewarm_pages() and prewarm.prewarm(["toy"]) == ["toy"]
