"""The library's layout (issue 14): one cache registry, one definition per metric, degenerate
sweeps rejected, one progress convention, and `import ntk` / `ntk.figures` without streamlit."""
import ast
import importlib
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import ntk
from ntk import _cache
from ntk.analysis import metrics, progress

ROOT = Path(__file__).resolve().parents[1]


def _module_level_lru_caches():
    """(module, function) of every module-level @functools.lru_cache / @lru_cache / @cached in
    ntk/ (a grep of the sources, independent of the registry's own scan)."""
    out = []
    for path in sorted((ROOT / "ntk").rglob("*.py")):
        mod = ".".join(path.relative_to(ROOT).with_suffix("").parts).replace(".__init__", "")
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef):
                for dec in node.decorator_list:
                    src = ast.unparse(dec)
                    if "lru_cache" in src or src.startswith("cached("):
                        out.append((mod, node.name))
    return out


def test_clear_caches_reaches_every_module_level_lru_cache():
    found = _module_level_lru_caches()
    assert len(found) >= 12, found  # kernels, nets, dynamics, views, ensemble, app
    for mod, name in found:
        if mod.startswith("ntk.app") or mod == "ntk.ui":
            continue  # streamlit side: covered in tests/app
        importlib.import_module(mod)
    names = set(_cache.registered())
    missing = [f"{m}.{n}" for m, n in found if not (m.startswith("ntk.app") or m == "ntk.ui")
               and f"{m}.{n}" not in names]
    assert not missing, missing
    # A cached function really is emptied.
    from ntk.analysis.views import make_net

    a = make_net(16, 2, "erf")
    assert make_net(16, 2, "erf") is a
    assert ntk.clear_caches() >= len(found) - 4
    assert make_net(16, 2, "erf") is not a


def test_explicit_registration():
    calls = []
    _cache.register(lambda: calls.append(1), "test.fake")
    try:
        ntk.clear_caches()
        assert calls == [1] and "test.fake" in _cache.registered()
    finally:
        _cache._REGISTERED.pop("test.fake")


def test_import_ntk_and_figures_never_import_streamlit():
    code = ("import sys, ntk, ntk.figures, ntk.analysis, ntk.analysis.presets, ntk.plots, "
            "ntk.presets, ntk.export, ntk.report, ntk.app.registry; "
            "print('streamlit' in sys.modules, ntk.clear_caches() > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]


def test_lin_gap_one_definition():
    rng = np.random.default_rng(0)
    f, fl = rng.normal(size=(5, 7)), rng.normal(size=(5, 7))
    curve = metrics.lin_gap_curve(f, fl)
    # gap_t = RMS(f_t - fl_t) / RMS(fl_T), written out
    want = np.sqrt(((f - fl) ** 2).mean(1)) / np.sqrt((fl[-1] ** 2).mean())
    np.testing.assert_allclose(curve, want, rtol=1e-13)
    assert curve[-1] == pytest.approx(metrics.lin_gap(f[-1], fl[-1]), rel=1e-13)
    assert metrics.lin_gap(np.ones(3), np.ones(3)) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        metrics.lin_gap_curve(f, fl[:, :3])


def test_weight_and_kernel_change_match_training_records():
    ds = ntk.data.unit_circle(6, 8, seed=0, dtype=np.float64)
    net = ntk.mlp([32, 32], 1, "erf", 1.5, 0.05)
    p0 = net.init(jax.random.PRNGKey(0), 2, dtype=ds.x_train.dtype)
    res = ntk.train(net, p0, ds.x_train, ds.y_train, ds.x_test, learning_rate=0.5, steps=20,
                    record_steps=[20], track_kernel=True, check_stability=False)
    assert metrics.weight_change(res.params, p0) == pytest.approx(res.weight_change[-1], rel=1e-9)
    k0, kT = (ntk.empirical_ntk(net, p, ds.x_train) for p in (p0, res.params))
    assert metrics.kernel_change(kT, k0) == pytest.approx(res.kernel_change[-1], rel=1e-6)
    assert metrics.lin_gap(res.f_test[-1], res.lin_f_test[-1]) > 0


def test_degenerate_sweeps_are_rejected():
    x = np.ones((3, 2))
    with pytest.raises(ValueError, match="duplicates \\[8\\]"):
        ntk.width_sweep([8, 16, 8], x_train=x, metrics=("kernel_error",))
    with pytest.raises(ValueError, match="at least 2 widths.*fit=False"):
        ntk.width_sweep([8], x_train=x, metrics=("kernel_error",))
    r = ntk.width_sweep([8], seeds=[0], x_train=x + np.arange(3)[:, None], metrics=("kernel_error",),
                        fit=False)
    assert r.fits == {} and len(r.records) == 1 and np.isfinite(r.records[0]["kernel_error"])
    with pytest.raises(ValueError, match="different widths"):
        ntk.analysis.log_widths(32, 32, 4)


def test_progress_convention():
    seen = []
    p3 = progress.as_progress(lambda d, t, label: seen.append((d, t, label)))
    p2 = progress.as_progress(lambda d, t: seen.append((d, t)))
    p3(1, 2, "a")
    p2(2, 2, "b")
    progress.as_progress(None)(1, 1, "ignored")
    assert seen == [(1, 2, "a"), (2, 2)]
    tr = progress.Tracker(lambda d, t, label: seen.append((d, t, label)), 3)
    tr("x", 2)
    tr.at(3, "y")
    assert seen[-2:] == [(2, 3, "x"), (3, 3, "y")]
    calls = []
    ds = ntk.data.unit_circle(4, 4, seed=0)
    ntk.width_sweep([8, 16], seeds=[0], x_train=ds.x_train, metrics=("kernel_error",),
                    progress=lambda d, t, label: calls.append((d, t, label)))
    assert calls == [(1, 2, "width 8, seed 0"), (2, 2, "width 16, seed 0")]
    # the kernels report (done, total, label) too; two-argument callbacks still work
    net, x = ntk.mlp(widths=[8], activation="relu"), ds.x_train
    for kernel in (lambda cb: ntk.infinite_kernel(net, x, batch_size=2, progress=cb),
                   lambda cb: ntk.empirical_ntk(net, net.init(jax.random.PRNGKey(0), 2), x, batch_size=2,
                                                progress=cb)):
        three, two = [], []
        kernel(lambda d, t, label: three.append((d, t, label)))
        kernel(lambda d, t: two.append((d, t)))
        assert three[-1] == (3, 3, "kernel blocks") and two[-1] == (3, 3), (three, two)


def test_compat_names_still_work():
    import ntk.experiments as E
    import ntk.plots as P
    import ntk.preset_plots as PP
    import ntk.presets as PR
    from ntk.analysis import views

    assert ntk.width_sweep is E.width_sweep and ntk.SweepResult is E.SweepResult
    assert ntk.kernel_error is metrics.kernel_error and ntk.fit_loglog_slope is E.fit_loglog_slope
    assert P.kernel_data is views.kernel_data and P.circle_figure is ntk.figures.circle_figure
    assert PP.kernel_on_circle is ntk.figures.kernel_on_circle
    assert PR.jacot_fig1 is ntk.analysis.presets.jacot_fig1 and PR.train_ensemble
    assert set(P.LAZY_LABELS) == {"weight_change", "kernel_change", "lin_gap"}


def _architecture_paths():
    """The `ntk/...py` paths docs/ARCHITECTURE.md names. In a table cell that starts with a path,
    bare `name.py` entries after it are siblings of that path (`ntk/figures/kernel.py`, `lazy.py`)."""
    import re

    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    paths = set(re.findall(r"`(ntk/[\w/]+\.py)`", text))
    for line in text.splitlines():
        cell = line.split("|")[1] if line.startswith("|") else ""
        first = re.search(r"`(ntk/[\w/]+)/\w+\.py`", cell)
        if first:
            paths |= {f"{first.group(1)}/{n}" for n in re.findall(r"`(\w+\.py)`", cell)}
    return paths


def test_architecture_doc_names_existing_modules_and_every_module():
    named = _architecture_paths()
    assert len(named) > 40, sorted(named)
    missing = sorted(p for p in named if not (ROOT / p).is_file())
    assert not missing, f"docs/ARCHITECTURE.md names modules that do not exist: {missing}"
    actual = {str(p.relative_to(ROOT)) for p in (ROOT / "ntk").rglob("*.py")}
    unlisted = sorted(actual - named)
    assert not unlisted, f"modules without a row in docs/ARCHITECTURE.md's layout: {unlisted}"


#: Functions allowed to be 60 lines or longer, with the reason (docs/ARCHITECTURE.md, "Function length").
LONG_FUNCTIONS: dict = {}


def test_functions_in_ntk_are_under_60_lines():
    long = []
    for path in sorted((ROOT / "ntk").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                name = f"{path.relative_to(ROOT)}:{node.name}"
                if n >= 60 and name not in LONG_FUNCTIONS:
                    long.append((name, n))
    assert not long, f"split these functions into named helpers (or list them with a reason): {long}"
