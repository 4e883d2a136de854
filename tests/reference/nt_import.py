"""Import neural-tangents 0.6.5 (without TensorFlow) and our NT adapter, in the reference env.

Runs only in the pinned reference environment ``.venv-ref`` (jax 0.4.25, numpy<2, scipy<1.14);
see tests/reference/README.md.

* ``ref`` is ``tests/reference/nt_adapter.py`` (formerly ``ntk/reference.py``) loaded *by path* as
  module ``ntk_reference``; it imports nothing of ``ntk``, which needs current JAX.
* ``nt`` is ``neural_tangents``, imported through ``ref.import_neural_tangents()``, which first
  registers an inert stub for ``neural_tangents.experimental`` (the only NT module that needs
  TensorFlow/tf2jax; NT's ``__init__`` imports it unconditionally).  ``nt.stax``,
  ``nt.empirical_ntk_fn`` (implementations 1, 2, 3), ``nt.linearize``, ``nt.taylor_expand`` and
  ``nt.predict`` work; touching ``nt.experimental.<anything>`` raises ImportError.

Usage (with tests/reference on sys.path)::

    from nt_import import nt, stax, ref
"""
import importlib.util
import pathlib
import sys

_REF_PATH = pathlib.Path(__file__).resolve().parent / "nt_adapter.py"


def _load_reference():
    mod = sys.modules.get("ntk_reference")
    if mod is None:
        spec = importlib.util.spec_from_file_location("ntk_reference", _REF_PATH)
        mod = importlib.util.module_from_spec(spec)
        sys.modules["ntk_reference"] = mod
        spec.loader.exec_module(mod)
    return mod


ref = _load_reference()
nt = ref.import_neural_tangents()
stax = nt.stax

__all__ = ["nt", "stax", "ref"]
