"""Optional neural-tangents adapter, for the pinned reference environment only.

This module maps our architecture descriptions and parameters onto neural-tangents (NT) 0.6.5
objects.  It lives with the reference tests, outside the ``ntk`` package, and imports neither
``ntk`` nor ``neural_tangents`` at import time, so that

* the library never ships or loads it, and
* the reference env (``.venv-ref``: jax 0.4.25, NT 0.6.5, no TensorFlow) can load this single
  file by path (``tests/reference/nt_oracle.py`` does) without the rest of ``ntk``, which needs
  current JAX.

Conventions (binding on both sides)
-----------------------------------
An architecture is a JSON-able dict::

    {"widths": [w1, ..., wL], "out_dim": k, "activation": spec,
     "W_std": float, "b_std": float, "parameterization": "ntk" | "standard",
     "quad_deg": int (optional, only for quadrature activations)}

and means exactly NT's::

    stax.serial(Dense(w1, W_std, b_std, parameterization=p), Act,
                ...,
                Dense(wL, W_std, b_std, parameterization=p), Act,
                Dense(k,  W_std, b_std, parameterization=p))

``b_std`` is always a float (never None), so every Dense layer has a bias; in standard
parameterization NT's NTK therefore gets ``+1`` per Dense layer.

``spec`` is a name or ``[name, {params}]``:

===============================  ==============================================================
ours                             NT 0.6.5
===============================  ==============================================================
"relu"                           stax.Relu()                      (closed form)
"abs"                            stax.Abs()                       (closed form)
["leaky_relu", {"alpha": a}]     stax.LeakyRelu(a)                (closed form; bare name: 0.01)
"erf"                            stax.Erf()   = erf(x)            (closed form)
"gelu"                           stax.Gelu(approximate=False)     (closed form, exact GELU)
"sin"                            stax.Sin()   = sin(x)            (closed form)
"identity" / "linear"            stax.Identity()                  (closed form)
"tanh"                           stax.ElementwiseNumerical(tanh,     deg, df=1 - tanh^2)
"softplus"                       stax.ElementwiseNumerical(softplus, deg, df=sigmoid)
"silu" / "swish"                 stax.ElementwiseNumerical(silu,     deg, df=analytic)
===============================  ==============================================================

NT's Erf/Sin also accept ``a, b, c`` (``a*erf(b*x)+c``, ``a*sin(b*x+c)``); a spec like
``["erf", {"a": 2.0}]`` is passed through.  Quadrature degree: ``arch["quad_deg"]`` or
:data:`DEFAULT_QUAD_DEG`.  NT integrates with a fixed ``deg x deg`` Gauss-Hermite rule on the
*bivariate* Gaussian, so its accuracy depends on the pre-activation variance (see
tests/reference/README.md for the measured errors); ``nt_oracle.py`` reports a self-check by
re-running at a higher degree.

Parameters: ours are ``[(W, b), ...]`` per Dense layer, W ``(fan_in, fan_out)``, b
``(fan_out,)``.  NT's serial params are the same tuples with ``()`` after every hidden Dense
(for the activation layers), and NT's Dense bias has shape ``(1, fan_out)`` for 2-D inputs.
"""
from __future__ import annotations

import sys
import types

NT_VERSION = "0.6.5"

#: Gauss-Hermite degree for the quadrature activations (tanh, softplus, silu).  Measured against
#: a converged adaptive reference (tests/reference/README.md), deg=128 is within ~2e-7 relative
#: for pre-activation std sqrt(q) <= 1.5 (tanh), <= 3 (silu), <= 4 (softplus); beyond that NT's
#: fixed rule degrades fast (tanh at sqrt(q)=2: 3e-5, at 3: 4e-3).  Cost and memory scale as
#: deg**2 * n1 * n2 per layer.
DEFAULT_QUAD_DEG = 128

_EXPERIMENTAL = "neural_tangents.experimental"


class _ExperimentalStub(types.ModuleType):
    """Placeholder for neural_tangents.experimental (it needs TensorFlow + tf2jax)."""

    def __getattr__(self, attr):
        if attr.startswith("__"):  # let the import machinery / inspect probe dunders
            raise AttributeError(attr)
        raise ImportError(
            f"{_EXPERIMENTAL}.{attr} is stubbed out in the reference env (it needs TensorFlow "
            "and tf2jax, which are deliberately not installed); see tests/reference/README.md"
        )


def import_neural_tangents():
    """Import NT 0.6.5 without TensorFlow; return the ``neural_tangents`` module.

    NT's ``__init__`` does ``from . import experimental``, whose ``empirical_tf`` imports
    ``jax.experimental.jax2tf`` (absl, TensorFlow), ``tensorflow`` and ``tf2jax``.  Nothing else
    in NT needs them, so an inert module is registered under ``neural_tangents.experimental``
    before the first import; ``from . import experimental`` then finds it in ``sys.modules``.
    Any attribute access on the stub raises ImportError.
    """
    if "neural_tangents" not in sys.modules and _EXPERIMENTAL not in sys.modules:
        stub = _ExperimentalStub(_EXPERIMENTAL, _ExperimentalStub.__doc__)
        stub.__path__ = []  # a package: `import neural_tangents.experimental.x` fails cleanly
        sys.modules[_EXPERIMENTAL] = stub
    import neural_tangents as nt

    if nt.__version__ != NT_VERSION:
        raise ImportError(f"reference env needs neural-tangents=={NT_VERSION}, "
                          f"found {nt.__version__}")
    return nt


# ---------------------------------------------------------------------------------------------
# activations

def _split_spec(spec):
    if isinstance(spec, str):
        return spec.lower().strip(), {}
    if isinstance(spec, dict):
        kw = dict(spec)
        return str(kw.pop("name")).lower().strip(), kw
    if isinstance(spec, (list, tuple)) and len(spec) == 2 and isinstance(spec[0], str):
        return spec[0].lower().strip(), dict(spec[1] or {})
    raise TypeError(f"activation spec must be a name or [name, {{params}}], got {spec!r}")


def _numerical_fns(name):
    import jax
    import jax.numpy as jnp

    if name == "tanh":
        return jnp.tanh, lambda x: 1.0 - jnp.tanh(x) ** 2
    if name == "softplus":
        return jax.nn.softplus, jax.nn.sigmoid
    if name in ("silu", "swish"):
        def dsilu(x):
            s = jax.nn.sigmoid(x)
            return s * (1.0 + x * (1.0 - s))
        return jax.nn.silu, dsilu
    return None


QUADRATURE_ACTIVATIONS = ("tanh", "softplus", "silu", "swish")
CLOSED_FORM_ACTIVATIONS = ("relu", "abs", "leaky_relu", "erf", "gelu", "sin", "identity",
                           "linear")


def is_quadrature(spec) -> bool:
    return _split_spec(spec)[0] in QUADRATURE_ACTIVATIONS


def nt_activation(spec, quad_deg: int | None = None):
    """NT stax layer ``(init_fn, apply_fn, kernel_fn)`` for an activation spec."""
    import warnings

    stax = import_neural_tangents().stax
    name, kw = _split_spec(spec)

    def no_params():
        if kw:
            raise ValueError(f"activation {name!r} takes no parameters here, got {kw}")

    if name == "relu":
        no_params()
        return stax.Relu()
    if name == "abs":
        no_params()
        return stax.Abs()
    if name in ("leaky_relu", "leakyrelu"):
        alpha = float(kw.pop("alpha", 0.01))
        no_params()
        return stax.LeakyRelu(alpha)
    if name == "erf":
        return stax.Erf(**{k: float(v) for k, v in kw.items()})
    if name == "sin":
        return stax.Sin(**{k: float(v) for k, v in kw.items()})
    if name == "gelu":
        no_params()
        return stax.Gelu(approximate=False)
    if name in ("identity", "linear"):
        no_params()
        return stax.Identity()
    fns = _numerical_fns(name)
    if fns is not None:
        no_params()
        fn, df = fns
        with warnings.catch_warnings():  # NT warns on every ElementwiseNumerical construction
            warnings.simplefilter("ignore")
            return stax.ElementwiseNumerical(fn, deg=int(quad_deg or DEFAULT_QUAD_DEG), df=df)
    raise ValueError(f"no neural-tangents equivalent for activation {spec!r}")


# ---------------------------------------------------------------------------------------------
# architectures and parameters

def _check_arch(arch: dict) -> dict:
    arch = dict(arch)
    missing = {"widths", "out_dim", "activation", "W_std", "b_std"} - set(arch)
    if missing:
        raise ValueError(f"architecture is missing {sorted(missing)}: {arch}")
    if arch["b_std"] is None:
        raise ValueError("b_std must be a float (biases always exist in our convention)")
    arch.setdefault("parameterization", "ntk")
    if arch["parameterization"] not in ("ntk", "standard"):
        raise ValueError(f"parameterization must be 'ntk' or 'standard': {arch}")
    return arch


def nt_serial(arch: dict, quad_deg: int | None = None):
    """NT ``stax.serial(...)`` ``(init_fn, apply_fn, kernel_fn)`` for an architecture dict.

    ``quad_deg`` overrides ``arch.get("quad_deg")`` (used by the oracle's self-check).
    """
    stax = import_neural_tangents().stax
    arch = _check_arch(arch)
    W_std, b_std = float(arch["W_std"]), float(arch["b_std"])
    p = arch["parameterization"]
    deg = quad_deg or arch.get("quad_deg")

    layers = []
    for w in arch["widths"]:
        layers += [stax.Dense(int(w), W_std=W_std, b_std=b_std, parameterization=p),
                   nt_activation(arch["activation"], deg)]
    layers.append(stax.Dense(int(arch["out_dim"]), W_std=W_std, b_std=b_std, parameterization=p))
    return stax.serial(*layers)


def params_to_nt(params, depth: int):
    """Our ``[(W, b), ...]`` (depth + 1 Dense layers) -> NT serial params.

    Inserts ``()`` after every hidden Dense and reshapes b ``(fan_out,) -> (1, fan_out)``.
    Arrays are converted with ``jax.numpy.asarray`` (dtype kept).
    """
    import jax.numpy as jnp

    params = list(params)
    if len(params) != depth + 1:
        raise ValueError(f"expected {depth + 1} (W, b) pairs for depth {depth}, got {len(params)}")
    out = []
    for i, (W, b) in enumerate(params):
        W, b = jnp.asarray(W), jnp.asarray(b)
        if W.ndim != 2 or b.shape[-1] != W.shape[1]:
            raise ValueError(f"layer {i}: W {W.shape} and b {b.shape} do not fit")
        out.append((W, b.reshape(1, W.shape[1])))
        if i < depth:
            out.append(())
    return out


def params_from_nt(nt_params):
    """NT serial params -> ours (drops the ``()`` entries, flattens biases)."""
    return [(W, b.reshape(-1)) for layer in nt_params if layer != ()
            for (W, b) in [layer]]
