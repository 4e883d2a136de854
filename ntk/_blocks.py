"""Block-wise evaluation of pairwise kernels to bound memory, optionally spread over devices."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def pad_rows(x, multiple: int):
    n = x.shape[0]
    m = (-n) % multiple
    if m:
        x = jnp.concatenate([x, jnp.zeros((m,) + x.shape[1:], x.dtype)], axis=0)
    return x


def blocked_pairwise(block_fn, x1, x2, batch_size: int, progress=None, devices=None):
    """Evaluate block_fn(x1_block, x2_block) -> tuple of arrays with leading dims (b1, b2, ...).

    Blocks are (batch_size x batch_size); the last ones are zero-padded to keep one compiled shape.
    With several `devices` (default: all `jax.devices()`), the row blocks of one column block are
    sharded over the devices with `jax.sharding` and evaluated in one call.
    Returns a tuple of numpy arrays of shape (n1, n2, ...). `progress(done, total)` after each block.
    """
    n1, n2 = x1.shape[0], x2.shape[0]
    b1, b2 = min(batch_size, n1), min(batch_size, n2)
    devices = list(jax.devices()) if devices is None else list(devices)
    ndev = len(devices)
    n_row_blocks = -(-n1 // b1)
    # Rows are grouped so that each group holds ndev blocks (one per device).
    group = ndev if ndev > 1 else 1
    n_row_blocks_p = -(-n_row_blocks // group) * group
    x1p = pad_rows(x1, b1)
    if x1p.shape[0] < n_row_blocks_p * b1:
        x1p = jnp.concatenate(
            [x1p, jnp.zeros((n_row_blocks_p * b1 - x1p.shape[0],) + x1.shape[1:], x1.dtype)]
        )
    x2p = pad_rows(x2, b2)
    outs = None
    cols = list(range(0, n2, b2))
    total = (n_row_blocks_p // group) * len(cols)
    done = 0
    if group > 1:
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

        mesh = Mesh(np.array(devices), ("d",))
        row_sharding = NamedSharding(mesh, P("d"))
        vfn = jax.jit(jax.vmap(block_fn, in_axes=(0, None)), out_shardings=row_sharding)
    for g0 in range(0, n_row_blocks_p, group):
        xs = x1p[g0 * b1:(g0 + group) * b1].reshape((group, b1) + x1.shape[1:])
        if group > 1:
            xs = jax.device_put(xs, row_sharding)
        for j in cols:
            xb2 = x2p[j:j + b2]
            if group > 1:
                res = vfn(xs, xb2)
            else:
                res = tuple(r[None] for r in block_fn(xs[0], xb2))
            res = [np.asarray(r) for r in res]
            if outs is None:
                outs = [np.zeros((n1, n2) + r.shape[3:], r.dtype) for r in res]
            for gi in range(group):
                i = (g0 + gi) * b1
                if i >= n1:
                    break
                r_, c_ = min(b1, n1 - i), min(b2, n2 - j)
                for o, r in zip(outs, res):
                    o[i:i + r_, j:j + c_] = r[gi, :r_, :c_]
            done += 1
            if progress is not None:
                progress(done, total)
    return tuple(outs)
