"""Activation registry with the Gaussian expectations the infinite-width recursions need.

For pre-activations (u, v) ~ N(0, [[q1, c], [c, q2]]) with correlation rho = c / sqrt(q1 q2),
each activation phi provides

    nngp(q1, q2, rho) = E[phi(u) phi(v)]         (NNGP map)
    dot(q1, q2, rho)  = E[phi'(u) phi'(v)]       (derivative map, for the NTK)

Closed forms are used where they exist (ReLU family, erf, GELU, sin, identity). Every other
elementwise function is integrated numerically with a 1-D rule chosen from the largest
pre-activation variance in the data (see `quadrature_rule`: trapezoidal nodes whose spacing
shrinks with the variance; Gauss-Hermite when an integer `quadrature_degree` is passed). `dot`
follows from `nngp` by Price's theorem (d/dc E[phi(u)phi(v)] = E[phi'(u)phi'(v)]) where no
simpler form is written down.
All maps broadcast elementwise over arrays of (q1, q2, rho).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erf

Array = jnp.ndarray
PairMap = Callable[[Array, Array, Array], Array]


@dataclasses.dataclass(frozen=True, eq=False)
class Activation:
    """An elementwise nonlinearity with (optional) closed-form Gaussian expectations.

    `nngp_map` / `dot_map` are None for activations integrated numerically.
    """

    name: str
    fn: Callable[[Array], Array]
    nngp_map: Optional[PairMap] = None
    dot_map: Optional[PairMap] = None
    params: tuple = ()
    dfn: Optional[Callable[[Array], Array]] = None  # phi' for quadrature (default: autodiff)

    @property
    def closed_form(self) -> bool:
        return self.nngp_map is not None

    def __call__(self, x):
        return self.fn(x)

    def derivative(self, x):
        """phi'(x) elementwise (autodiff through `fn`)."""
        return jax.jvp(self.fn, (x,), (jnp.ones_like(x),))[1]

    def __repr__(self):
        extra = f", {dict(self.params)}" if self.params else ""
        kind = "closed form" if self.closed_form else "quadrature"
        return f"Activation({self.name!r}{extra}; {kind})"

    def __eq__(self, other):
        return (
            isinstance(other, Activation)
            and self.name == other.name
            and self.params == other.params
            and (self.name != "custom" or self.fn is other.fn)
        )

    def __hash__(self):
        return hash((self.name, self.params, id(self.fn) if self.name == "custom" else 0))


# ---------------------------------------------------------------------------------------------
# Closed forms
# ---------------------------------------------------------------------------------------------

# arccos(x) = sqrt(1 - x) * P(x) on [0, 1] (Abramowitz & Stegun 4.4.46, |error| <= 2e-8): cheaper
# than the library arccos in float32 and exactly 0 at x = 1; float64 keeps jnp.arccos.
_ACOS_COEFFS = (1.5707963050, -0.2145988016, 0.0889789874, -0.0501743046, 0.0308918810,
                -0.0170881256, 0.0066700901, -0.0012624911)


def _arccos(x):
    x = jnp.clip(x, -1.0, 1.0)
    if jnp.result_type(x) != jnp.float32:
        return jnp.arccos(x)
    a = jnp.abs(x)
    p = jnp.asarray(_ACOS_COEFFS[-1], x.dtype)
    for c in _ACOS_COEFFS[-2::-1]:
        p = p * a + c
    r = jnp.sqrt(jnp.maximum(1 - a, 0.0)) * p
    return jnp.where(x < 0, jnp.pi - r, r)


def _sqrt_prod(q1, q2):
    """sqrt(q1 q2) as a product of square roots: per point, not per pair, when broadcasting."""
    return jnp.sqrt(q1) * jnp.sqrt(q2)


def _abrelu_maps(a: float, b: float):
    """phi(x) = b max(x, 0) + a min(x, 0): ReLU (a=0), leaky ReLU (a=alpha), abs (a=-1).

    With theta = arccos(rho): sin(theta) = sqrt(1 - rho^2), cos(theta) = rho.
    """

    def nngp(q1, q2, rho):
        rho = jnp.clip(rho, -1.0, 1.0)
        th = _arccos(rho)
        s = jnp.sqrt(jnp.maximum(1 - rho * rho, 0.0))
        return _sqrt_prod(q1, q2) / (2 * jnp.pi) * (
            (a * a + b * b) * (s + (jnp.pi - th) * rho) - 2 * a * b * (s - th * rho)
        )

    def dot(q1, q2, rho):
        th = _arccos(rho)
        return ((a * a + b * b) * (jnp.pi - th) + 2 * a * b * th) / (2 * jnp.pi)

    return nngp, dot


def _erf_nngp(q1, q2, rho):
    c = rho * _sqrt_prod(q1, q2)
    z = 2 * c * (jax.lax.rsqrt(1 + 2 * q1) * jax.lax.rsqrt(1 + 2 * q2))
    return 2 / jnp.pi * (jnp.pi / 2 - _arccos(z))  # arcsin(z) = pi/2 - arccos(z)


def _erf_dot(q1, q2, rho):
    c = rho * _sqrt_prod(q1, q2)
    return 4 / jnp.pi * jax.lax.rsqrt((1 + 2 * q1) * (1 + 2 * q2) - 4 * c * c)


def _sin_nngp(q1, q2, rho):
    c = rho * jnp.sqrt(q1 * q2)
    return jnp.exp(-(q1 + q2) / 2) * jnp.sinh(c)


def _sin_dot(q1, q2, rho):
    c = rho * jnp.sqrt(q1 * q2)
    return jnp.exp(-(q1 + q2) / 2) * jnp.cosh(c)


def _identity_nngp(q1, q2, rho):
    return rho * jnp.sqrt(q1 * q2)


def _identity_dot(q1, q2, rho):
    return jnp.ones_like(rho * q1 * q2)


def _gelu_nngp_c(q1, q2, c):
    """E[u Phi(u) v Phi(v)] for the exact GELU.

    Write Phi(u) = P(xi1 <= u) with xi1 ~ N(0, 1); with a = u - xi1, b = v - xi2 the expectation is
    E[u v 1(a>=0) 1(b>=0)]. Regress (u, v) on w = (a, b): u = alpha.w + e_u, v = beta.w + e_v, so it
    equals gamma P + alpha^T M beta with P the positive-quadrant probability, M the quadrant second
    moment of w and gamma = Cov(e_u, e_v).
    """
    A, B = 1 + q1, 1 + q2
    det = A * B - c * c
    # S^{-1} = [[B, -c], [-c, A]] / det
    alpha1 = (B * q1 - c * c) / det
    alpha2 = (A * c - c * q1) / det
    beta1 = (B * c - c * q2) / det
    beta2 = (A * q2 - c * c) / det
    gamma = c - (q1 * beta1 + c * beta2)
    r = c / jnp.sqrt(A * B)
    sr = jnp.sqrt(jnp.maximum(1 - r * r, 0.0))
    P = 0.25 + jnp.arcsin(r) / (2 * jnp.pi)
    m_diag = P + r * sr / (2 * jnp.pi)
    m_off = r * P + sr / (2 * jnp.pi)
    M11, M22, M12 = A * m_diag, B * m_diag, jnp.sqrt(A * B) * m_off
    quad = alpha1 * M11 * beta1 + alpha1 * M12 * beta2 + alpha2 * M12 * beta1 + alpha2 * M22 * beta2
    return gamma * P + quad


def _gelu_nngp(q1, q2, rho):
    return _gelu_nngp_c(q1, q2, rho * jnp.sqrt(q1 * q2))


def _gelu_dot(q1, q2, rho):
    # Price's theorem: E[phi'(u) phi'(v)] = d/dc E[phi(u) phi(v)].
    c = rho * jnp.sqrt(q1 * q2)
    return jax.jvp(lambda cc: _gelu_nngp_c(q1, q2, cc), (c,), (jnp.ones_like(c),))[1]


def gelu_exact(x):
    return x / 2 * (1 + erf(x / jnp.sqrt(2.0).astype(jnp.asarray(x).dtype)))


# ---------------------------------------------------------------------------------------------
# Gauss-Hermite quadrature for any elementwise function
# ---------------------------------------------------------------------------------------------

MIN_DEGREE = 32
MAX_DEGREE = 96
MAX_TRAP_NODES = 1601


def quadrature_rule(max_variance: float) -> tuple:
    """Choose a 1-D rule (kind, nodes) for E over N(0, 1) of g(sqrt(q) z), q <= max_variance.

    Integrands like tanh'(sqrt(q) z) have features of width ~1/sqrt(q) near z = 0, which a
    degree-n Gauss-Hermite rule only resolves once n grows like q (errors of 1e-3..1e-1 at
    sqrt(q) = 6 with 64 nodes). A uniform (trapezoidal) rule on [-9, 9] with spacing
    0.6/sqrt(1 + 4q) is spectrally accurate for analytic integrands at every scale
    (measured <1e-9 against closed forms for q up to 100) with ~30 sqrt(1 + 4q) nodes.
    """
    q = float(max_variance) if np.isfinite(max_variance) else 1e4
    # A product like g'(u) g'(v) of Gaussian-like bumps of width ~1/sqrt(q) has z-width
    # s ~ 1/sqrt(1 + 4q); the trapezoid's aliasing error ~exp(-2 pi^2 s^2 / h^2) < 1e-13 needs
    # h <= 0.8 / sqrt(1 + 4q); poles of tanh-like functions at distance pi / (2 sqrt(q)) add
    # exp(-2 pi^2 / c) for h = c / sqrt(4q), so c = 0.6 keeps both below 1e-10.
    step = 0.6 / math.sqrt(1.0 + 4.0 * max(q, 0.0))
    n = int(2 * math.ceil(9.0 / step) + 1)
    if n > MAX_TRAP_NODES:
        import warnings

        warnings.warn(
            f"Pre-activation variance {q:.3g} is very large; the quadrature is capped at "
            f"{MAX_TRAP_NODES} nodes and may lose accuracy (~1e-6). Reduce W_std or the input norm, "
            "or pass quadrature_degree=('trap', N) explicitly.", RuntimeWarning, stacklevel=3)
        n = MAX_TRAP_NODES
    return ("trap", n)


def _rule_nodes(rule, dtype):
    kind, n = rule
    if kind == "gh":
        z, w = np.polynomial.hermite.hermgauss(n)
        z, w = z * np.sqrt(2.0), w / np.sqrt(np.pi)
    elif kind == "trap":
        z = np.linspace(-9.0, 9.0, n)
        w = np.exp(-z * z / 2)
        w = w / w.sum()
    else:
        raise ValueError(f"unknown quadrature rule {rule!r}")
    return jnp.asarray(z, dtype), jnp.asarray(w, dtype)


def quadrature_maps(fn, rule, dfn=None) -> tuple[PairMap, PairMap]:
    """2-D quadrature versions of (nngp, dot) for an elementwise fn.

    `rule` is ("gh", degree), ("trap", nodes) or an int (Gauss-Hermite degree). With
    u = sqrt(q1) z1 and v = sqrt(q2) (rho z1 + sqrt(1 - rho^2) z2) the double sum runs as a scan
    over the outer nodes, so memory is O(pairs x nodes).
    """
    if isinstance(rule, (int, np.integer)):
        rule = ("gh", int(rule))

    if dfn is None:
        def dfn(x):
            return jax.jvp(fn, (x,), (jnp.ones_like(x),))[1]

    def make(g):
        def pair_map(q1, q2, rho):
            dtype = jnp.result_type(q1, q2, rho)
            z, w = _rule_nodes(rule, dtype)
            s1 = jnp.sqrt(q1)[..., None]
            s2 = jnp.sqrt(q2)[..., None]
            rho_ = rho[..., None]
            comp = jnp.sqrt(jnp.maximum(1 - rho_ * rho_, 0.0))

            def body(acc, zi_wi):
                zi, wi = zi_wi
                gu = g(s1[..., 0] * zi)  # (...)
                v = s2 * (rho_ * zi + comp * z)  # (..., deg)
                inner = jnp.sum(g(v) * w, axis=-1)
                return acc + wi * gu * inner, None

            shape = jnp.broadcast_shapes(jnp.shape(q1), jnp.shape(q2), jnp.shape(rho))
            acc0 = jnp.zeros(shape, dtype)
            out, _ = jax.lax.scan(body, acc0, (z, w))
            return out

        return pair_map

    return make(fn), make(dfn)


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------

def _relu(x):
    return jax.nn.relu(x)


def _abs(x):
    return jnp.abs(x)


def _identity(x):
    return x


def _make_leaky(alpha: float):
    def leaky(x):
        return jnp.where(x >= 0, x, alpha * x)

    return leaky


_NAMED = {
    "relu": lambda: Activation("relu", _relu, *_abrelu_maps(0.0, 1.0)),
    "abs": lambda: Activation("abs", _abs, *_abrelu_maps(-1.0, 1.0)),
    "erf": lambda: Activation("erf", erf, _erf_nngp, _erf_dot),
    "gelu": lambda: Activation("gelu", gelu_exact, _gelu_nngp, _gelu_dot),
    "sin": lambda: Activation("sin", jnp.sin, _sin_nngp, _sin_dot),
    "identity": lambda: Activation("identity", _identity, _identity_nngp, _identity_dot),
    "linear": lambda: Activation("identity", _identity, _identity_nngp, _identity_dot),
    "tanh": lambda: Activation("tanh", jnp.tanh),
    "softplus": lambda: Activation("softplus", jax.nn.softplus),
    "silu": lambda: Activation("silu", jax.nn.silu),
    "swish": lambda: Activation("silu", jax.nn.silu),
}

ACTIVATION_NAMES = ("relu", "erf", "gelu", "abs", "sin", "identity", "leaky_relu", "tanh",
                    "softplus", "silu")


def get_activation(spec) -> Activation:
    """Resolve an activation spec.

    Accepts a name ("relu", "erf", "gelu", "abs", "sin", "identity", "tanh", "softplus", "silu"),
    ("leaky_relu", {"alpha": a}), an `Activation`, or any elementwise callable (integrated by
    quadrature).
    """
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        key = spec.lower().strip()
        if key in ("leaky_relu", "leakyrelu"):
            return get_activation(("leaky_relu", {"alpha": 0.01}))
        if key not in _NAMED:
            raise ValueError(
                f"Unknown activation {spec!r}. Choose one of {', '.join(ACTIVATION_NAMES)}, "
                "('leaky_relu', {'alpha': a}), or pass an elementwise callable."
            )
        return _NAMED[key]()
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[0], str):
        name, kw = spec
        kw = dict(kw or {})
        if name.lower() in ("leaky_relu", "leakyrelu"):
            unknown = set(kw) - {"alpha"}
            if unknown:
                raise ValueError(f"leaky_relu takes only 'alpha', got {sorted(unknown)}.")
            alpha = kw.get("alpha", 0.01)
            if not isinstance(alpha, (int, float)) or not np.isfinite(alpha):
                raise ValueError(f"leaky_relu alpha must be a finite number, got {alpha!r}.")
            alpha = float(alpha)
            return Activation("leaky_relu", _make_leaky(alpha), *_abrelu_maps(alpha, 1.0),
                              params=(("alpha", alpha),))
        if not kw:
            return get_activation(name)
        raise ValueError(f"Activation {name!r} takes no parameters, got {kw}.")
    if callable(spec):
        name = getattr(spec, "__name__", "custom")
        return Activation("custom", spec, params=(("fn", name),))
    raise TypeError(
        f"activation must be a name, ('leaky_relu', {{'alpha': a}}) or a callable, got {spec!r}."
    )


def pair_maps(act: Activation, rule=None) -> tuple[PairMap, PairMap]:
    """(nngp_map, dot_map) for an activation; quadrature ones use `rule` (default GH degree 64)."""
    if act.closed_form:
        return act.nngp_map, act.dot_map
    return quadrature_maps(act.fn, rule or ("gh", 64), act.dfn)


# ---------------------------------------------------------------------------------------------
# Parameterised families (neural-tangents' stax activations)
# ---------------------------------------------------------------------------------------------

def _abrelu_fn(a: float, b: float):
    """a min(x, 0) + b max(x, 0) as one select, with that formula's derivative: b above 0, a below,
    (a + b) / 2 at 0 (the convention of jnp.minimum / jnp.maximum, hence of NT's ABRelu). One
    elementwise pass instead of five on the largest activations of a network."""

    @jax.custom_jvp
    def fn(x):
        return jnp.where(x > 0, b * x, a * x)

    @fn.defjvp
    def _jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        slope = jnp.where(x > 0, b, jnp.where(x < 0, a, 0.5 * (a + b))).astype(t.dtype)
        return fn(x), slope * t

    return fn


def abrelu(a: float, b: float) -> Activation:
    """phi(x) = a min(x, 0) + b max(x, 0) (ReLU: a=0, b=1; leaky ReLU: a=alpha; abs: a=-1)."""
    a, b = float(a), float(b)
    fn = _abrelu_fn(a, b)
    return Activation("abrelu", fn, *_abrelu_maps(a, b), params=(("a", a), ("b", b)))


def erf_affine(a: float = 1.0, b: float = 1.0, c: float = 0.0) -> Activation:
    """phi(x) = a erf(b x) + c:  E[phi phi] = a^2 E[erf(bu) erf(bv)] + c^2 (erf is odd), and
    E[phi' phi'] = a^2 b^2 E[erf'(bu) erf'(bv)], with (bu, bv) of covariance b^2 K."""
    a, b, c = float(a), float(b), float(c)
    b2 = b * b

    def fn(x):
        return a * erf(b * x) + c

    def nngp(q1, q2, rho):
        return a * a * _erf_nngp(b2 * q1, b2 * q2, rho) + c * c

    def dot(q1, q2, rho):
        return a * a * b2 * _erf_dot(b2 * q1, b2 * q2, rho)

    return Activation("erf_affine", fn, nngp, dot, params=(("a", a), ("b", b), ("c", c)))


def sin_affine(a: float = 1.0, b: float = 1.0, c: float = 0.0) -> Activation:
    """phi(x) = a sin(b x + c). With s = q1 + q2 and k = rho sqrt(q1 q2):
    E[phi phi] = a^2/2 (exp(-b^2 (s - 2k)/2) - cos(2c) exp(-b^2 (s + 2k)/2)),
    E[phi' phi'] = a^2 b^2/2 (exp(-b^2 (s - 2k)/2) + cos(2c) exp(-b^2 (s + 2k)/2))."""
    a, b, c = float(a), float(b), float(c)
    b2, cos2c = b * b, math.cos(2 * c)

    def fn(x):
        return a * jnp.sin(b * x + c)

    def terms(q1, q2, rho):
        k = rho * _sqrt_prod(q1, q2)
        s = q1 + q2
        return jnp.exp(-b2 * (s / 2 - k)), cos2c * jnp.exp(-b2 * (s / 2 + k))

    def nngp(q1, q2, rho):
        e1, e2 = terms(q1, q2, rho)
        return a * a / 2 * (e1 - e2)

    def dot(q1, q2, rho):
        e1, e2 = terms(q1, q2, rho)
        return a * a * b2 / 2 * (e1 + e2)

    return Activation("sin_affine", fn, nngp, dot, params=(("a", a), ("b", b), ("c", c)))
