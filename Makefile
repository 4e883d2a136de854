# Two entry points (see README): `make run` starts the app, `make test` runs every test.
# Both create/update the virtual environment they need.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test venv
venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r requirements.txt
	$(VPY) -m pip install -q --no-deps -e .
	touch $@

run: $(STAMP)
	$(VENV)/bin/streamlit run app.py

# Extra targets (reference env, browser deps, benchmarks) live in mk/*.mk.
-include mk/*.mk

TEST_DEPS ?=
test: $(STAMP) $(TEST_DEPS)
	$(VPY) -m pytest -n 2 -q tests
