"""Blocked kernels (`batch_size`) spread over several devices give the single-device result.

The kernels run in subprocesses: one with 4 virtual CPU devices
(`XLA_FLAGS=--xla_force_host_platform_device_count=4`, set before jax is imported there) and one
with the default single device; both in float64. Each also compares its blocked kernels with the
unblocked ones, and the 4-device one checks that the blocks really were sharded over 4 devices.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import ntk
    from ntk import _blocks

    out_path = sys.argv[1]
    x = jax.random.normal(jax.random.PRNGKey(0), (37, 5))    # 37: blocks of 8 leave a remainder
    x2 = jax.random.normal(jax.random.PRNGKey(1), (21, 5))
    res, info = {}, {"device_count": jax.device_count(), "sharded": {}, "unblocked_err": {},
                     "symmetric": {}}

    def record(name, blocked, full, sym=None):
        blocked, full = np.asarray(blocked), np.asarray(full)
        res[name] = blocked
        info["sharded"][name] = _blocks.last_call.get("result_devices")
        info["unblocked_err"][name] = float(np.max(np.abs(blocked - full)) / np.max(np.abs(full)))
        if sym is not None:
            info["symmetric"][name] = bool(np.array_equal(blocked, sym(blocked)))

    T2 = lambda a: a.T
    T4 = lambda a: a.transpose(1, 0, 3, 2)
    for act in ("relu", "erf"):
        net = ntk.mlp([16, 16], 1, act, 1.5, 0.1)
        for get in ("nngp", "ntk"):
            full = getattr(ntk.infinite_kernel(net, x), get)
            blk = getattr(ntk.infinite_kernel(net, x, batch_size=8, get=(get,)), get)
            record(f"inf_{act}_{get}", blk, full, T2)
        full = ntk.infinite_kernel(net, x, x2).ntk
        record(f"inf_{act}_cross", ntk.infinite_kernel(net, x, x2, batch_size=8).ntk, full)

    # Empirical: an ntk.mlp (layer-wise method) and a plain apply_fn with dict parameters (the
    # parameters are replicated on every device).
    net = ntk.mlp([16, 16], 3, "relu", 1.5, 0.1)
    params = net.init(jax.random.PRNGKey(2), 5)
    for method in ("structured", "jacobian"):
        for trace in (True, False):
            full = ntk.empirical_ntk(net, params, x, method=method, trace=trace)
            blk = ntk.empirical_ntk(net, params, x, method=method, trace=trace, batch_size=8)
            record(f"emp_{method}_{trace}", blk, full, T2 if trace else T4)
    full = ntk.empirical_ntk(net, params, x, x2)
    record("emp_cross", ntk.empirical_ntk(net, params, x, x2, batch_size=8), full)

    def apply_fn(p, z):
        return jnp.tanh(z @ p["w1"]) @ p["w2"]

    p = {"w1": jax.random.normal(jax.random.PRNGKey(3), (5, 12)),
         "w2": jax.random.normal(jax.random.PRNGKey(4), (12, 2))}
    for method in ("jacobian", "ntvp"):
        full = ntk.empirical_ntk(apply_fn, p, x, method=method, trace=False)
        blk = ntk.empirical_ntk(apply_fn, p, x, method=method, trace=False, batch_size=8)
        record(f"fn_{method}", blk, full, T4)

    np.savez(out_path, **res)
    print(json.dumps(info))
    """
)


def _start(tmp_path, devices):
    env = dict(os.environ)
    env.pop("JAX_ENABLE_X64", None)
    flags = [f for f in env.get("XLA_FLAGS", "").split()
             if not f.startswith("--xla_force_host_platform_device_count")]
    if devices > 1:
        flags.append(f"--xla_force_host_platform_device_count={devices}")
    env["XLA_FLAGS"] = " ".join(flags)
    env["JAX_PLATFORMS"] = "cpu"
    out = tmp_path / f"k{devices}.npz"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    return proc, out


def _finish(proc, out):
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    info = json.loads(stdout.strip().splitlines()[-1])
    return info, dict(np.load(out))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scale")
    started = [_start(tmp, 1), _start(tmp, 4)]  # both at once
    return tuple(_finish(*s) for s in started)


def test_four_devices_are_visible_and_used(runs):
    (one, _), (four, _) = runs
    assert one["device_count"] == 1
    assert four["device_count"] == 4
    # Every blocked kernel's blocks came back sharded over all 4 devices.
    assert set(four["sharded"].values()) == {4}, four["sharded"]
    assert set(one["sharded"].values()) == {1}, one["sharded"]


def test_blocked_equals_unblocked(runs):
    for info, _ in runs:
        bad = {k: v for k, v in info["unblocked_err"].items() if v > 1e-13}
        assert not bad, bad


def test_blocked_x2_none_is_exactly_symmetric(runs):
    for info, _ in runs:
        assert info["symmetric"] and all(info["symmetric"].values()), info["symmetric"]


def test_four_devices_equal_single_device(runs):
    (_, k1), (_, k4) = runs
    assert k1.keys() == k4.keys()
    for name in k1:
        assert k1[name].dtype == np.float64, name
        np.testing.assert_allclose(k4[name], k1[name], rtol=1e-13, atol=1e-13 *
                                   np.max(np.abs(k1[name])), err_msg=name)
