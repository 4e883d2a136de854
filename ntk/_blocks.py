"""Block-wise evaluation of pairwise kernels to bound memory, spread over devices with sharding."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from . import _validate as V

#: What the most recent `blocked_pairwise` call did (number of devices, blocks, devices holding the
#: first result); read by tests to check that the work really was sharded.
last_call: dict = {}


def _pad_to(x, n: int):
    if x.shape[0] < n:
        x = jnp.concatenate([x, jnp.zeros((n - x.shape[0],) + x.shape[1:], x.dtype)], axis=0)
    return x


@functools.lru_cache(maxsize=64)
def _sharded(block_fn, devices: tuple, nargs: int):
    """vmap of block_fn over a leading device axis, jitted with that axis sharded over `devices`."""
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    mesh = Mesh(np.array(devices), ("d",))
    rows, rep = NamedSharding(mesh, P("d")), NamedSharding(mesh, P())
    fn = jax.jit(jax.vmap(block_fn, in_axes=(0,) + (None,) * (1 + nargs)), out_shardings=rows)
    return fn, rows, rep


def _zeros_aligned(shape, dtype, align: int = 64):
    """np.zeros whose data is `align`-byte aligned, so that `to_jax` can use it without a copy."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    buf = np.zeros(nbytes + align, np.uint8)
    off = (-buf.ctypes.data) % align
    return buf[off:off + nbytes].view(dtype).reshape(shape)


def to_jax(a):
    """A jax array of a `blocked_pairwise` output; on CPU it shares the (aligned) host buffer
    instead of copying it (a 20000 x 20000 float32 kernel is 1.6 GB)."""
    return jax.device_put(a, may_alias=True)


@functools.lru_cache(maxsize=8)
def _lower(n: int, ndim: int):
    """Boolean mask of the strict lower triangle of an (n, n) block, broadcastable to `ndim`."""
    return np.tri(n, n, -1, dtype=bool).reshape((n, n) + (1,) * (ndim - 2))


def _swap(block):
    """Block of K(x2, x1) from a block of K(x1, x2): swap (n1, n2) and a trailing (k, k) pair."""
    if block.ndim == 4:
        return block.transpose(1, 0, 3, 2)
    return np.swapaxes(block, 0, 1)


def blocked_pairwise(block_fn, x1, x2, batch_size: int, progress=None, devices=None, args=(),
                     symmetric: bool = False):
    """Evaluate block_fn(x1_block, x2_block, *args) -> tuple of (b1, b2, ...) arrays, block-wise.

    Blocks are (batch_size x batch_size); the last ones are zero-padded so that one compiled shape
    serves all. `args` (e.g. parameters) are passed unchanged to every block. With several
    `devices` (default: all `jax.devices()`), groups of one row block per device are evaluated in
    one call: the rows are sharded over the devices with `jax.sharding`, the column block and
    `args` are replicated on each. With `symmetric=True` (x2 is x1 and block_fn(b, a) is the
    transpose of block_fn(a, b), trailing (k, k) axes swapped too), only the blocks on and above
    the diagonal are computed and the others are mirrored, so the result is exactly symmetric.
    The next block is dispatched before the previous one is copied to the host.

    Returns a tuple of numpy arrays of shape (n1, n2, ...) (64-byte aligned: `to_jax` wraps them
    without a copy on CPU). `progress(done, total, label)` (the library's one signature; a
    two-argument callback also works) after each call, label "kernel blocks".
    """
    progress = V.as_progress(progress)
    n1, n2 = x1.shape[0], x2.shape[0]
    if symmetric and n1 != n2:
        raise ValueError("symmetric=True needs x2 = x1.")
    b1, b2 = min(batch_size, n1), min(batch_size, n2)
    devices = tuple(jax.devices()) if devices is None else tuple(devices)
    group = len(devices)
    n_rows, n_cols = -(-n1 // b1), -(-n2 // b2)
    n_rows_p = -(-n_rows // group) * group  # whole groups: one row block per device
    launch = _launcher(block_fn, x1, x2, b1, b2, n_rows_p, n_cols, devices, args)
    # A group g (row blocks g .. g+group-1) is needed for column j unless all its blocks lie
    # below the diagonal (those are mirrored from the blocks above it).
    tasks = [(g, j) for g in range(0, n_rows_p, group) for j in range(n_cols)
             if not symmetric or g <= j]
    outs = []

    def store(g, j, res):
        res = [np.asarray(r) for r in res]
        if not outs:
            outs.extend(_zeros_aligned((n1, n2) + r.shape[3:], r.dtype) for r in res)
        for gi in range(group):
            i = g + gi
            if i < n_rows and not (symmetric and i > j):
                _store_block(outs, [r[gi] for r in res], i, j, b1, b2, symmetric)

    last_call.clear()
    last_call.update(devices=group, calls=len(tasks), blocks=len(tasks) * group)
    pending = None
    for done, (g, j) in enumerate(tasks, 1):
        res = launch(g, j)
        if not last_call.get("result_devices"):
            last_call["result_devices"] = len(res[0].sharding.device_set)
        if pending is not None:
            store(*pending)
            if progress is not None:
                progress(done - 1, len(tasks), "kernel blocks")
        pending = (g, j, res)
    store(*pending)
    if progress is not None:
        progress(len(tasks), len(tasks), "kernel blocks")
    return tuple(outs)


def _launcher(block_fn, x1, x2, b1, b2, n_rows_p, n_cols, devices, args):
    """launch(g, j): the outputs, each (group, b1, b2, ...), of row blocks g .. g+group-1 against
    column block j, dispatched asynchronously; rows sharded over `devices` when there are several,
    column blocks and `args` placed (replicated) once."""
    group = len(devices)
    x1p = _pad_to(x1, n_rows_p * b1)
    x2p = _pad_to(x2, n_cols * b2)
    if group > 1:
        fn, rows, rep = _sharded(block_fn, devices, len(args))
        args = jax.device_put(tuple(args), rep)
        cols = [jax.device_put(x2p[j * b2:(j + 1) * b2], rep) for j in range(n_cols)]

        def launch(g, j):
            xs = x1p[g * b1:(g + group) * b1].reshape((group, b1) + x1.shape[1:])
            return fn(jax.device_put(xs, rows), cols[j], *args)

        return launch
    dev = devices[0]
    args = jax.device_put(tuple(args), dev)
    x1p = jax.device_put(x1p, dev)
    cols = [jax.device_put(x2p[j * b2:(j + 1) * b2], dev) for j in range(n_cols)]

    def launch(g, j):
        return tuple(r[None] for r in block_fn(x1p[g * b1:(g + 1) * b1], cols[j], *args))

    return launch


def _store_block(outs, res, i, j, b1, b2, symmetric):
    """Copy block (i, j) (`res`: one padded (b1, b2, ...) array per output) into `outs`; with
    `symmetric`, also its mirror (j, i), or for a diagonal block its own lower triangle."""
    n1, n2 = outs[0].shape[:2]
    r0, c0 = i * b1, j * b2
    rn, cn = min(b1, n1 - r0), min(b2, n2 - c0)
    for o, r in zip(outs, res):
        blk = r[:rn, :cn]
        o[r0:r0 + rn, c0:c0 + cn] = blk
        if symmetric and i < j:
            o[c0:c0 + cn, r0:r0 + rn] = _swap(blk)
        elif symmetric:  # diagonal block: its lower triangle mirrors its upper one
            d = o[r0:r0 + rn, c0:c0 + cn]
            np.copyto(d, _swap(d), where=_lower(rn, d.ndim))
            if d.ndim == 4:  # and each point's own (k, k) kernel is symmetric too
                ar, (lo, up) = np.arange(rn), np.tril_indices(d.shape[2], -1)
                dd = d[ar, ar]
                dd[:, lo, up] = dd[:, up, lo]
                d[ar, ar] = dd
