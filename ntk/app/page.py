"""The generic page: a registered record rendered as title, sidebar widgets, one cached
computation and the record's figures. A page whose record says it all is one line:

    from ntk.app import page; page.render("toy")
"""
from __future__ import annotations

import streamlit as st

from . import registry as R
from .cache import compute
from .export_dialog import show_figure
from .state import PageState


def render(name: str) -> dict | None:
    """Render page `name` from its record; returns the computed result (None on error)."""
    rec = R.get(name)
    S = PageState.of(name)
    st.title(rec.title)
    S.widgets(*[w.name for w in rec.widgets if w.name in rec.defaults])
    args = rec.compute_args(S.sync())
    d = compute(rec.data_fn, args, f"Computing {rec.title.lower()}")
    if d is not None:
        for i, (fig_fn, kw) in enumerate(rec.default_figures(d)):
            show_figure(d, f"{name}_{i}", data_fn=rec.data_fn, cfg=args, fig_fn=fig_fn,
                        fig_kwargs=kw)
    return d


__all__ = ["render"]
