"""The two places where the app relies on Streamlit internals fail here, loudly, when a
Streamlit upgrade removes them (the app itself falls back silently)."""
from ntk.app import chart


def test_streamlit_serves_the_plotly_chunk_the_chart_component_loads():
    chunk = chart.plotly_chunk()
    assert chunk is not None, (f"no {chart.PLOTLY_CHUNK_GLOB} in Streamlit's static files: "
                               "charts fall back to st.plotly_chart (rebuilt on every change)")
    assert chunk.endswith(".js")


def test_pages_manager_flag_exists():
    from streamlit.runtime.pages_manager import PagesManager

    assert hasattr(PagesManager, "uses_pages_directory"), (
        "ntk.app.state._ensure_app_navigation relies on PagesManager.uses_pages_directory")
