# Set-up and the main jobs. Every target creates what it needs on first use.
#   make synth                 set up .venv (first time) and synthesize every environment
#   make synth ENV=prod        one environment (REGION=us-west-2 for one region)
#   make test                  set up .venv, .venv-checkov and the cdktf CLI (first time) and run the tests
#   make e2e                   deploy the dev environment to an emulated AWS, smoke-test it, destroy it
#   make drill                 the failover drill: deploy, fail over, redeploy, fail back, twice (real Terraform, emulator)
#   make e2e CONFIG=path ENV=name   another configuration or environment
#   make bench                 synth: lazy provider import; floor, cold and no-op synth (bench/)
#   make bench-web             load on the webapp (Python 3.9) at 50 and 400 connections
#   make diagram               redraw the README's diagram of DIAGRAM_ENV (prod) from the synthesized JSON
#   make bench-deploy          deploy to the emulated AWS with --parallel 1 and N (ENV=dev: one environment)
PYTHON ?= python3
VENV   ?= .venv
CHECKOV_VENV ?= .venv-checkov
ENV    ?= all
DIAGRAM_ENV ?= prod
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check --compile
REGION_ARG := $(if $(REGION),--region $(REGION),)
TOOLS  ?= .tools
CDKTF_CLI_VERSION := 0.21.0
CDKTF  := $(TOOLS)/node_modules/.bin/cdktf
# e2e deploys one environment: ENV when given on the command line, else dev (or the first one).
E2E_ENV := $(if $(filter command line,$(origin ENV)),$(ENV),)
# The tool runs from this folder; only its pinned dependencies (pyproject.toml) are installed.
DEPS    = $(PY) -c "import sys, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
          print('\n'.join(p['optional-dependencies'][sys.argv[1]] if len(sys.argv) > 1 else p['dependencies']))"

.PHONY: setup setup-dev tools synth list validate test drill e2e lint format bench bench-web diagram bench-deploy clean
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

# The cdktf CLI (npm), with the virtualenv's Node 24 and its npm, into this project's own folder.
# Its terminal module ships no prebuilt binary for Node 24 (ABI 137): it is compiled here against
# the virtualenv's Node headers (gcc and make, no download).
$(CDKTF): $(VENV)/.runtime
	node_bin=$$($(PY) -c "from modules.runtime import bundled_node_bin; print(bundled_node_bin())") && \
	PATH="$$node_bin:$$PATH" "$$node_bin/node" "$$node_bin/../lib/node_modules/npm/bin/npm-cli.js" install \
	  --prefix $(TOOLS) --no-audit --no-fund --loglevel=error --save-exact cdktf-cli@$(CDKTF_CLI_VERSION) && \
	cd $(TOOLS)/node_modules/@cdktf/node-pty-prebuilt-multiarch && \
	PATH="$$node_bin:$$PATH" "$$node_bin/node" "$$node_bin/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js" \
	  rebuild --nodedir="$$node_bin/.." >/dev/null
	touch $@

setup: $(VENV)/.runtime
tools: $(CDKTF)
setup-dev: $(VENV)/.dev $(CHECKOV_VENV)/.installed

synth: setup
	$(PY) main.py synth --env $(ENV) $(REGION_ARG)

list: setup
	$(PY) main.py list --env $(ENV) $(REGION_ARG)

validate: setup
	$(PY) main.py validate --env $(ENV) $(REGION_ARG)

test: setup-dev $(CDKTF)
	$(PY) -m pytest

drill: setup-dev $(CDKTF)
	$(PY) -m pytest -m drill tests/test_failover_roundtrip.py

e2e: setup-dev $(CDKTF)
	$(PY) -m e2e.run --cdktf $(CDKTF) $(if $(E2E_ENV),--env $(E2E_ENV),) $(if $(CONFIG),--config $(CONFIG),)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	$(PY) bench/synth_bench.py
	$(PY) bench/synth_floor.py

bench-web: setup
	$(PY) bench/webapp_load.py

diagram: setup
	$(PY) main.py graph --env $(DIAGRAM_ENV) --readme README.md

bench-deploy: setup
	$(PY) bench/deploy_bench.py --env $(ENV)

clean:
	rm -rf cdktf.out .pytest_cache .ruff_cache
