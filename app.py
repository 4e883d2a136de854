"""ntk app: entry point. `streamlit run app.py` (or `make run`).

Navigation over the pages in pages/; each page renders the shared presenter-mode toggle
(ntk.ui.presenter_toggle) in the sidebar.
"""
from pathlib import Path

import streamlit as st

st.set_page_config(page_title="ntk: Neural Tangent Kernel lab", page_icon="♾️", layout="wide")

from ntk import ui  # noqa: E402

# Compiled XLA programs persist across server restarts: a cold start re-uses them from disk.
ui.configure_jax_cache()
# Once per server process: compute the default view of every page in a background thread, so a
# first visit finds it ready (NTK_PREWARM=0 turns this off).
ui.start_prewarm()

HERE = Path(__file__).parent
PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True, url_path="home"),
    st.Page("pages/kernel.py", title="Kernel explorer", icon=":material/grid_on:", url_path="kernel"),
    st.Page("pages/convergence.py", title="Width convergence", icon=":material/trending_down:", url_path="convergence"),
    st.Page("pages/training.py", title="Training dynamics", icon=":material/play_circle:", url_path="training"),
    st.Page("pages/lazy.py", title="Lazy regime", icon=":material/bedtime:", url_path="lazy"),
    st.Page("pages/spectrum.py", title="Spectrum", icon=":material/equalizer:", url_path="spectrum"),
]
if (HERE / "pages" / "presets.py").exists():
    PAGES.append(st.Page("pages/presets.py", title="Presets", icon=":material/tune:", url_path="presets"))

pg = st.navigation(PAGES)
pg.run()
