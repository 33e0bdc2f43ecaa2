# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
export FLASK_APP := wsgi
# PostgreSQL for the second half of `make test`; each run creates and drops its own database there.
TEST_PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: run test test-sqlite test-postgresql lint audit bench clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/flask db upgrade
	$(BIN)/flask demo seed
	@echo "Serving on http://127.0.0.1:$(PORT)  (log in as bank / demo-password), with the scheduler inside"
	$(BIN)/flask demo serve --host 127.0.0.1 --port $(PORT)

test: test-sqlite test-postgresql

test-sqlite: $(BIN)/.installed
	@echo "=== test suite on SQLite ==="
	MARKETPLACE_TEST_DB=sqlite $(BIN)/pytest

test-postgresql: $(BIN)/.installed
	@echo "=== test suite on PostgreSQL ($(TEST_PG_URL)) ==="
	MARKETPLACE_TEST_DB=postgresql MARKETPLACE_TEST_PG_URL=$(TEST_PG_URL) $(BIN)/pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check .

# Known vulnerabilities in the installed packages (PyPI's advisory data); fails when one is found.
audit: $(BIN)/.installed
	$(BIN)/pip-audit --local --skip-editable --progress-spinner off

# Matching latency at 1,000 and 10,000 published products (SIZES="1000 10000 100000" for more), then the decision
# of a 5,000-item guarantee batch with 50 exclusions, then ledger posting rates and the trial balance up to 1,000,000
# postings (BENCH_LEDGER_SIZES="1000000 10000000" to add 10,000,000) → bench/results.json ["matching"],
# ["batch_decision"], ["ledger"]. Each makes and drops its own databases on $(BENCH_DATABASE_URL); see bench/README.md.
BENCH_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432
SIZES ?= 1000 10000
bench: $(BIN)/.installed
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m bench.matching --sizes $(SIZES)
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m bench.batches
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m bench.ledger

clean:
	rm -rf $(VENV) instance test-output .pytest_cache
