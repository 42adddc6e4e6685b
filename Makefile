# Two entry points for a fresh machine (see README): `make run` and `make test`.
# Each creates .venv and installs the project into it when pyproject.toml is newer.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench
.DEFAULT_GOAL := test

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/opel run $(ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m opel.schemas --check

test: lint
	$(BIN)/python -m pytest -q $(ARGS)

bench: $(BIN)/.installed
	$(BIN)/python bench/core.py
