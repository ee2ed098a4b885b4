# LLM Training Dashboard: the two commands a newcomer needs are `make run` and `make test`.
# Installs are idempotent and skip themselves when already done: the Python environment is
# keyed on pyproject.toml (a stamp in .venv/), system packages on `command -v`.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stamp-install
# Debian packages the browser and deploy tests need (chromium's driver is its own package);
# postgresql: the run store's tests start a throwaway server (tracking/store/pgtest.py).
APT_PACKAGES := chromium chromium-driver nginx postgresql
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The folder of training logs `make run` and `make watch` follow into the run store.
RUNS ?= runs

.PHONY: help run watch test lint bench load serve screenshot install system-deps clean

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# The watcher runs in the background for as long as the app does: the trap stops it (SIGTERM,
# a clean stop between two files) however the app ends, Ctrl-C included.
run: install  ## start the dashboard on http://127.0.0.1:8050 and the log watcher on ./runs (RUNS=folder)
	@mkdir -p "$(RUNS)"
	@$(PY) -m tracking watch "$(RUNS)" & watcher=$$!; \
	trap 'kill $$watcher 2>/dev/null; wait $$watcher 2>/dev/null || true' EXIT; \
	$(PY) app.py --host 127.0.0.1 --port 8050

watch: install  ## follow the training logs under ./runs into the run store (RUNS=folder)
	$(PY) -m tracking watch "$(RUNS)"

# The suite takes ~10 min here; a process that hangs (once: at exit, after every test passed)
# fails at 30 min with its output instead of running out CI's clock.
test: install system-deps  ## install everything needed, then run the whole suite (unit, browser, deploy)
	timeout --kill-after=30 1800 $(PY) -m pytest

lint: install  ## ruff (lint + format check), mypy --strict on simulator/ and tracking/
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: install system-deps  ## run every benchmarks/bench_*.py and print its figures (one starts nginx + gunicorn)
	@shopt -s nullglob; files=(benchmarks/bench_*.py); \
	if [ $${#files[@]} -eq 0 ]; then echo "no benchmarks yet"; fi; \
	for f in "$${files[@]}"; do echo "== $$f"; $(PY) "$$f"; done

load: install system-deps  ## load and faults through nginx: 200 tabs, a worker killed, the ramp (~6 min, loopback only)
	$(PY) benchmarks/load_nginx.py --spawn

serve: install system-deps  ## production stack on loopback: nginx :8080 -> gunicorn :8000
	PYTHON=$(PY) deploy/serve.sh

screenshot: install system-deps  ## regenerate docs/screenshot.png (light) and docs/screenshot-dark.png
	$(PY) scripts/screenshot.py

install: $(STAMP)  ## create .venv and install the project with its test and dev extras

# Debian's own python3 keeps venv/ensurepip in a separate package: add it if it is missing.
$(PY):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ needed"'
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv && \
		$(PYTHON) -m venv $(VENV); }

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

system-deps:  ## apt-get install chromium, chromium-driver, nginx and postgresql if any is missing
	@missing=(); \
	command -v chromium >/dev/null || missing+=(chromium); \
	command -v chromedriver >/dev/null || missing+=(chromium-driver); \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx); \
	compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql); \
	if [ $${#missing[@]} -gt 0 ]; then \
		echo "installing $${missing[*]} with apt-get"; \
		$(SUDO) apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends "$${missing[@]}"; \
	fi

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
