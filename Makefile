# chainrule: `make demo` runs the whole instructor pipeline on a sample class; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp
COURSE := course
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# nbgrader shells out to `alembic` for its gradebook: the venv's bin must be on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup test lint lab demo site clean bench hub hub-setup hub-stop hub-remove

setup: $(STAMP)

# Re-runs only when the dependency lists change; a finished setup costs nothing.
$(STAMP): pyproject.toml environment.yml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 is required, found {sys.version.split()[0]} at {sys.executable}"'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@bash tools/install_browser.sh || echo "warning: no chromium; browser tests will be skipped"
	@touch $(STAMP)

lint: setup
	$(VENV)/bin/ruff check .

test: setup lint
	@$(MAKE) --no-print-directory hub-setup || echo "warning: no configurable-http-proxy; the JupyterHub test will be skipped"
	$(PY) -m pytest -q -n $(JOBS) --dist loadgroup

lab: setup
	$(VENV)/bin/jupyter lab --notebook-dir=$(COURSE)

site: setup
	$(PY) -m autograder --course $(COURSE) release --quiet
	$(PY) course/site/build.py

demo: setup
	$(PY) -m autograder.demo --course $(COURSE)
	$(MAKE) --no-print-directory site
	@echo "Site: $(COURSE)/site/_build/html/index.html"

bench: setup
	$(PY) bench/bench_numdiff.py
	$(PY) bench/bench_grade.py
	$(PY) bench/bench_site.py
	$(PY) bench/bench_cluster.py

# A JupyterHub for one class on 127.0.0.1 (deploy/hub/): demo accounts, nbgrader's exchange; needs root.
HUB_STATE ?= /var/lib/chainrule-hub
HUB_PORT ?= 8000
HUB_PROXY_STAMP := deploy/hub/node_modules/.installed

hub-setup: $(HUB_PROXY_STAMP)

$(HUB_PROXY_STAMP): deploy/hub/package.json deploy/hub/package-lock.json
	bash deploy/hub/install_proxy.sh
	@touch $@

hub: setup hub-setup
	$(PY) deploy/hub/hubctl.py start --state $(HUB_STATE) --port $(HUB_PORT)

hub-stop:
	$(PY) deploy/hub/hubctl.py stop --state $(HUB_STATE)

# stop, then delete the demo accounts (and their homes) and $(HUB_STATE)
hub-remove:
	$(PY) deploy/hub/hubctl.py remove --state $(HUB_STATE)

clean:
	rm -rf $(COURSE)/release $(COURSE)/submitted $(COURSE)/autograded $(COURSE)/feedback \
	       $(COURSE)/reports $(COURSE)/exports $(COURSE)/gradebook.db $(COURSE)/.sample \
	       $(COURSE)/site/_build $(COURSE)/site/_generated .pytest_cache .ruff_cache bench/_out
	find . -name __pycache__ -prune -exec rm -rf {} +
