"""NT 0.6.5's names, keyword arguments and defaults (issue 12's contract), read from neural-tangents.

``nt_signatures.py`` dumps the signatures of the surface the issue names in both environments;
each NT parameter must appear in ours at the same position with the same name, and, where NT has
a default, with the same default. Ours may add trailing parameters with defaults, give a default
where NT has none, and differ where ``ALLOWED`` says why.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from test_against_nt import REF_PY, ROOT, _require_ref_env

pytestmark = pytest.mark.reference

SCRIPT = ROOT / "tests" / "reference" / "nt_signatures.py"

#: (function, parameter) -> why ours differs from NT 0.6.5 there
ALLOWED = {
    **{(f, "implementation"): "default 0 = auto (the cheapest method; every method gives the same kernel) "
                              "where NT defaults to 1"
       for f in ("empirical_ntk_fn", "empirical_kernel_fn", "monte_carlo_kernel_fn")},
    ("layer.kernel_fn", "x1_or_kernel"): "named x1: our kernel_fn takes inputs, not NT's Kernel objects",
    ("layer.kernel_fn", "pattern"): "accepted through **kw (ignored); NT's masking is not supported",
    ("layer.kernel_fn", "mask_constant"): "accepted through **kw; refused with a ValueError when given",
    ("layer.kernel_fn", "diagonal_batch"): "accepted through **kw (our kernel state keeps the batch axes)",
    ("layer.kernel_fn", "diagonal_spatial"): "accepted through **kw",
    ("layer.kernel_fn", "kwargs"): "named kw",
    ("layer.apply_fn", "kwargs"): "named kw",
}


def _dump(python, which, out):
    p = subprocess.run([str(python), str(SCRIPT), which, str(out)], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def signatures(tmp_path_factory):
    _require_ref_env()
    d = tmp_path_factory.mktemp("signatures")
    return _dump(sys.executable, "ours", d / "ours.json"), _dump(REF_PY, "nt", d / "nt.json")


POSITIONAL = ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD", "VAR_POSITIONAL")


def _differences(fn, nt_params, our_params):
    """NT's positional parameters by position, its keyword-only ones by name, **kwargs by kind."""
    out = []
    ours_pos = [p for p in our_params if p[1] in POSITIONAL]
    ours_by_name = {p[0]: p for p in our_params}
    ours_var_kw = any(p[1] == "VAR_KEYWORD" for p in our_params)
    nt_pos = [p for p in nt_params if p[1] in POSITIONAL]
    for i, (name, kind, default) in enumerate(nt_params):
        if (fn, name) in ALLOWED:
            continue
        if kind == "VAR_KEYWORD":
            if not ours_var_kw:
                out.append(f"{fn}: NT takes **{name}, ours takes no extra keywords")
            continue
        if kind in POSITIONAL:
            j = nt_pos.index([name, kind, default])
            mine = ours_pos[j] if j < len(ours_pos) else None
            if mine is None or mine[0] != name or mine[1] != kind:
                out.append(f"{fn}: positional parameter {j} is {mine}, NT's is {[name, kind, default]}")
                continue
        else:
            mine = ours_by_name.get(name)
            if mine is None or mine[1] in ("POSITIONAL_ONLY", "VAR_POSITIONAL", "VAR_KEYWORD"):
                out.append(f"{fn}: NT's keyword {name!r} is missing")
                continue
        if default is not None and mine[2] != default:
            out.append(f"{fn}: {name}={mine[2]} where NT has {name}={default}")
    nt_names = {p[0] for p in nt_params}
    extra = ours_pos[len(nt_pos):] + [p for p in our_params if p[1] == "KEYWORD_ONLY" and p[0] not in nt_names]
    for o_name, o_kind, o_default in extra:
        if o_default is None and o_kind != "VAR_POSITIONAL":
            out.append(f"{fn}: extra parameter {o_name!r} has no default, NT's calls would miss it")
    return out


def test_names_keywords_and_defaults_are_nts(signatures):
    ours, nt = signatures
    assert set(ours) == set(nt) and len(nt) >= 40
    problems = [p for fn in sorted(nt) for p in _differences(fn, nt[fn], ours[fn])]
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_renamed_keyword():
    nt = [["f", "POSITIONAL_OR_KEYWORD", None], ["params", "POSITIONAL_OR_KEYWORD", None]]
    assert _differences("linearize", nt, [["apply_fn", "POSITIONAL_OR_KEYWORD", None], nt[1]])
    assert _differences("x", [["a", "POSITIONAL_OR_KEYWORD", "1.0"]], [["a", "POSITIONAL_OR_KEYWORD", "2.0"]])
    assert not _differences("x", [["a", "POSITIONAL_OR_KEYWORD", None]], [["a", "POSITIONAL_OR_KEYWORD", "2.0"]])
    assert _differences("x", [], [["a", "POSITIONAL_OR_KEYWORD", None]])               # a new required argument
    assert _differences("x", [["k", "KEYWORD_ONLY", "1"]], [["kw", "VAR_KEYWORD", None]])  # NT's keyword missing
    assert not _differences("x", [["a", "POSITIONAL_OR_KEYWORD", None], ["kw", "VAR_KEYWORD", None]],
                            [["a", "POSITIONAL_OR_KEYWORD", None], ["get", "KEYWORD_ONLY", "None"],
                             ["kwargs", "VAR_KEYWORD", None]])
