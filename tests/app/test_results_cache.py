"""The app's on-disk results cache: a later server process reuses a result only when the same
configuration was computed by the same code; otherwise it recomputes."""
import numpy as np
import pytest

from ntk import plots as P
from ntk import ui

SMALL = dict(width=16, n_train=4, steps=3, n_modes=2)


@pytest.fixture
def disk(tmp_path, monkeypatch):
    monkeypatch.setenv("NTK_RESULTS_CACHE", str(tmp_path))
    _new_process()
    return tmp_path


def _new_process():
    """Forget the in-memory results, as a restarted server would."""
    store, lock, _ = ui._store()
    with lock:
        store.clear()


def _counting(monkeypatch, name="spectrum_data"):
    calls = []
    real = getattr(P, name)

    def fn(**kw):
        calls.append(kw)
        return real(**kw)

    monkeypatch.setattr(P, name, fn)
    return calls


def test_restarted_server_reuses_the_stored_result(disk, monkeypatch):
    calls = _counting(monkeypatch)
    first = ui.cached_result("spectrum_data", SMALL)
    assert len(calls) == 1 and len(list(disk.glob("*.pkl"))) == 1
    _new_process()
    again = ui.cached_result("spectrum_data", SMALL)
    assert len(calls) == 1  # read from disk, not recomputed
    assert again.keys() == first.keys()
    for k, v in first.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(again[k], v)
        else:
            assert again[k] == v or (v != v and again[k] != again[k])
    # another configuration is computed
    ui.cached_result("spectrum_data", dict(SMALL, steps=4))
    assert len(calls) == 2 and len(list(disk.glob("*.pkl"))) == 2


def test_changed_code_or_corrupt_file_recomputes(disk, monkeypatch):
    calls = _counting(monkeypatch)
    ui.cached_result("spectrum_data", SMALL)
    _new_process()
    monkeypatch.setattr(ui, "_code_fingerprint", lambda: "other source code")
    ui.cached_result("spectrum_data", SMALL)
    assert len(calls) == 2  # a new code version never reads an old result
    for f in disk.glob("*.pkl"):
        f.write_bytes(b"not a pickle")
    _new_process()
    d = ui.cached_result("spectrum_data", SMALL)
    assert len(calls) == 3 and d["eigvals"].shape == (4,)


def test_off_and_pruned(tmp_path, monkeypatch):
    monkeypatch.setenv("NTK_RESULTS_CACHE", "0")
    _new_process()
    ui.cached_result("spectrum_data", SMALL)
    assert ui._results_dir() is None and not list(tmp_path.iterdir())
    monkeypatch.setenv("NTK_RESULTS_CACHE", str(tmp_path))
    monkeypatch.setattr(ui, "_DISK_ENTRIES", 2)
    for steps in (4, 5, 6):
        ui.cached_result("spectrum_data", dict(SMALL, steps=steps))
    assert len(list(tmp_path.glob("*.pkl"))) == 2
