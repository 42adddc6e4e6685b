# Two entry points for a fresh machine (see README): `make run` and `make test`.
# Each creates .venv and installs the project into it when pyproject.toml is newer.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench kafka-jars
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
	$(BIN)/python -m pytest --durations=15 $(ARGS)

# Apache Kafka jars from Maven Central for the Kafka test tier and local runs (docs/kafka.md).
# Optional: the launcher fetches them itself the first time; needs Java 17+ and Maven.
kafka-jars: $(BIN)/.installed
	$(BIN)/python -m streams.apache_kafka fetch

bench: $(BIN)/.installed
	$(BIN)/python bench/core.py
