"""AppTest of the Architectures page and of the architecture switch on the kernel, convergence,
training and spectrum pages: no exception, finite numbers, every figure present; bad URL values
are clamped or reported; costly choices are refused with an estimate.

Small configurations come through the URL; each page switches through the three convolutional
architectures in one session (the same path as a user changing the selectbox).
"""
import math

import numpy as np
import pytest

from ntk.app import registry

from _apphelpers import as_array, assert_clean, charts, run_page

SMALL_ARCH = {"n_train": "20", "n_test": "20", "widths": "4,8", "n_seeds": "1", "depth": "1"}
SMALL = {"kernel": {"width": "16", "n": "6", "circle_seeds": "1"},
         "convergence": {"w_min": "8", "w_max": "32", "n_widths": "2", "n_seeds": "2", "n": "4"},
         "training": {"widths": "8", "steps": "50", "n_train": "4", "dataset": "circle"},
         "spectrum": {"width": "8", "n_train": "6", "steps": "20"}}
CHARTS = {"kernel": 3, "convergence": 1, "training": 4, "spectrum": 1}


def _percent(v: str) -> float:
    return float(v.split("%")[0])


def test_architectures_page_small():
    at = run_page("architectures", SMALL_ARCH)
    assert_clean(at)
    figs = charts(at)
    assert len(figs) == 4  # heatmaps, accuracy, spectra, convergence
    heat, acc, spec, conv = figs
    assert len(heat["data"]) == 4 and all(as_array(t["z"]).shape == (20, 20) for t in heat["data"])
    bars = as_array(acc["data"][0]["y"])  # NTK accuracies (%), one bar per architecture
    shown = [_percent(m.value) for m in at.metric]
    assert len(shown) == 4 and np.allclose(np.round(bars), shown)
    assert all(0 <= b <= 100 for b in bars)
    assert all(np.all(np.isfinite(as_array(t["y"]))) for t in spec["data"])
    slopes = [t["name"] for t in conv["data"] if "slope" in (t.get("name") or "")]
    assert len(slopes) == 5 and all(math.isfinite(float(s.split("slope ")[1].split(" ")[0])) for s in slopes[:4])
    assert at.info and "Test accuracy of the NTK" in at.info[0].value
    at.multiselect(key="architectures__architectures").set_value(["mlp", "cnn_pool"]).run()
    assert_clean(at)
    assert len(charts(at)[0]["data"]) == 2


def test_architectures_page_bad_url_values_warn():
    bad = {"max_shift": "99", "architectures": "vgg,mlp", "widths": "abc", "W_std": "nan",
           "n_test": "1e9", "n_seeds": "-3", "activation": "x" * 500}
    at = run_page("architectures", {**SMALL_ARCH, **bad})
    assert not at.exception
    for name in bad:
        assert any(f"URL parameter {name}=" in w.value for w in at.warning), name
    assert len(charts(at)) == 4  # bad values clamped to their bounds or set to defaults
    hi = registry.get("architectures").widget("max_shift").bounds[1]
    assert at.slider(key="architectures__max_shift").value == hi  # 99 is clamped to the bound


def test_architectures_page_refuses_costly_choices():
    at = run_page("architectures", {**SMALL_ARCH, "n_train": "1000", "n_test": "1000"})
    assert not at.exception
    assert at.error and "GFLOP" in at.error[0].value and "s on two CPU cores" in at.error[0].value
    assert not charts(at)


@pytest.mark.slow
@pytest.mark.parametrize("page", ["kernel", "convergence", "training", "spectrum"])
def test_each_architecture_on_each_page(page):
    at = run_page(page, SMALL[page])
    assert_clean(at)
    box = at.selectbox(key=f"{page}__architecture")
    assert box.value == "mlp"
    for arch in ("cnn", "cnn_pool", "resnet"):
        box.set_value(arch).run()
        assert_clean(at)
        assert at.query_params["architecture"] in (arch, [arch])
        figs = charts(at)
        assert len(figs) == CHARTS[page], (page, arch)
        for f in figs:
            for t in f["data"]:
                for k in ("y", "z"):
                    if isinstance(t.get(k), (dict, list)) and t.get(k):
                        v = as_array(t[k])
                        assert np.any(np.isfinite(v)), (page, arch, k)
        for m in at.metric:
            nums = [float(s) for s in m.value.replace("/", " ").replace("%", " ").split()
                    if s.replace(".", "", 1).replace("-", "", 1).replace("e", "", 1).isdigit()]
            assert all(math.isfinite(v) for v in nums), (page, arch, m.value)
        box = at.selectbox(key=f"{page}__architecture")


def test_architecture_url_values_are_checked_and_reconciled():
    at = run_page("kernel", {**SMALL["kernel"], "architecture": "vgg"})
    assert not at.exception
    assert any("architecture" in w.value for w in at.warning)
    assert at.selectbox(key="kernel__architecture").value == "mlp"
    # a dataset without images is replaced for a CNN, with a note
    at = run_page("kernel", {**SMALL["kernel"], "architecture": "cnn", "dataset": "moons"})
    assert_clean(at)
    assert any("replaced by 'circle'" in w.value for w in at.warning)
    assert at.selectbox(key="kernel__dataset").value == "circle"
    assert len(charts(at)) == 3


def test_switching_to_a_cnn_lowers_costly_widths_and_refuses_larger_ones():
    at = run_page("convergence", {"w_min": "8", "w_max": "2048", "n_widths": "2", "n_seeds": "1",
                                  "n": "4", "depth": "1"})
    assert_clean(at)
    at.selectbox(key="convergence__architecture").set_value("cnn").run()
    assert not at.exception
    assert at.number_input(key="convergence__w_max").value == 512
    assert any("lowered to 512" in w.value for w in at.warning)
    at = run_page("kernel", {"architecture": "cnn_pool", "width": "16", "n": "2000", "circle_seeds": "1"})
    assert not at.exception
    assert at.error and "GFLOP" in at.error[0].value and "fewer points" in at.error[0].value
    assert not charts(at)
