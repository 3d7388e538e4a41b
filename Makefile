# otel-mlflow developer commands. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# MLflow's usage telemetry would try to reach the internet: off for our own commands.
export MLFLOW_DISABLE_TELEMETRY ?= true

.PHONY: install system-packages interop demo test test-fast lint bench stack clean
# Debian packages the tests run: curl (an OTLP client of the receiver's conformance tests), chromium (what
# MLflow's UI shows, tests/test_ui.py), postgresql, nodejs (the Vercel AI SDK of the interop matrix)
SYSTEM_PACKAGES := curl chromium postgresql nodejs
# the other SDKs of the interop matrix (tests/test_interop_matrix.py), each in its own venv or npm folder
INTEROP := .interop
INTEROP_STAMP := $(INTEROP)/.installed

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

system-packages:
	bash scripts/system-packages.sh $(SYSTEM_PACKAGES)

interop: $(INTEROP_STAMP)

$(INTEROP_STAMP): $(wildcard tests/interop/requirements-*.txt) tests/interop/vercel/package-lock.json
	bash scripts/interop-envs.sh $(INTEROP)
	touch $(INTEROP_STAMP)

demo: install
	$(PY) examples/demo.py

# pure and in-process tests: no servers, browsers, subprocesses or volume runs (a test that starts a process fails)
FAST := not server and not subprocess and not slow

# the whole suite: the fast tests first (held to their marks, as test-fast does), then every other one
test: install system-packages interop
	OTEL_MLFLOW_FAST_TESTS=1 $(PY) -m pytest -n 2 -m "$(FAST)"
	$(PY) -m pytest -n 2 -m "not ($(FAST))"

test-fast: install
	OTEL_MLFLOW_FAST_TESTS=1 $(PY) -m pytest -n 2 -m "$(FAST)"

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

stack: install system-packages
	$(PY) scripts/stack.py

bench: install
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) $(INTEROP) tests/interop/vercel/node_modules .demo .stack .pytest_cache
