# `make run` serves payouts on ./payouts.db; `make test` runs lint, types and every test.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: run test lint bench bench-quick bench-soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.run-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[postgres]'
	touch $@

$(VENV)/.dev-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.run-deps

run: $(VENV)/.run-deps
	$(BIN)/payouts serve

lint: $(VENV)/.dev-deps
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# axe-core for the browser tests' accessibility check, pinned in tests/e2e/axe (npm ci).
AXE = tests/e2e/axe/node_modules/axe-core/axe.min.js
$(AXE): tests/e2e/axe/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix tests/e2e/axe --no-audit --no-fund --silent; \
	else echo "npm not found: the accessibility test will skip (and fail under CI=true)"; fi

test: lint $(AXE)
	$(BIN)/pytest

# The benchmark suite (bench/): prints a table and rewrites bench/RESULTS.md.
bench: $(VENV)/.dev-deps
	$(BIN)/python -m bench

bench-quick: $(VENV)/.dev-deps
	$(BIN)/python -m bench --quick

# The soak run (bench/soak.py): 10 minutes of mixed traffic per backend (SOAK_MINUTES=N);
# writes the soak section of bench/RESULTS.md.
SOAK_MINUTES ?= 10
bench-soak: $(VENV)/.dev-deps
	$(BIN)/python -m bench --soak --soak-minutes $(SOAK_MINUTES)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
