"""Paper presets: pick one, run it (same code as `ntk.presets.<name>()` in Jupyter), read the
figures, the measured numbers and how closely they reproduce the original."""
import streamlit as st

from ntk import presets, report
from ntk.app.chart import plotly_chart
from ntk.app.state import presenter_toggle
from ntk.export import jsonable


@st.cache_resource
def _results() -> dict:
    """Finished preset runs, shared across reruns and sessions: {(name, fast): PresetResult}."""
    return {}


presenter_toggle()

st.title("Paper presets")
infos = {i.name: i for i in presets.list_presets()}
# Shareable state: ?preset=NAME&fast=1|0 selects the preset, &run=1 also computes it on open.
qp = st.query_params
if "preset_name" not in st.session_state and qp.get("preset") in infos:
    st.session_state["preset_name"] = qp.get("preset")
if "preset_fast" not in st.session_state and qp.get("fast") in ("0", "1"):
    st.session_state["preset_fast"] = qp.get("fast") == "1"
sb = st.sidebar
name = sb.selectbox("Preset", list(infos), format_func=lambda n: infos[n].title,
                    key="preset_name")
fast = sb.toggle("Fast (small sizes)", value=True, key="preset_fast",
                 help="Fewer widths, seeds and steps: seconds instead of minutes. Turn off for "
                      "the settings of the original paper (several minutes on a CPU).")
info = infos[name]
st.markdown(f"**{info.title}**  \n{info.summary}  \n*{info.reference}*")
if not fast:
    st.info("Full-size run: this follows the paper's settings and can take several minutes.")

qp["preset"] = name
qp["fast"] = "1" if fast else "0"

store = _results()
key = (name, bool(fast))
run_clicked = st.button("Run preset" if key not in store else "Run again", type="primary",
                        key="preset_run")
if qp.get("run") == "1" and key not in store:
    run_clicked = True
if run_clicked:
    bar = st.progress(0.0, text="Starting…")

    def progress(done, total, desc):
        try:
            bar.progress(min(max(done / max(total, 1), 0.0), 1.0), text=f"{desc} ({done}/{total})")
        except Exception:  # the browser went away; keep computing for the cache
            pass

    try:
        store[key] = presets.run(name, fast=fast, progress=progress)
    except MemoryError:
        st.error("Out of memory: use the fast setting.")
    except Exception as e:  # never a traceback in the app
        st.error(f"The preset could not be computed ({type(e).__name__}): {e}")
    finally:
        bar.empty()

result = store.get(key)
if result is None:
    st.caption("Press **Run preset** to compute it.")
    st.stop()

st.caption(f"Computed in {result.elapsed_s:.1f} s{' (fast sizes)' if fast else ''}.")
st.markdown(result.caption)
rows = result.table()
cols = st.columns(min(4, len(rows)))
for col, (k, v, label) in zip(cols, rows[:4]):
    col.metric(k, f"{v:.3g}" if isinstance(v, float) else str(v), help=label)
for fig_name, fig in result.figures.items():
    plotly_chart(fig, key=f"preset_fig_{name}_{fig_name}")  # in place updates, like the other pages
with st.expander("All measured numbers", expanded=True):
    st.dataframe([{"name": k, "value": v, "meaning": label} for k, v, label in rows],
                 hide_index=True, width="stretch")
with st.expander("Configuration"):
    st.json(jsonable(result.config))
try:
    html = report.render_html(result)
    st.download_button("Download HTML report", html, file_name=f"{name}.html",
                       mime="text/html", key="preset_download")
except Exception as e:  # pragma: no cover
    st.error(f"Could not build the report: {e}")
st.caption(f"Same result in Jupyter: `import ntk.presets; ntk.presets.{name}(fast={fast})`; on "
           f"the command line: `python -m ntk report --preset {name}{' --fast' if fast else ''} "
           f"--out report.html`.")
