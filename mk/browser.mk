# Browser tests (tests/browser): headless Debian chromium driven by playwright (python package).
# `make test` depends on browser-deps through TEST_DEPS, so a missing browser is installed (root +
# apt-get) or the build fails, instead of the browser tests being skipped silently.
CHROMIUM ?= /usr/bin/chromium

.PHONY: browser-deps test-browser
browser-deps:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "[browser] $(CHROMIUM) missing: installing chromium with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	    || { echo "[browser] ERROR: could not install chromium (need root + apt-get)"; exit 1; }; \
	fi

test-browser: $(STAMP) browser-deps
	CI=$${CI:-true} $(VPY) -m pytest -q tests/browser

# `make test SKIP_BROWSER=1` leaves the browser out: no apt-get, browser tests deselected.
ifeq ($(SKIP_BROWSER),1)
PYTEST_MARKS := -m "not browser"
else
TEST_DEPS += browser-deps
endif
