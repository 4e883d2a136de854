"""Shared test configuration: float64 on, one tolerance table, one assert_close helper."""
import os

import jax

# No background prewarming of the app's default views in tests (AppTest runs app.py in-process;
# browser tests start servers from this environment). tests/app/test_prewarm.py tests it directly.
os.environ.setdefault("NTK_PREWARM", "0")
# No on-disk results cache either (tests/app/test_results_cache.py tests it in a temp folder).
os.environ.setdefault("NTK_RESULTS_CACHE", "0")
# Pages compute without asking first however loaded the machine is (the estimate depends on the
# machine's speed now); tests/app/test_app_edges.py sets the threshold back to test the question.
os.environ.setdefault("NTK_CONFIRM_SECONDS", "1e9")
import pytest

jax.config.update("jax_enable_x64", True)

from _testutil import TOL, assert_close  # noqa: E402, F401 -- re-exported after x64 is on


@pytest.fixture
def key():
    return jax.random.PRNGKey(0)


def pytest_configure(config):
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    _share_compiled_programs()
    import _progress

    _progress.register(config)
    # The neural-tangents cross-checks' subprocess pipelines start now, in the background, so no
    # worker sits idle waiting for them (tests/reference/pipelines.py).
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "ntk_reference_pipelines", os.path.join(os.path.dirname(__file__), "reference", "pipelines.py"))
    pipelines = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pipelines)
    pipelines.start_in_background(config)
    config._ntk_pipelines = pipelines


def pytest_unconfigure(config):
    pipelines = getattr(config, "_ntk_pipelines", None)
    if pipelines is not None:
        pipelines.stop()


def pytest_collection_modifyitems(config, items):
    """The reference cross-checks run last (their pipelines run in the background meanwhile); the
    same order in every xdist worker."""
    ref = {id(i) for i in items if i.nodeid.startswith("tests/reference/")}
    if ref:
        items[:] = [i for i in items if id(i) not in ref] + [i for i in items if id(i) in ref]


def _share_compiled_programs():
    """Every test process shares the app's on-disk cache of compiled XLA programs from its start
    (`ntk._cache.configure_jax_cache`: NTK_JAX_CACHE, default ~/.cache/ntk-app/jax; 0 turns it
    off): the xdist workers and the subprocesses they start (Streamlit servers, notebook kernels,
    reference pipelines) inherit it through the environment, so a program compiled once is loaded
    by the others, and a later run reuses the programs of an earlier one. Only compile time
    changes: results never come from this cache. An existing JAX_COMPILATION_CACHE_DIR is kept."""
    from ntk._cache import configure_jax_cache

    path = configure_jax_cache()
    if path and not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        os.environ["JAX_COMPILATION_CACHE_DIR"] = path
        os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
