"""The app at the edges (issue 16): degenerate choices explained, divergence as a message (never
"nan" metrics or empty panels), memory messages for the app user, estimates and a confirm button
before long computations."""
import re

from _apphelpers import charts, run_page

from ntk.app import cost as C
from ntk.app import registry as R

SMALL_LAZY = {"w_min": "16", "w_max": "64", "n_widths": "3", "n_seeds": "1", "steps": "20",
              "narrow": "16", "wide": "64"}


def _all_text(at):
    return " ".join([w.value for w in at.warning] + [e.value for e in at.error]
                    + [i.value for i in at.info] + [str(m.value) for m in at.metric])


def test_convergence_one_width_is_explained_not_nan():
    at = run_page("convergence", {"w_min": "64", "w_max": "64"})
    assert not at.exception
    assert at.error and "two different widths" in at.error[0].value
    assert not at.metric and not charts(at)


def test_lazy_far_above_the_stable_rate_says_it_diverged():
    at = run_page("lazy", {**SMALL_LAZY, "lr_fraction": "5.0"})
    assert not at.exception
    assert at.error and "diverged at every width" in at.error[0].value
    assert "Lower the learning rate" in at.error[0].value
    assert "nan" not in _all_text(at).lower()
    assert not charts(at)  # no empty panels


def test_memory_message_is_for_the_app_user():
    at = run_page("kernel", {"width": "8192", "n": "2000", "circle_seeds": "1"})
    assert not at.exception
    msg = at.error[0].value
    assert "memory" in msg and "Lower the number of points or the width" in msg
    assert "batch_size" not in msg and "memory_budget" not in msg
    # need and budget printed with enough digits to differ
    assert re.search(r"about 1\.\d\d GiB", msg) and "(1 GiB)" in msg, msg
    assert not charts(at)


def test_long_computations_ask_first(monkeypatch):
    monkeypatch.setattr(C, "CONFIRM_SECONDS", 20.0)
    rec = R.get("training")
    cfg = {**rec.default_config(), "widths": list(R.WIDTH_OPTIONS)}
    est = C.estimate("training_data", rec.compute_args(cfg))
    assert est.seconds > C.CONFIRM_SECONDS
    at = run_page("training", {"widths": ",".join(map(str, R.WIDTH_OPTIONS))})
    assert not at.exception and not charts(at)
    assert at.warning and "This will take about" in at.warning[0].value
    assert "lower the widths" in at.warning[0].value
    button = [b for b in at.button if b.key and b.key.startswith("confirm_")]
    assert len(button) == 1 and button[0].label.startswith("Compute (about")
    at = run_page("spectrum", {"width": "8192", "n_train": "512"})
    assert not at.exception and not charts(at)
    assert [b for b in at.button if b.key and b.key.startswith("confirm_")]


def test_confirm_button_computes(monkeypatch):
    """Pressing the button computes (here a cheap configuration made to look long)."""
    monkeypatch.setattr(C, "CONFIRM_SECONDS", 0.0)
    at = run_page("spectrum", {"n_train": "8", "steps": "20", "width": "64"})
    assert not at.exception and not charts(at)
    [b for b in at.button if b.key and b.key.startswith("confirm_")][0].click().run()
    assert not at.exception and not at.error
    assert len(charts(at)) == 1


def test_estimate_tracks_the_cost():
    """More work, a larger estimate; the page defaults need no confirmation."""
    sp = C.Speed(flops=1e10, bandwidth=5e9, normals=5e7)
    for rec in R.pages():
        if rec.data_fn in C.MODELS:
            c = C.estimate(rec.data_fn, rec.compute_args(rec.default_config()), sp)
            assert 0 < c.seconds < 20.0, rec.name
    spec = R.get("spectrum").default_config()
    small = C.estimate("spectrum_data", spec, sp).seconds
    assert C.estimate("spectrum_data", {**spec, "width": 2048}, sp).seconds > 4 * small
    assert C.estimate("spectrum_data", {**spec, "steps": 3000}, sp).seconds > 3 * small
    assert C.format_bytes(1.02 * 1024**3) == "1.02 GiB" and C.format_seconds(150) == "about 2.5 min"
    assert C.eta(1, 4, 10.0) == 30.0 and C.eta(0, 4, 1.0) is None
