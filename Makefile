# Each target creates .venv itself if it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_WORKERS ?= 2

.PHONY: demo test lint docs bench fuzz clean browser

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel

# The C read-ahead (artstore/_readahead.c) is compiled by the editable install: a change to
# it installs again.
CSRC := artstore/_readahead.c $(wildcard artstore/_blake3/*.c artstore/_blake3/*.h)

$(VENV)/.installed-test: $(PY) setup.cfg setup.py $(CSRC)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.installed: $(PY) setup.cfg setup.py $(CSRC)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-docs: $(PY) setup.cfg setup.py $(CSRC)
	$(PY) -m pip install --quiet -e '.[docs]'
	touch $@

demo: $(VENV)/.installed
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/demo.sh

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check artstore tests benchmarks

test: lint browser
	$(PY) -m pytest -n $(PYTEST_WORKERS) -q

# The long fuzz run (tests/test_fuzz.py): random command lines against a populated store.
# ARTSTORE_FUZZ_EXAMPLES sets the example count (default 2000, about 10 minutes).
fuzz: $(VENV)/.installed-test
	$(PY) -m pytest -m fuzz tests/test_fuzz.py -q -p no:cacheprovider

# Debian's Chromium and its driver for tests/test_ui_browser.py, installed by `make test`
# where it can be (root with apt-get, as in CI); elsewhere the browser tests say what to do.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver; \
		else \
			echo "make: Chromium is not installed (apt-get install chromium chromium-driver, as root)"; \
		fi

docs: $(VENV)/.installed-docs
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

bench: $(VENV)/.installed
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) docs/_build build *.egg-info
