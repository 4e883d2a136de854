"""Presenter mode and a page's configuration in `st.session_state` *and* the URL.

    S = state.PageState.of("kernel")      # defaults, bounds and options from the page's record
    S.widget("width")                     # the record's widget for `width`, in the sidebar
    cfg = S.sync()                        # dict of values; the non-default ones go to the URL

Opening a URL reproduces the view; invalid URL values are reported (st.warning), not raised.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

import math

import streamlit as st

from . import registry as R

#: URL parameters every page understands besides its own settings.
GLOBAL_PARAMS = ("presenter",)


def presenter() -> bool:
    """Lecture mode: large fonts, fewer controls, 'what to notice' notes."""
    return bool(st.session_state.get("presenter", False))


def _ensure_app_navigation():
    """Run pages through app.py's `st.navigation`, never Streamlit's legacy pages/ discovery.

    Streamlit decides at server start that an app with a `pages/` folder is a v1 multipage app;
    until app.py has called st.navigation once, a first visit to e.g. /kernel runs
    pages/kernel.py alone (no titles, icons, page config). No public API turns this off, so the
    private flag is flipped and the script rerun through app.py; tests/app/test_streamlit_hooks.py
    fails if this Streamlit version no longer has the flag.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # pragma: no cover - other streamlit versions
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()


def presenter_toggle():
    """Sidebar toggle, rendered once by every page; ?presenter=1 in the URL turns it on."""
    _ensure_app_navigation()
    q = st.query_params.get("presenter")
    if q is not None and st.session_state.get("_presenter_url") != q:
        st.session_state["presenter"] = q in ("1", "true", "True")
    st.session_state["_presenter_url"] = q
    if "presenter" not in st.session_state:
        st.session_state["presenter"] = False
    st.sidebar.toggle("Presenter mode", key="presenter",
                      help="Large fonts and thick lines, fewer controls, step-through animations "
                           "and a 'what to notice' note under each figure.")


def _encode(v) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (list, tuple)):
        return ",".join(_encode(u) for u in v)
    if isinstance(v, float):
        return repr(float(v))
    return str(v)


def _short(raw: str, n: int = 40) -> str:
    """A URL value quoted for a message, cut to `n` characters."""
    return repr(raw[:n] + "…" if len(raw) > n else raw)


def _number(s: str) -> float:
    try:
        return float(s)
    except ValueError:
        raise ValueError(f"{_short(s.strip(), 20)} is not a number") from None


def _decode(s: str, default):
    if isinstance(default, bool):
        if s.lower() in ("1", "true", "yes", "on"):
            return True
        if s.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError("expected 1 or 0")
    if isinstance(default, int):
        f = _number(s)
        if not math.isfinite(f):
            raise ValueError(f"{s.strip()[:20]!r} is not a finite whole number")
        if not f.is_integer():
            raise ValueError(f"{_short(s.strip(), 20)} is not a whole number")
        return int(f)
    if isinstance(default, float):
        f = _number(s)
        if math.isinf(f):
            raise ValueError(f"{s.strip()[:20]!r} is not a finite number")
        return f
    if isinstance(default, (list, tuple)):
        if s.strip() == "":
            return []
        elem = default[0] if len(default) else 0
        return [_decode(u.strip(), elem) for u in s.split(",")]
    return s


class PageState:
    """A page's configuration: defaults, validation, session state and the URL, in one place."""

    def __init__(self, page: str, defaults: Mapping[str, Any],
                 options: Optional[Mapping[str, list]] = None,
                 ranges: Optional[Mapping[str, tuple]] = None, record: Optional[R.PageRecord] = None):
        self.page = page
        self.defaults = dict(defaults)
        self.options = dict(options or {})
        self.ranges = dict(ranges or {})
        self.record = record
        self.errors: list[str] = []
        presenter_toggle()
        self._load()

    @classmethod
    def of(cls, page: str) -> "PageState":
        """The state of registered page `page`: its record's defaults, options and bounds."""
        rec = R.get(page)
        return cls(page, rec.default_config(), rec.options(), rec.ranges(), record=rec)

    def key(self, name: str) -> str:
        return f"{self.page}__{name}"

    def _check(self, name, v):
        """`v` if valid; numbers outside the widget's range are clamped (the message says so),
        anything else raises ValueError with what is allowed."""
        if isinstance(v, float) and v != v:
            raise ValueError("NaN is not a valid number")
        if isinstance(v, list):
            v = list(dict.fromkeys(v))  # duplicates once
            if len(v) > 64:
                raise ValueError(f"{len(v)} values are too many")
        opts = self.options.get(name)
        vals = v if isinstance(v, list) else [v]
        if opts is not None:
            bad = [u for u in vals if u not in opts]
            if bad or (isinstance(v, list) and not v):
                shown = opts if len(opts) <= 12 else opts[:12] + ["…"]
                raise ValueError(f"{str(bad[0])[:40] if bad else '(empty)'} is not one of the "
                                 f"available values {shown}")
        rng = self.ranges.get(name)
        if rng is not None:
            lo, hi = rng
            clamped = [min(max(u, lo), hi) for u in vals]
            if clamped != vals:
                fixed = clamped if isinstance(v, list) else clamped[0]
                fixed = type(v)(fixed) if not isinstance(v, list) else fixed
                self.errors.append(f"URL parameter {name}={_short(_encode(v))} is outside the allowed "
                                   f"range [{lo}, {hi}]; using {name}={_encode(fixed)}.")
                return fixed
        return v

    def _from_url(self, name, raw, default):
        try:
            if len(raw) > 200:
                raise ValueError(f"a value of {len(raw)} characters is too long")
            return self._check(name, _decode(raw, default))
        except (ValueError, TypeError, OverflowError) as e:
            self.errors.append(f"URL parameter {name}={_short(raw)} ignored: {e}. Using "
                               f"{name}={_encode(default)!r}; change it with the controls.")
            return default

    def _load(self):
        ss = st.session_state
        qp = {k: st.query_params.get(k) for k in st.query_params.keys() if k in self.defaults}
        unknown = [k for k in st.query_params.keys() if k not in self.defaults
                   and k not in GLOBAL_PARAMS]
        if unknown and st.session_state.get(f"_unknown_{self.page}") != unknown:
            names = ", ".join(_short(k, 30) for k in unknown[:5]) + (" …" if len(unknown) > 5 else "")
            self.errors.append(f"URL parameter(s) {names} ignored: this page has no such setting. "
                               f"Its settings: {', '.join(self.defaults)}.")
        st.session_state[f"_unknown_{self.page}"] = unknown
        saved = ss.get(f"_saved_{self.page}", {})
        from_url = bool(qp) and qp != ss.get(f"_url_{self.page}")
        for name, default in self.defaults.items():
            k = self.key(name)
            if from_url and name in qp:
                v = self._from_url(name, qp[name], default)
                ss[k] = list(v) if isinstance(default, (list, tuple)) else v
            elif from_url or k not in ss:
                v = saved.get(name, default) if not from_url else default
                ss[k] = list(v) if isinstance(v, (list, tuple)) else v

    def values(self) -> dict:
        return {n: st.session_state.get(self.key(n), d) for n, d in self.defaults.items()}

    def sync(self) -> dict:
        """Write the current values to the URL (only the non-default ones) and return them."""
        vals = self.values()
        enc = {n: _encode(v) for n, v in vals.items() if _encode(v) != _encode(self.defaults[n])}
        if presenter():
            enc["presenter"] = "1"
        cur = {k: st.query_params.get(k) for k in st.query_params.keys()}
        if cur != enc:
            st.query_params.from_dict(enc)
        st.session_state[f"_url_{self.page}"] = {k: v for k, v in enc.items() if k in self.defaults}
        st.session_state[f"_saved_{self.page}"] = vals
        for e in self.errors:
            st.warning(e)
        return vals

    def widget(self, name: str, container=None, **kw):
        """Render the record's widget for `name` (bounds, options, step, help from the record)."""
        w = self.record.widget(name)
        c = container or st.sidebar
        fn = getattr(c, w.kind)
        if w.help is not None:
            kw.setdefault("help", w.help)
        if w.step is not None:
            kw.setdefault("step", w.step)
        if w.kind == "radio":
            kw.setdefault("horizontal", True)
        args = w.bounds if w.bounds is not None else (w.options,)
        return fn(w.label, *args, key=self.key(name), **kw)

    def widgets(self, *names, container=None):
        for n in names:
            self.widget(n, container)

    def architecture(self, container=None):
        """Depth, activation (+ leaky alpha), W_std, b_std (and parameterization, if the page has
        it) widgets."""
        self.widgets("depth", "activation", container=container)
        if self.values()["activation"] == "leaky_relu":
            self.widget("alpha", container)
        self.widgets("W_std", "b_std", container=container)
        if "parameterization" in self.defaults:
            self.widget("parameterization", container)


__all__ = ["PageState", "presenter", "presenter_toggle"]
