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

# After an install or a change of the ntk sources: compute the app's default views once into its
# on-disk caches (about 20 s), so the server's first visits read them instead of computing.
WARM := $(VENV)/.app-warm
$(WARM): $(STAMP) $(shell find ntk -name "*.py")
	$(VPY) -m ntk warm-app || echo "(warm-up skipped: the app computes on the first visit)"
	touch $@

run: $(STAMP) $(WARM)
	$(VENV)/bin/streamlit run app.py

# Extra targets (reference env, browser deps, benchmarks) live in mk/*.mk.
-include mk/*.mk

TEST_DEPS ?=
# One line per finished test file (tests/_progress.py), the 15 slowest tests at the end.
test: $(STAMP) $(TEST_DEPS)
	$(VPY) -m pytest -n 2 --dist worksteal -q --durations=15 $(PYTEST_MARKS) tests
