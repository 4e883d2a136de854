"""The app's on-disk results cache: a later server process reuses a result only when the same
configuration was computed by the same code; otherwise it recomputes."""
import numpy as np
import pytest

from ntk.analysis import views
from ntk.app import cache, prewarm
from ntk.app import registry as R

SMALL = dict(width=16, n_train=4, steps=3, n_modes=2)


@pytest.fixture
def disk(tmp_path, monkeypatch):
    monkeypatch.setenv("NTK_RESULTS_CACHE", str(tmp_path))
    _new_process()
    return tmp_path


def _new_process():
    """Forget the in-memory results, as a restarted server would."""
    cache.clear_store()


def _counting(monkeypatch, name="spectrum_data"):
    calls = []
    real = getattr(views, name)

    def fn(**kw):
        calls.append(kw)
        return real(**kw)

    monkeypatch.setattr(views, name, fn)
    return calls


def test_restarted_server_reuses_the_stored_result(disk, monkeypatch):
    calls = _counting(monkeypatch)
    first = cache.cached_result("spectrum_data", SMALL)
    assert len(calls) == 1 and len(list(disk.glob("*.pkl"))) == 1
    _new_process()
    again = cache.cached_result("spectrum_data", SMALL)
    assert len(calls) == 1  # read from disk, not recomputed
    assert again.keys() == first.keys()
    for k, v in first.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(again[k], v)
        else:
            assert again[k] == v or (v != v and again[k] != again[k])
    # another configuration is computed
    cache.cached_result("spectrum_data", dict(SMALL, steps=4))
    assert len(calls) == 2 and len(list(disk.glob("*.pkl"))) == 2


def test_changed_code_or_corrupt_file_recomputes(disk, monkeypatch):
    calls = _counting(monkeypatch)
    cache.cached_result("spectrum_data", SMALL)
    _new_process()
    monkeypatch.setattr(cache, "code_fingerprint", lambda: "other source code")
    cache.cached_result("spectrum_data", SMALL)
    assert len(calls) == 2  # a new code version never reads an old result
    for f in disk.glob("*.pkl"):
        f.write_bytes(b"not a pickle")
    _new_process()
    d = cache.cached_result("spectrum_data", SMALL)
    assert len(calls) == 3 and d["eigvals"].shape == (4,)


def test_off_and_pruned(tmp_path, monkeypatch):
    monkeypatch.setenv("NTK_RESULTS_CACHE", "0")
    _new_process()
    cache.cached_result("spectrum_data", SMALL)
    assert cache.results_dir() is None and not list(tmp_path.iterdir())
    monkeypatch.setenv("NTK_RESULTS_CACHE", str(tmp_path))
    monkeypatch.setattr(cache, "_DISK_ENTRIES", 2)
    for steps in (4, 5, 6):
        cache.cached_result("spectrum_data", dict(SMALL, steps=steps))
    assert len(list(tmp_path.glob("*.pkl"))) == 2


def test_warm_app_fills_the_cache_a_new_server_reads(disk, monkeypatch, capsys):
    """`python -m ntk warm-app` (run by `make run`) stores each page's default result; a server
    started afterwards answers the default view from disk without computing."""
    from ntk import __main__ as cli

    monkeypatch.setenv("NTK_JAX_CACHE", "0")  # leave this process's compilation cache alone
    monkeypatch.setattr(R, "prewarm_pages", lambda: ("spectrum",))
    calls = _counting(monkeypatch)
    assert cli.main(["warm-app"]) == 0
    out = capsys.readouterr().out
    assert "1/1 spectrum" in out and str(disk) in out
    assert len(calls) == 1 and len(list(disk.glob("*.pkl"))) == 1
    _new_process()
    rec = R.get("spectrum")
    d = cache.cached_result("spectrum_data", rec.compute_args(rec.default_config()))
    assert len(calls) == 1  # the default view came from disk
    assert d["eigvals"].shape[0] == rec.defaults["n_train"]


def test_warm_app_failure_is_one_line_and_exit_1(monkeypatch, capsys):
    from ntk import __main__ as cli

    def boom(**kw):
        raise MemoryError("no memory left")

    monkeypatch.setattr(prewarm, "warm_caches", boom)
    assert cli.main(["warm-app"]) == 1
    err = capsys.readouterr().err
    assert "warm-up failed (MemoryError: no memory left)" in err and "Traceback" not in err
