# The project's vocabulary: make install | test | lint | build | deploy | bench | demo | docs
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STACK ?= aup-enforcer
PYTEST_ARGS ?=

.PHONY: install lock test test-fast test-future lint format typecheck build deploy bench bench-trees demo eval eval-fast reliability docs clean e2e

install: $(STAMP)

# Pinned, hashed dependencies (`make lock` writes both): the venv from DEV_LOCK (the [dev] extras and the
# runtime, every distribution's hash, universal markers from Python 3.11), the layer from LAYER_LOCK
# (requirements/layer.in for python3.13 on arm64, what `sam build` installs).
DEV_LOCK := requirements/dev.lock
LAYER_LOCK := layers/aup/requirements.txt
LOCK_ARGS ?=
LAYER_PLATFORM := --python-version 3.13 --implementation cp --only-binary=:all: \
	--platform manylinux_2_34_aarch64 --platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64

# Idempotent: the venv is rebuilt only when pyproject.toml or the dev lock changes. The project itself is
# installed editable without dependencies or build isolation (setuptools and wheel come from the lock).
$(STAMP): pyproject.toml $(DEV_LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Re-resolve the locks after pyproject.toml or requirements/layer.in changes, keeping every pin that
# still fits (LOCK_ARGS=--upgrade moves everything to the newest, LOCK_ARGS='--upgrade-package X' one).
# The layer is resolved under the dev lock's pins, so tests run the versions the layer ships.
# uv comes from the dev lock (`make install`); with no lock yet, from PyPI.
lock:
	@test -x $(BIN)/uv || { test -f $(DEV_LOCK) && $(MAKE) install; } || \
	  { test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); $(BIN)/python -m pip install --quiet uv; }
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes \
	  --custom-compile-command 'make lock' --quiet -o $(DEV_LOCK) $(LOCK_ARGS)
	$(BIN)/uv pip compile requirements/layer.in -c $(DEV_LOCK) --python-version 3.13 \
	  --python-platform aarch64-manylinux_2_34 --generate-hashes --custom-compile-command 'make lock' \
	  --quiet -o $(LAYER_LOCK) $(LOCK_ARGS)

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
	@# sam build checks the lock's hashes only for the wheels it first downloads for the build machine and
	@# fetches the arm64 ones by name==version; this fetches those against the lock's hashes first.
	$(BIN)/python -m pip download --quiet --require-hashes --no-deps $(LAYER_PLATFORM) \
	  -d .aws-sam/layer-wheels -r $(LAYER_LOCK)
	PATH="$(CURDIR)/.aws-sam/py313:$(CURDIR)/$(BIN):$$PATH" SAM_CLI_TELEMETRY=0 $(BIN)/sam build --template template.yaml

deploy: build
	PATH="$(CURDIR)/$(BIN):$$PATH" SAM_CLI_TELEMETRY=0 $(BIN)/sam deploy --stack-name $(STACK)

bench: install
	$(BIN)/python -m tests.bench

# The older checkouts make bench compares with, as git worktrees under .bench/ (ignored): the code before
# issue 11 (base), the log analyzer as issue 11 left it (step), the scanner as issue 11 left it (step-scan).
BENCH_BASE ?= ce22c70
BENCH_STEP ?= 4155bdd
BENCH_STEP_SCAN ?= 246843c
bench-trees:
	test -d .bench/base || git worktree add -f .bench/base $(BENCH_BASE)
	test -d .bench/step || git worktree add -f .bench/step $(BENCH_STEP)
	test -d .bench/step-scan || git worktree add -f .bench/step-scan $(BENCH_STEP_SCAN)

demo: install
	$(BIN)/aupctl demo --html demo-report.html

# The product's truth (tests/eval): a labelled corpus of honest and abusive behaviour through the real
# handlers on a fresh local stack. Fails when an honest scenario not marked known is suspended, struck
# or denied (EVAL_ARGS=--strict: any honest one); missed attacks are printed, not failed.
# POLICY=FILE: the stack runs that policy document (a candidate's honest and attack outcomes).
EVAL_ARGS ?=
POLICY ?=
EVAL_POLICY = $(if $(POLICY),--policy $(POLICY))
eval: install
	$(BIN)/python -m tests.eval --json .aupctl/eval-report.json $(EVAL_POLICY) $(EVAL_ARGS)

eval-fast: install
	$(BIN)/python -m tests.eval --fast --json .aupctl/eval-fast.json $(EVAL_POLICY) $(EVAL_ARGS)

# The policy reference (docs/policy.schema.json, docs/policy-reference.md), generated from the model.
docs: install
	$(BIN)/python -m aup.policy.schema docs

# The operators' console in headless Chromium (tests/e2e, marker e2e: never in `make test`). Debian's
# chromium, driven by playwright's Python package (no browser download). Without chromium it skips
# with a message, except in CI (CI=true), where that is a failure. Screenshots: E2E_ARTIFACTS.
CHROMIUM ?= $(shell command -v chromium 2>/dev/null || echo /usr/bin/chromium)
E2E_ARTIFACTS ?= $(CURDIR)/.artifacts/e2e
e2e: install
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$${CI:-}" = "true" ]; then \
	    echo "make e2e: chromium not found ($(CHROMIUM)); CI needs it: apt-get install -y --no-install-recommends chromium" >&2; exit 1; \
	  fi; \
	  echo "make e2e: SKIPPED, chromium is not installed (apt-get install -y --no-install-recommends chromium)"; exit 0; \
	fi; \
	AUP_E2E_CHROMIUM="$(CHROMIUM)" AUP_E2E_ARTIFACTS="$(E2E_ARTIFACTS)" \
	  $(BIN)/python -m pytest -m e2e -p no:cacheprovider tests/e2e $(PYTEST_ARGS); \
	status=$$?; echo "make e2e: screenshots in $(E2E_ARTIFACTS)"; exit $$status

reliability: install
	$(BIN)/python -m pytest -n 2 --dist loadfile tests/reliability $(PYTEST_ARGS)

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
