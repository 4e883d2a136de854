"""AppTest helpers: run a page of the app (through app.py's navigation) with URL parameters."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
TIMEOUT = 240


def run_page(page: str, query: dict | None = None) -> AppTest:
    """Start the app, open pages/<page>.py with the given query parameters, run it."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    if page != "home":
        for k, v in (query or {}).items():
            at.query_params[k] = str(v)
        at.switch_page(f"pages/{page}.py")
        at.run()
    return at


def assert_clean(at: AppTest):
    """No exception element and no st.error on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def chart_elements(at: AppTest) -> list:
    """The page's charts: the app's chart component (ntk.ui.plotly_chart), in page order,
    then any plain st.plotly_chart."""
    return ([c for c in at.get("bidi_component") if c.proto.component_name == "ntk_plot"]
            + list(at.get("plotly_chart")))


def chart_spec(c) -> dict:
    import json

    if c.type == "plotly_chart":
        return json.loads(c.proto.spec)
    return json.loads(json.loads(c.proto.json)["spec"])


def charts(at: AppTest):
    return [chart_spec(c) for c in chart_elements(at)]


def metric(at: AppTest, label_part: str) -> str:
    for m in at.metric:
        if label_part in m.label:
            return m.value
    raise KeyError(f"no metric with {label_part!r}: {[m.label for m in at.metric]}")




def as_array(v):
    """Trace data from a chart spec: plotly's typed-array dict {dtype, bdata, shape} or a list."""
    import base64

    import numpy as np

    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        shape = v.get("shape")
        if shape:
            a = a.reshape([int(s) for s in str(shape).split(",")] if isinstance(shape, str) else shape)
        return a.astype(float)
    return np.asarray(v, dtype=float)
