"""`plotly_chart`: a chart that a rerun with a new figure updates in place (Plotly.react)."""
from __future__ import annotations

import collections
import functools
import json
import threading
from pathlib import Path
from typing import Mapping, Optional

import streamlit as st

CHART_CONFIG = {"displaylogo": False, "responsive": True}

# Charts are drawn by a small Streamlit component that keeps one Plotly div per chart key and
# updates it with Plotly.react. st.plotly_chart gives a chart a new element id whenever its
# figure changes, so every slider move would rebuild the chart from scratch (Plotly.newPlot:
# axes, legends, layers); Plotly.react only redraws what changed, about twice as fast in the
# browser. The component uses the plotly.js bundle that Streamlit itself serves (the chunk of
# its own chart element, which defines window.Plotly); st.plotly_chart is the fallback when that
# chunk cannot be found.
_PLOT_JS = """
let loading = null;
function plotly(chunk) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!loading) {
    const main = document.querySelector('script[type="module"][src*="/static/js/"]');
    const base = main ? main.src : new URL("static/js/", document.baseURI).href;
    loading = import(new URL(chunk, base).href).then(() => window.Plotly);
    loading.catch(() => { loading = null; });
  }
  return loading;
}
export default function (component) {
  const { data, parentElement } = component;
  let el = parentElement.querySelector(".ntk-plot");
  if (!el) {
    el = document.createElement("div");
    el.className = "ntk-plot";
    el.style.width = "100%";
    el.style.minHeight = data.height + "px";
    parentElement.appendChild(el);
  }
  if (el.__ntkSpec !== data.spec) {
    el.__ntkSpec = data.spec;
    plotly(data.chunk).then((Plotly) => {
      if (el.__ntkSpec !== data.spec) return;  // a newer figure arrived meanwhile
      const fig = JSON.parse(data.spec);
      const draw = fig.frames && fig.frames.length ? Plotly.newPlot : Plotly.react;
      return draw(el, {data: fig.data, layout: fig.layout, frames: fig.frames, config: data.config});
    }).catch((e) => {
      el.textContent = "This chart could not be drawn (" + e + "). Reload the page.";
    });
  }
  return () => setTimeout(() => { if (!el.isConnected && window.Plotly) window.Plotly.purge(el); }, 0);
}
"""
_plot_component = st.components.v2.component("ntk_plot", js=_PLOT_JS, isolate_styles=False)
PLOTLY_CHUNK_GLOB = "PlotlyChart.*.js"


@functools.lru_cache(maxsize=1)
def plotly_chunk() -> Optional[str]:
    """File name of the JS chunk with Streamlit's bundled plotly.js (None if not found).

    This reads Streamlit's build layout (not a public API); tests/app/test_streamlit_hooks.py
    fails when this Streamlit version has no such chunk (the app would then fall back to
    st.plotly_chart, correct but slower)."""
    js = Path(st.__file__).parent / "static" / "static" / "js"
    found = sorted(js.glob(PLOTLY_CHUNK_GLOB))
    return found[0].name if found else None


_SPECS: "collections.OrderedDict[int, tuple]" = collections.OrderedDict()
_SPECS_LOCK = threading.Lock()


def _figure_json(fig) -> str:
    """JSON of a (never mutated, cached) figure, memoised by identity for reruns."""
    with _SPECS_LOCK:
        hit = _SPECS.get(id(fig))
        if hit is not None and hit[0] is fig:
            _SPECS.move_to_end(id(fig))
            return hit[1]
    spec = fig.to_json(validate=False) if hasattr(fig, "to_json") else json.dumps(fig)
    with _SPECS_LOCK:
        _SPECS[id(fig)] = (fig, spec)
        while len(_SPECS) > 64:
            _SPECS.popitem(last=False)
    return spec


def plotly_chart(fig, key: str, config: Optional[Mapping] = None) -> None:
    """Draw a plotly figure full-width under `key`; moving to a new figure under the same key
    updates the chart in place (Plotly.react) instead of rebuilding it."""
    config = dict(CHART_CONFIG if config is None else config)
    chunk = plotly_chunk()
    if chunk is None:
        st.plotly_chart(fig, key=key, theme=None, config=config)
        return
    height = int(getattr(getattr(fig, "layout", None), "height", None) or 450)
    _plot_component(key=key, data={"spec": _figure_json(fig), "config": config,
                                   "chunk": chunk, "height": height})


__all__ = ["CHART_CONFIG", "plotly_chart", "plotly_chunk"]
