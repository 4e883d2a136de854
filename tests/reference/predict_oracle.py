"""neural-tangents side of the `predict` cross-check (reference env only).

    .venv-ref/bin/python tests/reference/predict_oracle.py predict_cases.npz predict_nt.npz

Runs every case of ``predict_cases.npz`` (written by ``predict_cases.py``) through
``predict_calls.run_case`` with ``neural_tangents.predict`` and ``neural_tangents.stax``, in
float64, and writes NT's outputs plus ``meta.json`` (versions). NT's ``max_learning_rate`` needs
scipy < 1.14 (tests/reference/README.md, trap 1), which this env pins.
"""
from __future__ import annotations

import json
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from nt_import import nt  # noqa: E402  (stubs neural_tangents.experimental first)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402

import predict_calls  # noqa: E402


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: predict_oracle.py predict_cases.npz out.npz")
    with np.load(argv[0], allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    cases = json.loads(str(arrays.pop("cases.json")))
    out = {}
    for case in cases:
        try:
            out.update(predict_calls.run_case(case, arrays, nt.predict, nt.stax, jnp))
        except Exception as e:  # name the case; never skip silently
            raise RuntimeError(f"case {case['name']!r} failed in NT: {type(e).__name__}: {e}") from e
    for k, v in out.items():
        if np.asarray(v).dtype != np.float64:
            raise AssertionError(f"{k}: NT output is {np.asarray(v).dtype}, not float64")
    import jaxlib

    out["meta.json"] = np.array(json.dumps({"versions": {
        "neural_tangents": nt.__version__, "jax": jax.__version__, "jaxlib": jaxlib.__version__,
        "numpy": np.__version__, "scipy": scipy.__version__, "x64": bool(jax.config.jax_enable_x64)}}))
    tmp = argv[1] + ".tmp.npz"
    np.savez(tmp, **out)
    os.replace(tmp, argv[1])
    print(f"[predict_oracle] {len(cases)} cases, {len(out) - 1} outputs -> {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
