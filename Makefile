# otel-mlflow developer commands. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# MLflow's usage telemetry would try to reach the internet: off for our own commands.
export MLFLOW_DISABLE_TELEMETRY ?= true

.PHONY: install system-packages demo test test-fast lint bench stack clean
# Debian packages the tests run: curl (an OTLP client of the receiver's conformance tests), chromium (what
# MLflow's UI shows, tests/test_ui.py)
SYSTEM_PACKAGES := curl chromium postgresql

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

system-packages:
	bash scripts/system-packages.sh $(SYSTEM_PACKAGES)

demo: install
	$(PY) examples/demo.py

test: install system-packages
	$(PY) -m pytest -n 2

# pure and in-process tests: no servers, browsers, subprocesses or volume runs (a test that starts a process fails)
test-fast: install
	OTEL_MLFLOW_FAST_TESTS=1 $(PY) -m pytest -n 2 -m "not server and not subprocess and not slow"

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

stack: install system-packages
	$(PY) scripts/stack.py

bench: install
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .demo .stack .pytest_cache
