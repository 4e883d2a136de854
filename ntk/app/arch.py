"""The architecture switch of the kernel, convergence, training and spectrum pages.

    S = PageState.of("kernel")
    arch.reconcile(S, clamp={"width": 512})   # before any widget: keeps the state consistent
    ...
    arch.widget(S)                            # the selectbox, in the sidebar

Convolutional architectures take images: a dataset without images (sine, moons, spirals) is
replaced by "circle" (a circle of digit images) with a note. When the architecture changes from
the MLP to a convolutional one, sizes that would be refused as too costly (e.g. width 2048 as
channels) are lowered to `clamp`; afterwards the user may raise them again (the view then refuses
with its estimate if they are too large).
"""
from __future__ import annotations

from typing import Mapping, Optional

import streamlit as st

from ..analysis.architectures import ARCHITECTURES, IMAGE_ARCHITECTURES

IMAGE_DATASETS = ("circle", "digits")


def _lower(value, limit, options):
    """`value` (a number or a list of them) with entries above `limit` lowered."""
    top = max((o for o in options or () if o <= limit), default=limit)
    if isinstance(value, list):
        kept = [v for v in value if v <= limit]
        return kept + [top] if len(kept) < len(value) and top not in kept else kept
    return value if value <= limit else top


def reconcile(S, clamp: Optional[Mapping[str, int]] = None) -> None:
    """Make the page's state fit its architecture (call before rendering the widgets)."""
    ss = st.session_state
    arch = ss.get(S.key("architecture"), "mlp")
    prev_key = f"_arch_prev_{S.page}"
    prev = ss.get(prev_key, "mlp")
    ss[prev_key] = arch
    if arch not in IMAGE_ARCHITECTURES:
        return
    dkey = S.key("dataset")
    if dkey in ss and ss[dkey] not in IMAGE_DATASETS:
        S.errors.append(f"The {ARCHITECTURES[arch]} takes images: Data '{ss[dkey]}' was replaced by "
                        "'circle' (a circle of 8×8 images through two digits).")
        ss[dkey] = "circle"
    if prev not in IMAGE_ARCHITECTURES:
        for name, limit in (clamp or {}).items():
            key = S.key(name)
            if key in ss:
                options = S.options.get(name)
                new = _lower(ss[key], limit, options)
                if new != ss[key]:
                    S.errors.append(f"{name} lowered to {new} for the {ARCHITECTURES[arch]} "
                                    "(width = channels: larger values cost much more).")
                    ss[key] = new


def widget(S, container=None):
    """The architecture selectbox (options and help from the page's record)."""
    S.widget("architecture", container, format_func=lambda a: ARCHITECTURES.get(a, a))


__all__ = ["IMAGE_DATASETS", "reconcile", "widget"]
