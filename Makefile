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

.PHONY: setup test lint lab demo site clean bench grade hub hub-setup hub-stop hub-remove

JUPYTER_EXT := $(VENV)/etc/jupyter/jupyter_server_config.d/chainrule.json

setup: $(STAMP) $(JUPYTER_EXT)

# Re-runs only when the dependency lists change; a finished setup costs nothing. Each step says what it
# does and roughly how long it takes; pip lists the packages it collects as it goes.
$(STAMP): pyproject.toml environment.yml tools/node/package-lock.json
	@echo "setup [1/6] checking for Python 3.11 (instant)"
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 is required, found {sys.version.split()[0]} at {sys.executable}"'
	@echo "setup [2/6] creating the virtual environment $(VENV)/ (a few seconds)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "setup [3/6] upgrading pip in $(VENV)/ (under a minute)"
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@echo "setup [4/6] installing chainrule and its dependencies: numpy, sympy, matplotlib, nbgrader, jupyterlab, pytest, jupyter-book, playwright ... (1-4 minutes on a fresh machine, seconds when installed)"
	@set -o pipefail; $(PY) -m pip install --disable-pip-version-check --progress-bar off -e '.[dev]' \
	  | grep --line-buffered -E '^(Collecting|Installing collected|Successfully installed)' | sed -u 's/^/    /' \
	  || { echo "setup: pip install failed; rerun without the filter to see why: $(PY) -m pip install -e '.[dev]'"; exit 1; }
	@echo "setup [5/6] chromium for the browser tests (1-2 minutes with apt when it is missing, instant otherwise)"
	@bash tools/install_browser.sh || echo "warning: no chromium; browser tests will be skipped"
	@echo "setup [6/6] npm packages for math typeset at build time and the accessibility check (under a minute)"
	@bash tools/node/install.sh || echo "warning: no npm packages; math is typeset in the browser, axe test skipped"
	@touch $(STAMP)

# nbgrader's formgrader pages get offline MathJax from the autograder.formgrader server extension.
$(JUPYTER_EXT): $(STAMP) autograder/formgrader.py
	@echo "setup: enabling the formgrader MathJax extension for Jupyter servers in $(VENV)/ (instant)"
	@$(PY) -m autograder.formgrader >/dev/null

lint: setup
	$(VENV)/bin/ruff check .

test: setup lint
	@$(MAKE) --no-print-directory hub-setup || echo "warning: no configurable-http-proxy; the JupyterHub test will be skipped"
	$(PY) -m pytest -q -n $(JOBS) --dist loadgroup

# Started in the course folder, so that nbgrader (and its formgrader, for hand grading) finds the
# course's nbgrader_config.py.
lab: setup
	cd $(COURSE) && $(CURDIR)/$(VENV)/bin/jupyter lab

site: setup
	$(PY) -m autograder --course $(COURSE) release --quiet
	$(PY) course/site/build.py

demo: setup
	@echo "demo [1/2] the instructor pipeline on a generated sample class (2-5 minutes; each step prints its command and time)"
	$(PY) -m autograder.demo --course $(COURSE)
	@echo "demo [2/2] the static course site (about 1-2 minutes)"
	$(MAKE) --no-print-directory site
	@echo "Site: $(COURSE)/site/_build/html/index.html"

# The instructor's command line through the project's environment, from any shell:
#   make grade ARGS="grade --jobs 4"   (the same as .venv/bin/chainrule-grade --course course grade --jobs 4)
grade: setup
	$(VENV)/bin/chainrule-grade --course $(COURSE) $(ARGS)

bench: setup
	$(PY) bench/bench_numdiff.py
	$(PY) bench/bench_grade.py
	$(PY) bench/bench_site.py
	$(PY) bench/bench_cluster.py
	$(PY) bench/bench_hostile.py
	$(PY) bench/bench_hand_scale.py

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
