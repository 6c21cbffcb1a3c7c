# The project's vocabulary: make install | test | lint | build | deploy | bench | demo | docs
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STACK ?= aup-enforcer
PYTEST_ARGS ?=

.PHONY: install test test-fast test-future lint format typecheck build deploy bench demo eval eval-fast reliability docs clean

install: $(STAMP)

# Idempotent: the venv is rebuilt only when pyproject.toml changes.
$(STAMP): pyproject.toml layers/aup/requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=25 $(PYTEST_ARGS)

# The clock-shift guard (tests/clockshift.py): the in-process tiers with the wall clock a year and more
# ahead, so that a test hiding a fixed date the code judges against the real clock (a time bomb) fails
# the day it is written. Tests marked `server` (moto servers, subprocesses) are left out for time.
CLOCK_SHIFT_DAYS ?= 400
test-future: install
	$(BIN)/python -m pytest -n 2 --dist loadfile --clock-shift-days $(CLOCK_SHIFT_DAYS) -m "not server" \
	  tests/unit tests/integration tests/reliability $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/aup/aup functions aupctl
	$(BIN)/cfn-lint template.yaml
	PATH="$(CURDIR)/$(BIN):$$PATH" SAM_CLI_TELEMETRY=0 $(BIN)/sam validate --lint --region us-east-1

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# sam build for python3.13/arm64 needs a python3.13 on PATH: the first candidate that really runs
# 3.13 (pyenv's shims answer for versions that are not active, so real binaries come first).
PY313 = $(shell for c in $$(ls -d $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13 \
	$$HOME/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null) $$(command -v python3.13 2>/dev/null); do \
	"$$c" -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1 && { echo "$$c"; break; }; done)

build: install
	@if [ -z "$(PY313)" ]; then \
	  echo "make build: no working python3.13 on PATH or in pyenv; install one (e.g. 'pyenv install 3.13') and retry" >&2; \
	  exit 1; fi
	@mkdir -p .aws-sam/py313 && ln -sf "$(PY313)" .aws-sam/py313/python3.13 && ln -sf "$(PY313)" .aws-sam/py313/python3
	PATH="$(CURDIR)/.aws-sam/py313:$(CURDIR)/$(BIN):$$PATH" SAM_CLI_TELEMETRY=0 $(BIN)/sam build --template template.yaml

deploy: build
	PATH="$(CURDIR)/$(BIN):$$PATH" SAM_CLI_TELEMETRY=0 $(BIN)/sam deploy --stack-name $(STACK)

bench: install
	$(BIN)/python -m tests.bench

demo: install
	$(BIN)/aupctl demo --html demo-report.html

# The product's truth (tests/eval): a labelled corpus of honest and abusive behaviour through the real
# handlers on a fresh local stack. Fails when an honest scenario not marked known is suspended, struck
# or denied (EVAL_ARGS=--strict: any honest one); missed attacks are printed, not failed.
EVAL_ARGS ?=
eval: install
	$(BIN)/python -m tests.eval --json .aupctl/eval-report.json $(EVAL_ARGS)

eval-fast: install
	$(BIN)/python -m tests.eval --fast --json .aupctl/eval-fast.json $(EVAL_ARGS)

# The policy reference (docs/policy.schema.json, docs/policy-reference.md), generated from the model.
docs: install
	$(BIN)/python -m aup.policy.schema docs

reliability: install
	$(BIN)/python -m pytest -n 2 --dist loadfile tests/reliability $(PYTEST_ARGS)

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
