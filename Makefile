# Set-up and the main jobs. Every target creates what it needs on first use.
#   make synth                 set up .venv (first time) and synthesize every environment
#   make synth ENV=prod        one environment (REGION=us-west-2 for one region)
#   make test                  set up .venv and .venv-checkov (first time) and run the tests
PYTHON ?= python3
VENV   ?= .venv
CHECKOV_VENV ?= .venv-checkov
ENV    ?= all
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check --compile
REGION_ARG := $(if $(REGION),--region $(REGION),)
# The tool runs from this folder; only its pinned dependencies (pyproject.toml) are installed.
DEPS    = $(PY) -c "import sys, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
          print('\n'.join(p['optional-dependencies'][sys.argv[1]] if len(sys.argv) > 1 else p['dependencies']))"

.PHONY: setup setup-dev synth list test lint bench clean
.DEFAULT_GOAL := synth

$(VENV)/.runtime: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(DEPS) > $(VENV)/requirements.txt
	$(PIP) -r $(VENV)/requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(DEPS) dev > $(VENV)/requirements-dev.txt
	$(PIP) -r $(VENV)/requirements-dev.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --compile -r requirements-checkov.txt
	touch $@

setup: $(VENV)/.runtime
setup-dev: $(VENV)/.dev $(CHECKOV_VENV)/.installed

synth: setup
	$(PY) main.py synth --env $(ENV) $(REGION_ARG)

list: setup
	$(PY) main.py list --env $(ENV) $(REGION_ARG)

test: setup-dev
	$(PY) -m pytest

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

bench: setup
	$(PY) bench/synth_bench.py

clean:
	rm -rf cdktf.out .pytest_cache .ruff_cache
