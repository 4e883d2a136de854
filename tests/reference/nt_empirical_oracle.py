"""neural-tangents side of the empirical-NTK cross-check (run in the reference env only).

    .venv-ref/bin/python tests/reference/nt_empirical_oracle.py emp_cases.npz emp_nt.npz

Rebuilds every model of `empirical_models.py` (same code, jax 0.4.25), loads its parameters and
inputs from the case file and computes `nt.empirical_ntk_fn(f, trace_axes, diagonal_axes,
vmap_axes, implementation=i)(x1, x2, params)` for i = 1 (Jacobian contraction) and 3 (structured
derivatives), float64, unjitted (see nt_oracle.py on the jaxlib 0.4.25 float32 miscompile).
Writes ``<model>/<config>/nt{i}/<leaf>`` and ``meta.json`` (versions).
"""
from __future__ import annotations

import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main(cases_path, out_path):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    import empirical_models as EM
    from nt_import import nt

    z = np.load(cases_path, allow_pickle=False)
    configs = json.loads(str(z["configs.json"]))
    out = {}
    for name, (f, _, _) in EM.MODELS.items():
        p = {k.split("/")[-1]: jnp.asarray(z[k]) for k in z.files if k.startswith(f"{name}/p/")}
        xs = {w: jnp.asarray(z[f"{name}/{w}"]) for w in ("x1", "x2", "x1r")}
        for cfg, (tr, dg, vm, which) in configs.items():
            x2 = None if which == "none" else xs[which]
            for impl in (1, 3):
                k = nt.empirical_ntk_fn(f, trace_axes=tuple(tr), diagonal_axes=tuple(dg), vmap_axes=vm,
                                        implementation=impl)(xs["x1"], x2, p)
                for i, leaf in enumerate(jax.tree_util.tree_leaves(k)):
                    out[f"{name}/{cfg}/nt{impl}/{i}"] = np.asarray(leaf, np.float64)
    import jaxlib
    import neural_tangents

    out["meta.json"] = np.asarray(json.dumps({"versions": {
        "jax": jax.__version__, "jaxlib": jaxlib.__version__, "neural_tangents": neural_tangents.__version__,
        "x64": bool(jax.config.jax_enable_x64)}}))
    np.savez(out_path, **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
