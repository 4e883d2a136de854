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
    import _progress

    _progress.register(config)
