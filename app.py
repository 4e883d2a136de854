"""ntk app: entry point. `streamlit run app.py` (or `make run`).

The navigation lists the pages of the page registry (ntk/app/registry.py); each page renders
the shared presenter-mode toggle in the sidebar.
"""
from pathlib import Path

import streamlit as st

st.set_page_config(page_title="ntk: Neural Tangent Kernel lab", page_icon="♾️", layout="wide")

from ntk.app import prewarm, registry  # noqa: E402

# Compiled XLA programs persist across server restarts: a cold start re-uses them from disk.
prewarm.configure_jax_cache()
# Once per server process: compute the default view of every page in a background thread, so a
# first visit finds it ready (NTK_PREWARM=0 turns this off).
prewarm.start_prewarm()

HERE = Path(__file__).parent
pg = st.navigation([st.Page(r.script, title=r.title, icon=r.icon, url_path=r.name, default=r.default)
                    for r in registry.pages() if (HERE / r.script).exists()])
pg.run()
