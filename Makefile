# The two set-up commands are `make run` and `make test`; everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run demo test test-fast fuzz lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start OneVault on the embedded default (PostgreSQL + Redis + simulator + gateway).
run: install
	$(VENV)/bin/onevault up

demo: install
	$(VENV)/bin/onevault demo

## Run the whole suite (installs first if needed).
test: install
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest

## Everything but the slow areas (tests/conftest.py SLOW_AREAS and modules marked slow): a quick loop.
test-fast: install
	$(PY) -m ruff check .
	$(PY) -m pytest -m "not slow"

## A longer property-based run of both APIs from their OpenAPI schema (make test runs a short one).
fuzz: install
	ONEVAULT_FUZZ_EXAMPLES=200 $(PY) -m pytest -q tests/gateway/e2e/test_schema_fuzz.py tests/gateway/e2e/test_bad_input.py

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

## Every benchmark in benchmarks/ (each prints a table, writes benchmarks/results/<name>.json).
## Short durations here; run one by hand for the long version (e.g. sustained_load.py: 10 min).
BENCHMARKS := $(filter-out benchmarks/harness.py,$(sort $(wildcard benchmarks/*.py)))
BENCH_ARGS_sustained_load := --duration 120
bench: install
	$(foreach b,$(BENCHMARKS),$(PY) $(b) $(BENCH_ARGS_$(basename $(notdir $(b)))) &&) true

clean:
	rm -rf $(VENV) .onevault build *.egg-info
