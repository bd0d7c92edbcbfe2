# The README's two commands: `make demo` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo ui lint typecheck format install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Two workers (the machines it runs on have two cores); each takes whole test modules, so a
# module's Prefect server or emulator serves only its own tests.
TEST_WORKERS ?= 2

test: $(STAMP) lint typecheck
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

# Everything the two commands made: the demo's data, the virtualenv, pytest's cache.
clean:
	rm -rf $(VENV) .pytest_cache .demo

demo: $(STAMP)
	$(BIN)/python -m trainer_sync.demo

include make/ui.mk
