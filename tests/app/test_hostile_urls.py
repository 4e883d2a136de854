"""Hostile URL parameters on every page (issues 15, 16): negative, zero, non-numeric, huge, NaN,
unknown names, very long strings. Each page still renders, says what it did with the value
(clamped or ignored), shows no exception and no "nan" in any metric, and no raw LaTeX in its text.

The pages come from `registry.pages()`, so a page added to the registry is swept too.
"""
import math

import pytest

from _apphelpers import run_page
from _figstyle import page_text_problems
from ntk.app import cost as C
from ntk.app import registry as R

CASES = {
    "negative": "-5",
    "zero": "0",
    "text": "abc",
    "huge": "1e308",
    "nan": "nan",
    "long": "9" * 5000,
}


@pytest.fixture(autouse=True)
def ask_before_long_computations(monkeypatch):
    """As in the app, with a lower threshold (3 s instead of 20 s): clamped huge values (e.g. 5000
    steps on 512 points) ask before computing; what a confirmed computation shows is tested by each
    page's own tests, this sweep tests what the page says about the values."""
    monkeypatch.setattr(C, "CONFIRM_SECONDS", 3.0)


def _query(page: str, value: str) -> dict:
    rec = R.get(page)
    names = list(rec.defaults) or ["preset", "fast"]
    return {**{n: value for n in names}, "bogus_param": "1"}


def _page_names():
    return [r.name for r in R.pages() if r.name != "home"]


def _no_nan_metrics(at):
    for m in at.metric:
        assert "nan" not in str(m.value).lower(), (m.label, m.value)
        v = str(m.value).replace("−", "-")
        try:
            assert math.isfinite(float(v)), (m.label, m.value)
        except ValueError:
            pass  # not a plain number ("0.1 / 0.2", "1.0 MiB", "—")


def _texts(at):
    out = [m.value for m in at.markdown] + [c.value for c in at.caption]
    out += [w.value for w in at.warning] + [e.value for e in at.error] + [i.value for i in at.info]
    out += [m.label for m in at.metric]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("page", _page_names())
def test_hostile_url_values(page, case):
    at = run_page(page, _query(page, CASES[case]))
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, "the page did not render"
    said = " ".join(w.value for w in at.warning) + " ".join(e.value for e in at.error)
    assert "URL parameter" in said, said  # every case here is a bad value or an unknown name
    assert "bogus_param" in said
    assert len(said) < 20_000  # long values are cut in the messages
    _no_nan_metrics(at)
    assert not page_text_problems(_texts(at))


def test_clamped_values_are_used_and_reported():
    at = run_page("kernel", {"n": "-7", "seed": "1e9", "width": "64", "circle_seeds": "1"})
    assert not at.exception
    msgs = " ".join(w.value for w in at.warning)
    assert "n='-7' is outside the allowed range [4, 2000]; using n=4" in msgs
    assert "seed='1000000000' is outside the allowed range [0, 10000]; using seed=10000" in msgs
    assert at.number_input(key="kernel__n").value == 4
    assert at.number_input(key="kernel__seed").value == 10000
    assert not at.error


def test_duplicate_and_unknown_list_values():
    at = run_page("training", {"widths": "16,16,abc", "steps": "50", "n_train": "4"})
    assert not at.exception
    assert any("abc" in w.value and "widths" in w.value for w in at.warning)
    at = run_page("training", {"widths": "16,16", "steps": "50", "n_train": "4"})
    assert not at.exception and not at.error
    assert at.multiselect(key="training__widths").value == [16]
