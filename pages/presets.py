"""Paper presets: pick one, run it (same code as `ntk.presets.<name>()` in Jupyter), read the
figures, the measured numbers and how closely they reproduce the original. Runs go to a
background thread and are stored (memory and disk): a preset computed once opens instantly."""
import streamlit as st

from ntk import presets, report
from ntk.analysis.presets.text import short_name
from ntk.app import preset_jobs as J
from ntk.app.chart import plotly_chart
from ntk.app.cost import format_seconds
from ntk.app.state import presenter_toggle
from ntk.app.text import num
from ntk.export import jsonable

presenter_toggle()

st.title("Paper presets")
infos = {i.name: i for i in presets.list_presets()}
# Shareable state: ?preset=NAME&fast=1|0 selects the preset, &run=1 also computes it on open.
qp = st.query_params
for k in [k for k in qp.keys() if k not in ("preset", "fast", "run", "presenter")]:
    st.warning(f"URL parameter {k[:40]!r} ignored: this page has no such setting.")
if "preset_name" not in st.session_state:
    if qp.get("preset") in infos:
        st.session_state["preset_name"] = qp.get("preset")
    elif qp.get("preset") is not None:
        st.warning(f"URL parameter preset={qp.get('preset')[:40]!r} ignored: choose one of "
                   f"{', '.join(infos)}.")
if "preset_fast" not in st.session_state:
    if qp.get("fast") in ("0", "1"):
        st.session_state["preset_fast"] = qp.get("fast") == "1"
    elif qp.get("fast") is not None:
        st.warning(f"URL parameter fast={qp.get('fast')[:40]!r} ignored: use 1 (small sizes) or 0 "
                   "(full size).")
sb = st.sidebar
name = sb.selectbox("Preset", list(infos), format_func=lambda n: infos[n].title, key="preset_name")
fast = sb.toggle("Fast (small sizes)", value=True, key="preset_fast",
                 help="Fewer widths, seeds and steps: seconds instead of minutes. Turn off for "
                      "the settings of the original paper (minutes on 2 CPU cores, unless "
                      "precomputed: the server computes every preset in the background once, "
                      "and `python -m ntk warm-app --presets all` does it ahead of time).")
info = infos[name]
st.markdown(f"**{info.title}**  \n{info.summary}  \n*{info.reference}*")
qp["preset"] = name
qp["fast"] = "1" if fast else "0"
if "run" in qp and qp.get("run") != "1":
    del qp["run"]

result = J.stored(name, fast)
job = J.status(name, fast)
if result is None and qp.get("run") == "1" and (job is None or job["state"] != "running"):
    job = J.start(name, fast)


def _start(rerun: bool = False):
    """Button callback: start the preset selected now (callbacks run before the script)."""
    J.start(st.session_state["preset_name"], st.session_state["preset_fast"], rerun=rerun)


@st.fragment(run_every=1.0)
def _progress():
    """The shared progress of this preset's run (whoever started it); reruns the page when done."""
    j = J.status(name, fast)
    if j is None or j["state"] != "running":
        if j is not None:
            st.rerun()
        return
    frac = min(max(j["done"] / max(j["total"], 1), 0.0), 1.0)
    left = f", {format_seconds(j['left'])} left" if j["left"] is not None else ""
    who = "precomputing in the background" if j.get("background") else "computing"
    st.progress(frac, text=f"{who}: {j['label']} — {100 * frac:.0f} % ({j['elapsed']:.0f} s{left})")


if job is not None and job["state"] == "error":
    st.error(f"The preset could not be computed: {job['error']}")
if result is None:
    if job is not None and job["state"] == "running":
        _progress()
        st.caption("The run continues if you leave this page; every visitor sees the same run.")
        st.stop()
    last = J.last_seconds(name, fast)
    est = (f"last run on this machine: {format_seconds(last)}" if last is not None else
           ("seconds to a minute" if fast else "several minutes on 2 cores"))
    if not fast:
        st.info(f"Full-size run: the paper's settings ({est}). It runs in the background and is "
                "stored, so it opens instantly next time.")
    st.button(f"Run preset ({est})", type="primary", key="preset_run", on_click=_start)
    st.caption("Press **Run preset** to compute it.")
    st.stop()

c1, c2 = st.columns([3, 1])
c1.caption(f"Computed in {result.elapsed_s:.1f} s{' (fast sizes)' if fast else ''}; stored, so it "
           "opens instantly for every visitor.")
c2.button("Run again", key="preset_rerun", on_click=_start, kwargs=dict(rerun=True),
          help="Compute this preset once more (same seeds, same numbers; measures the time again).")
st.markdown(result.caption)
rows = result.table()
cols = st.columns(min(4, len(rows)))
for col, (k, v, label) in zip(cols, rows[:4]):
    col.metric(short_name(k), num(v) if isinstance(v, float) else str(v), help=label)
for fig_name, fig in result.figures.items():
    plotly_chart(fig, key=f"preset_fig_{name}_{fig_name}")  # in place updates, like the other pages
with st.expander("All measured numbers", expanded=True):
    st.dataframe([{"quantity": short_name(k), "value": num(v, ".4g") if isinstance(v, float) else v,
                   "meaning": label, "key": k} for k, v, label in rows],
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
