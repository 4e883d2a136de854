"""The reference cross-checks' subprocess pipelines, started in the background at session start.

Each pipeline (our side in this env, then neural-tangents in .venv-ref) takes minutes of mostly
single-threaded work. Run from a test fixture, it blocked that xdist worker and every other
worker that reached a reference test, doing nothing; so the test session's first process (the
xdist controller, or the only process without xdist) starts them all in one background driver
when the run includes tests/reference, and the fixtures only wait for their part:

    python tests/reference/pipelines.py OUTDIR [PART ...]    # the driver: parts in order (default all)

Parts write ``OUTDIR/<part>.done`` or ``OUTDIR/<part>.failed`` (with the log); the fixtures find
OUTDIR in the environment variable NTK_REFERENCE_DIR (inherited by the xdist workers). Without it
(a fixture run outside such a session) `wait` runs the part itself, once per session.
"""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
REF_PY = ROOT / ".venv-ref" / "bin" / "python"
ENV = "NTK_REFERENCE_DIR"
TIMEOUT = 1500  # seconds per part


def _parts(d: pathlib.Path):
    """part name -> list of commands (run in order)."""
    main, ref = sys.executable, str(REF_PY)
    return {
        "nt": [[main, HERE / "make_cases.py", d], [ref, HERE / "nt_oracle.py", d / "cases.npz", d / "nt.npz"]],
        "predict": [[main, HERE / "predict_cases.py", d],
                    [ref, HERE / "predict_oracle.py", d / "predict_cases.npz", d / "predict_nt.npz"]],
        "selfcheck": [[ref, HERE / "oracle_selfcheck.py"]],
        "empirical": [[main, HERE / "empirical_cases.py", d / "empirical"],
                      [ref, HERE / "nt_empirical_oracle.py", d / "empirical" / "emp_cases.npz",
                       d / "empirical" / "emp_nt.npz"]],
        "stax": [[main, HERE / "stax_cases.py", d / "stax"],
                 [ref, HERE / "nt_stax_oracle.py", d / "stax" / "cases.npz", d / "stax" / "nt.npz"]],
    }


PARTS = ("nt", "predict", "selfcheck", "empirical", "stax")


def run_logged(cmd, log: list, timeout: float = TIMEOUT):
    """Run one command from the repository root; append its timing and output to `log`; raise
    RuntimeError (with the whole log) when it fails."""
    t0 = time.perf_counter()
    p = subprocess.run([str(c) for c in cmd], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    log.append(f"$ {' '.join(map(str, cmd))}  ({time.perf_counter() - t0:.1f}s, rc={p.returncode})\n"
               f"{p.stdout[-6000:]}{p.stderr[-4000:]}")
    if p.returncode != 0:
        raise RuntimeError("\n".join(log))


def load_npz(path) -> dict:
    """{name: array} of an .npz written by a pipeline."""
    import numpy as np

    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def run_part(d: pathlib.Path, part: str):
    """Run one part's commands; write <part>.done or <part>.failed, and <part>.log."""
    log = []
    try:
        for cmd in _parts(d)[part]:
            run_logged(cmd, log)
        (d / f"{part}.log").write_text("\n".join(log))
        (d / f"{part}.done").touch()
    except Exception as e:  # the waiting tests report it
        (d / f"{part}.log").write_text("\n".join(log))
        (d / f"{part}.failed").write_text(f"{type(e).__name__}: {e}\n" + "\n".join(log))


_FILES = {"test_against_nt.py": ("nt", "selfcheck"), "test_predict_against_nt.py": ("predict",),
          "test_empirical_against_nt.py": ("empirical",), "test_stax_against_nt.py": ("stax",)}


def wanted_parts(config) -> tuple:
    """The parts this pytest run needs: none unless it collects tests/reference (or a file in it)
    with a marker expression that may select the reference tests."""
    expr = config.getoption("markexpr") or ""
    if not REF_PY.exists() or "not reference" in expr or (expr and "reference" not in expr
                                                          and not expr.startswith("not ")):
        return ()
    ref = HERE.resolve()
    parts = set()
    for a in config.args or [str(ROOT / "tests")]:
        p = (pathlib.Path(config.invocation_params.dir) / str(a).split("::")[0]).resolve()
        if p == ref or p in ref.parents:
            parts.update(PARTS)
        elif ref in p.parents:
            parts.update(_FILES.get(p.name, ()))
    if "not slow" in expr:
        parts.discard("selfcheck")
    return tuple(q for q in PARTS if q in parts)


def start_in_background(config):
    """From the session's first process: start the driver once and export its folder."""
    parts = () if hasattr(config, "workerinput") or os.environ.get(ENV) else wanted_parts(config)
    if not parts:
        return None
    d = pathlib.Path(tempfile.mkdtemp(prefix="ntk-reference-"))
    (d / "parts.txt").write_text("\n".join(parts))
    os.environ[ENV] = str(d)
    _STARTED.append(d)
    with open(d / "driver.log", "w") as log:
        _DRIVER.append(subprocess.Popen([sys.executable, str(HERE / "pipelines.py"), str(d), *parts], cwd=ROOT,
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    return d


_DRIVER, _STARTED = [], []


def stop():
    """At the session's end: stop a driver still running (tests deselected or interrupted) and
    remove its folder unless a part failed (then its logs stay for inspection)."""
    import shutil
    import signal

    for proc in _DRIVER:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    _DRIVER.clear()
    for d in _STARTED:
        if not list(d.glob("*.failed")):
            shutil.rmtree(d, ignore_errors=True)
    _STARTED.clear()


def wait(part: str, fallback_dir: pathlib.Path, timeout: float = 3 * TIMEOUT) -> pathlib.Path:
    """The folder holding `part`'s outputs, once ready. Raises RuntimeError with the log if the part
    failed. Without a background driver the part runs here (one process per session, lock file)."""
    env = os.environ.get(ENV)
    started = pathlib.Path(env) / "parts.txt" if env else None
    if env and (not started.exists() or part not in started.read_text().split()):
        env = None  # not started in the background: run it here
    d = pathlib.Path(os.environ[ENV]) if os.environ.get(ENV) else fallback_dir
    done, failed = d / f"{part}.done", d / f"{part}.failed"
    deadline = time.monotonic() + timeout
    while not (done.exists() or failed.exists()):
        if not env:
            try:
                fd = os.open(d / f"{part}.lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.close(fd)
                run_part(d, part)
                continue
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for the reference part {part!r} in {d}")
        time.sleep(1.0)
    if failed.exists():
        raise RuntimeError(f"reference part {part!r} failed:\n{failed.read_text()}")
    return d


if __name__ == "__main__":
    if len(sys.argv) < 2 or any(a not in PARTS for a in sys.argv[2:]):
        sys.exit(f"usage: pipelines.py OUTDIR [PART ...]   (parts: {' '.join(PARTS)}; default all)")
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[2:] or PARTS:
        run_part(out, name)
