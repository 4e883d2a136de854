"""HTML report and the command line (python -m ntk)."""
import subprocess
import sys

import numpy as np
import plotly.graph_objects as go
import pytest

from ntk import __main__ as cli
from ntk import presets, report


def _fake_result():
    figs = {"a": go.Figure(go.Scatter(x=[0, 1], y=[1, 2])),
            "b": go.Figure(go.Scatter(x=[0, 1], y=[2, 1]))}
    return presets.PresetResult("demo", "Demo <preset>", figs, {"x": 0.125, "y": 3.0},
                                "Original: a & b.", {"widths": (1, 2), "arr": np.arange(2)},
                                {"x": "the x"}, {}, 1.5)


def test_render_html_self_contained(tmp_path):
    path = report.write_report(_fake_result(), tmp_path / "r.html")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("plotly.js v") == 1           # the library is embedded exactly once
    assert text.count("Plotly.newPlot") == 2        # one call per figure
    assert "Demo &lt;preset&gt;" in text and "Original: a &amp; b." in text
    assert "0.125" in text and "the x" in text
    for key in ("python", "jax", "ntk", "numpy"):
        assert f"<th>{key}</th>" in text
    assert '"widths": [' in text and "<script src=" not in text  # no network needed


def test_versions():
    v = report.versions()
    assert v["ntk"] and v["jax"] and v["python"].count(".") == 2


@pytest.mark.parametrize("bad", ["dir", "missing"])
def test_check_writable(tmp_path, bad):
    target = tmp_path if bad == "dir" else tmp_path / "no" / "r.html"
    with pytest.raises(ValueError, match="directory"):
        report.check_writable(target)


def _run(*args):
    return subprocess.run([sys.executable, "-m", "ntk", *args], capture_output=True, text=True,
                          timeout=300)


def test_cli_presets_lists_all():
    p = _run("presets")
    assert p.returncode == 0
    for name in presets.PRESETS:
        assert name in p.stdout


@pytest.mark.parametrize("args, msg", [
    (["report", "--preset", "nope", "--out", "x.html"], "unknown preset 'nope'"),
    (["report", "--preset", "jacot_fig1", "--out", "/nonexistent-dir/r.html"], "does not exist"),
    (["report", "--preset", "jacot_fig1"], "required: --out"),
    (["report", "--preset", "jacot_fig1", "--out", "r.html", "--param", "foo=1"],
     "no parameter 'foo'"),
    (["report", "--preset", "jacot_fig1", "--out", "r.html", "--param", "widths"], "KEY=VALUE"),
    (["bogus"], "invalid choice"),
])
def test_cli_usage_errors_in_process(capsys, args, msg):
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_errors_subprocess(tmp_path):
    for args in (["report", "--preset", "nope", "--out", str(tmp_path / "r.html")],
                 ["report", "--preset", "jacot_fig1", "--out", str(tmp_path)]):
        p = _run(*args)
        assert p.returncode == 2
        assert "Traceback" not in p.stderr and p.stderr.strip().count("\n") == 0
        assert p.stderr.startswith("ntk: error:")


def test_cli_report_end_to_end(tmp_path):
    out = tmp_path / "report.html"
    p = _run("report", "--preset", "jacot_fig1", "--fast", "--param", "widths=16,64",
             "--param", "n_angles=11", "--param", "train_time=5.0", "--out", str(out))
    assert p.returncode == 0, p.stderr
    text = out.read_text(encoding="utf-8")
    assert text.count("plotly.js v") == 1 and "dev_init_w64" in text
    assert "wrote" in p.stdout and "dev_init_w16 =" in p.stdout
    assert "100%" in p.stderr  # tqdm progress bar on the terminal
