"""XLA compile options of the library's own compiled kernel programs.

On the CPU backend, XLA (jax >= 0.7) hands each convolution that is not fused into a reduction to
its YNN library, which runs it on one thread; XLA's own convolution uses every core. Measured on
2 cores (AMD EPYC, jax 0.10.2, float32): a 3x3 SAME conv 64 -> 128 channels on 128 16x16 images
takes 45.6 ms through YNN and 24-28 ms through XLA, while YNN's matrix products (dot_general)
are the faster ones (a 128 x 73728 Gram: 20.6 ms vs 38 ms). `jit` below therefore keeps YNN for
individual dot products only (`xla_cpu_experimental_ynn_fusion_type`). The option changes which
kernel computes a convolution or product, never the function computed; programs of other
backends, and XLA versions without the option, compile with the defaults.
"""
from __future__ import annotations

import functools

import jax
import numpy as np

_CPU_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}


@functools.lru_cache(maxsize=1)
def _cpu_options_supported() -> bool:
    """Whether this XLA accepts `_CPU_OPTIONS` (one tiny compile, once per process)."""
    try:
        jax.jit(lambda a: a + 1, compiler_options=dict(_CPU_OPTIONS)).lower(np.float32(0)).compile()
    except Exception:      # an XLA without the option (older or newer): keep its defaults
        return False
    return True


def compiler_options() -> dict | None:
    """Compile options for a kernel program on the default backend (None: XLA's defaults)."""
    if jax.default_backend() != "cpu" or not _cpu_options_supported():
        return None
    return dict(_CPU_OPTIONS)


class _Tuned:
    """A jitted function compiled with `compiler_options()` when called at top level, and as a
    plain `jax.jit` inside another trace (JAX accepts compile options only on top-level jits)."""

    def __init__(self, fn, opts, kwargs):
        self._plain = jax.jit(fn, **kwargs)
        self._tuned = jax.jit(fn, compiler_options=opts, **kwargs)
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        try:
            return self._tuned(*args, **kwargs)
        except ValueError as e:
            if "compiler_options" not in str(e):   # "only on top-level jax.jit"
                raise
        return self._plain(*args, **kwargs)

    def __getattr__(self, name):       # lower, trace, eval_shape, ... of the tuned program
        return getattr(self._tuned, name)


def jit(fn, **kwargs):
    """`jax.jit(fn, **kwargs)` compiled with `compiler_options()` (see the module docstring)."""
    opts = compiler_options()
    if opts is None:
        return jax.jit(fn, **kwargs)
    return _Tuned(fn, opts, kwargs)
