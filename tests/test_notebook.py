"""notebooks/tour.ipynb executes top to bottom without errors (nbclient, this interpreter)."""
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "tour.ipynb"


def _outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def test_tour_notebook_runs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # Kernel "python3": jupyter_client maps a kernelspec argv of `python` to sys.executable, so
    # the kernel runs in this (the project's) interpreter; the last cell checks that.
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print('KERNEL-EXE', sys.executable)"))
    client = NotebookClient(nb, kernel_name="python3", timeout=240,
                            resources={"metadata": {"path": str(ROOT)}})
    t0 = time.time()
    try:
        client.execute()
    except CellExecutionError as e:  # pragma: no cover - failure path
        pytest.fail(f"notebook cell failed:\n{e}")
    elapsed = time.time() - t0
    outs = _outputs(nb)
    assert not [o for o in outs if o.get("output_type") == "error"]
    exe = nb.cells[-1].outputs[0]["text"].split("KERNEL-EXE", 1)[1].strip()
    assert Path(exe).resolve() == Path(sys.executable).resolve()
    # Figures are displayed inline.
    assert len([o for o in outs if o.get("output_type") == "display_data"]) >= 5
    assert "PresetResult('nt_cookbook'" in str(nb.cells[-3].outputs)
    assert elapsed < 150, f"notebook took {elapsed:.0f} s (target: < 60 s on an idle machine)"
