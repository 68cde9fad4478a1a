# Two commands work on a fresh machine: `make report` and `make test`.
# Both set up the environment first when needed (.venv from requirements.lock).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp
PARAMS ?= params/default.yaml
export PYTHONHASHSEED := 0
# matplotlib: Agg (no display) only for the commands that run no kernel; the kernels of
# `make lab` and `make report` get the inline backend, so notebooks show their figures
# (the report runner sets it for the kernels itself, see analysis/report/runner.py).
HEADLESS := MPLBACKEND=Agg
# pytest workers (pytest-xdist): the suite is safe to split; 2 matches CI's two cores
TEST_WORKERS ?= 2

.DEFAULT_GOAL := help
.PHONY: help setup test report phantom lab clean bench train export lint lock env browser r strip

help: ## Show this help
	@grep -E '^[a-zA-Z_%-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {sub("%", "NN", $$1); printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

setup: $(STAMP) ## Create .venv from requirements.lock (idempotent: a stamp file)

browser: ## Install Debian's chromium for the report's rendering test, when missing
	@bash tools/ensure_chromium.sh

r: ## Install Debian's R with survival, cmprsk and psych for the live R checks, when missing
	@bash tools/ensure_r.sh

test: $(STAMP) browser r ## Run the tests (lint, units, every notebook on params/ci.yaml)
	$(PY) -m ruff check analysis tests
	$(HEADLESS) $(PY) -m pytest -n $(TEST_WORKERS)

report: $(STAMP) ## Regenerate every table and figure: make report [PARAMS=params/x.yaml]
	$(PY) -m analysis.report --params $(PARAMS) $(if $(FORCE),--force)

# One step of the chain, e.g. `make report-05`: reruns it only when its inputs changed
# (content-hash stamps in reports/<run>/stamps/, see analysis/report/runner.py); FORCE=1 reruns.
report-%: $(STAMP) ## One step, e.g. make report-05 [PARAMS=...] (when its inputs changed)
	$(PY) -m analysis.report --params $(PARAMS) --only $* $(if $(FORCE),--force)

phantom: $(STAMP) ## Write the phantom department export: make phantom [PARAMS=...]
	$(HEADLESS) $(PY) -m analysis.phantom --params $(PARAMS)

train: $(STAMP) ## Train the station segmentation model: make train [PARAMS=...]
	$(HEADLESS) $(PY) -m analysis.phantom.segmentation train --params $(PARAMS)

export: $(STAMP) ## Each analysed patient's stations as RTSTRUCT, DICOM-SEG, NIfTI: make export [PARAMS=...]
	$(HEADLESS) $(PY) -m analysis.segment export --params $(PARAMS)

bench: $(STAMP) ## Speed and memory benchmarks (medians, side by side)
	$(HEADLESS) $(PY) -m analysis.bench

# Lab opens at the repository root (notebooks/, params/, reports/ side by side); the
# notebooks load the run PARAMS names (SCLC_PARAMS, see analysis/params.py); the project's
# Jupyter settings in jupyter/ strip outputs on save and fetch no news (analysis/report/lab.py).
lab: $(STAMP) ## Open JupyterLab on a run: make lab [PARAMS=params/x.yaml]
	@test -f $(PARAMS) || { echo "make lab: no params file $(PARAMS) (see params/)"; exit 2; }
	env -u MPLBACKEND SCLC_PARAMS=$(PARAMS) PYTHONPATH=$(CURDIR) \
	  JUPYTER_CONFIG_PATH=$(CURDIR)/jupyter$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH} \
	  $(VENV)/bin/jupyter lab --ServerApp.root_dir=$(CURDIR) \
	  $(if $(filter 0,$(shell id -u)),--allow-root)

strip: ## Remove outputs from notebooks/*.ipynb (make lab does it on save)
	$(PY) -m analysis.report.lab notebooks/*.ipynb

lint: $(STAMP) ## ruff on the package and tests
	$(PY) -m ruff check analysis tests

lock: ## Re-resolve requirements.in into requirements.lock (needs the registries)
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install --quiet -r requirements.in
	.lockvenv/bin/pip freeze --exclude-editable | sort > requirements.lock
	rm -rf .lockvenv
	$(PYTHON) tools/lock_to_env.py

env: ## Regenerate environment.yml (conda) from requirements.lock
	$(PYTHON) tools/lock_to_env.py

clean: ## Remove generated data, reports and caches (keeps .venv and the pseudonym key)
	rm -rf data reports/*/ .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
