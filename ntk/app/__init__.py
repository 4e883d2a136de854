"""The Streamlit side of the app (`streamlit run app.py`); the library never imports it.

    registry.py       one record per page (defaults, widgets with their bounds, data function,
                      figures); app.py, prewarm and the pages all read it (no streamlit import)
    state.py          presenter mode, a page's configuration in session state and the URL
    cache.py          results and figures cached in memory and on disk, `compute`
    chart.py          the in-place Plotly chart component
    export_dialog.py  `show_figure`: chart + export dialog (HTML, CSV, NPZ, JSON, snippet)
    page.py           the generic page: a record rendered with its widgets and figures
    prewarm.py        default views computed in the background / by `python -m ntk warm-app`

Add a page: one `PageRecord` in registry.py (or `registry.register(...)`) and one file in
pages/ (see docs/ARCHITECTURE.md).
"""

# Plotly looks pandas up lazily (sys.modules) while validating figure data. Under concurrent
# first visits one session thread could see the partially initialized module another thread is
# still importing ("partially initialized module 'pandas' has no attribute 'Series'", seen in
# tests/browser/test_load.py). Importing it here, once, before any page runs, closes that race:
# app.py imports ntk.app first and other threads wait on the import lock.
import pandas  # noqa: E402,F401
