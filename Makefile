# `make run`: install into .venv and start the console on the embedded SQLite store with demo data.
# `make test`: install the test dependencies into .venv and run the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_CUSTOMERS ?= 5000
# Test processes: one per core (each test has its own store, database and OS accounts).
TEST_JOBS ?= auto

.PHONY: run portal test lint install install-test demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"

demo: install
	$(BIN)/agentdesk demo --if-empty --customers $(DEMO_CUSTOMERS)

run: demo
	$(BIN)/agentdesk

# The customer portal on the demo store, beside the console (`make run` in another terminal).
portal: demo
	$(BIN)/agentdesk portal

test: install-test
	$(BIN)/python -m pytest -n $(TEST_JOBS) $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
