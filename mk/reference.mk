# Pinned neural-tangents reference environment (.venv-ref): jax 0.4.25 + neural-tangents 0.6.5,
# numpy<2, scipy<1.14, no TensorFlow (see tests/reference/README.md).
# Included by the top-level Makefile; `make test` depends on it through TEST_DEPS, so a failed
# build fails `make test` (and CI) instead of silently skipping the reference tests.
#
#   make venv-ref     build/refresh .venv-ref (no-op while its inputs are unchanged)
#   make clean-ref    remove it
#
# The venv is rebuilt from scratch whenever requirements-reference.txt (or this file) changes, and
# installed with --no-deps: requirements-reference.txt is the complete, exact closure (NT's declared
# tensorflow / tf2jax requirements are intentionally left out; tests/reference/nt_import.py stubs
# the one NT module that needs them).  The build ends with an import smoke test.

# jaxlib 0.4.25 has wheels for CPython 3.9-3.12 only; prefer 3.11 when it exists.
REF_PY ?= $(shell command -v python3.11 2>/dev/null || echo python3)
REF_VENV := .venv-ref
REF_VPY := $(REF_VENV)/bin/python
REF_STAMP := $(REF_VENV)/.installed

.PHONY: venv-ref clean-ref
venv-ref: $(REF_STAMP)

$(REF_STAMP): requirements-reference.txt mk/reference.mk
	@echo "[reference] building $(REF_VENV) with $(REF_PY)"
	@$(REF_PY) -c 'import sys; v = sys.version_info[:2]; \
	  sys.exit(0 if (3, 9) <= v <= (3, 12) else \
	  "[reference] ERROR: jaxlib 0.4.25 needs CPython 3.9-3.12, got %d.%d; set REF_PY=python3.X" % v)'
	rm -rf $(REF_VENV)
	$(REF_PY) -m venv $(REF_VENV)
	$(REF_VPY) -m pip install -q --no-deps -r requirements-reference.txt \
	  || { echo "[reference] ERROR: pip install of requirements-reference.txt failed" >&2; exit 1; }
	PYTHONPATH=tests/reference $(REF_VPY) -c 'import jax, numpy, scipy, nt_import; \
	  print("[reference] ok: neural-tangents", nt_import.nt.__version__, "jax", jax.__version__, \
	        "numpy", numpy.__version__, "scipy", scipy.__version__)' \
	  || { echo "[reference] ERROR: $(REF_VENV) built but neural-tangents does not import" >&2; exit 1; }
	touch $@

clean-ref:
	rm -rf $(REF_VENV)

TEST_DEPS += $(REF_STAMP)
