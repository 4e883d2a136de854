"""Ensembles of small networks trained together: one jitted full-batch GD loop per chunk.

The parameters of E networks are stacked over a leading axis and trained through `ntk.train`
on a vmapped apply function (outputs stacked as columns). The loss of the stack is the mean over
all E·n outputs, so the learning rate is scaled by E: every member then follows exactly its own
full-batch GD on L = 1/(2N) Σ (f − y)².
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._cache import cached
from .progress import as_progress


@cached(maxsize=16)
def _ensemble_apply(net):
    """apply(P, x) for parameters stacked over a leading ensemble axis -> outputs (n, E)."""

    def apply(P, x):
        out = jax.vmap(net.apply, in_axes=(0, None))(P, x)  # (E, n, 1)
        return jnp.transpose(out[..., 0])

    return apply


def _init_stack(net, seeds, in_dim, dtype):
    keys = jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])
    return jax.vmap(lambda k: net.init(k, in_dim, dtype=dtype))(keys)


def _auto_chunk(net, in_dim, n_nets, max_floats=600_000):
    """Networks per chunk: as many as keep the chunk's parameters (and their gradients) within
    the CPU's caches. The small full-batch problems of the presets are memory-bound: a chunk
    that spills to main memory reads every weight from RAM at every step (measured 3x slower
    for 8 width-512 nets than for chunks of 2; benchmarks/bench_presets.py)."""
    return int(max(1, min(n_nets, max_floats // max(net.num_params(in_dim), 1))))


def train_ensemble(net, seeds, x_train, y_train, x_test, *, learning_rate, steps,
                   record_steps=None, chunk=None, progress=None):
    """Train one network per seed (params `net.init(PRNGKey(seed))`) with full-batch GD.

    x_train (n, d), y_train (n,) or (n, 1), x_test (m, d). Returns dict(steps (R,),
    f_train (E, R, n), f_test (E, R, m)). Raises RuntimeError with the training message if a
    member diverges. `progress(done, total, label)` counts finished networks after each chunk.
    """
    from ..dynamics import train

    seeds = [int(s) for s in seeds]
    x_train = np.asarray(x_train)
    y_train = np.asarray(y_train).reshape(len(x_train), 1)
    d = x_train.shape[1]
    chunk = chunk or _auto_chunk(net, d, len(seeds))
    apply, prog = _ensemble_apply(net), as_progress(progress)
    record_steps = [steps] if record_steps is None else record_steps
    ftr, fte, rsteps = [], [], None
    for i in range(0, len(seeds), chunk):
        part = seeds[i:i + chunk]
        padded = part + [part[-1]] * (chunk - len(part))  # one compiled shape for every chunk
        P0 = _init_stack(net, padded, d, x_train.dtype)
        Y = np.tile(y_train, (1, chunk))
        res = train(apply, P0, x_train, Y, x_test, None, learning_rate=learning_rate * chunk,
                    steps=steps, record_steps=record_steps, linearized=False,
                    check_stability=False)
        if res.diverged:
            raise RuntimeError("An ensemble member diverged: " + res.message.replace(
                f"{learning_rate * chunk:g}", f"{learning_rate:g}"))
        rsteps = res.steps
        ftr.append(np.transpose(res.f_train, (2, 0, 1))[:len(part)])
        fte.append(np.transpose(res.f_test, (2, 0, 1))[:len(part)])
        prog(i + len(part), len(seeds), "training the ensemble")
    return dict(steps=np.asarray(rsteps), f_train=np.concatenate(ftr), f_test=np.concatenate(fte))


__all__ = ["train_ensemble"]
