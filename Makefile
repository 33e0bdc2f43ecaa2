# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
export FLASK_APP := wsgi
# PostgreSQL for the second half of `make test`; each run creates and drops its own database there.
TEST_PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: run run-province test browser postgresql test-sqlite test-postgresql lint audit bench clean translations

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

# A generated province with three years of history (its own SQLite file), so the dashboards have something to
# draw: 2,000 enterprises take about half a minute the first time; later runs serve what is there.
PROVINCE_DB := $(CURDIR)/instance/province.db
run-province: $(BIN)/.installed
	mkdir -p instance
	test -f $(PROVINCE_DB) || ( MARKETPLACE_DATABASE_URL=sqlite:///$(PROVINCE_DB) $(BIN)/flask db upgrade && \
	  MARKETPLACE_DATABASE_URL=sqlite:///$(PROVINCE_DB) $(BIN)/flask demo generate --enterprises 2000 \
	  --products 5000 --agreements 20 --postings 50000 --banks 12 --agencies 8 || ( rm -f $(PROVINCE_DB); exit 1 ) )
	@echo "Serving on http://127.0.0.1:$(PORT)  (admin, bank.<code>, agency.<code> / demo-password; see README)"
	MARKETPLACE_DATABASE_URL=sqlite:///$(PROVINCE_DB) $(BIN)/flask demo serve --host 127.0.0.1 --port $(PORT)

test: browser postgresql test-sqlite test-postgresql

# The browser tests drive Debian's Chromium (never a downloaded browser); the CJK fonts make their screenshots of
# Chinese readable. Installed here when missing and this is root with apt; otherwise one command to run, and stop.
browser:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium and fonts-noto-cjk for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	  else \
	    echo "The browser tests need Debian's Chromium and CJK fonts. Run: sudo apt-get install -y chromium fonts-noto-cjk"; \
	    exit 1; \
	  fi; \
	fi

# The local PostgreSQL of the second half: started when it is installed and down; otherwise one command, and stop.
PG_READY := pg_isready -d "$(TEST_PG_URL)" -q
postgresql:
	@if ! command -v pg_isready >/dev/null; then \
	  echo "The PostgreSQL half of the suite needs PostgreSQL on 127.0.0.1:5432. Run: sudo apt-get install -y postgresql"; \
	  exit 1; \
	fi
	@if ! $(PG_READY); then \
	  if [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null; then \
	    echo "Starting the local PostgreSQL"; \
	    pg_ctlcluster --skip-systemctl-redirect "$$(ls /etc/postgresql | tail -1)" main start || true; \
	    for _ in $$(seq 1 30); do $(PG_READY) && break; sleep 1; done; \
	  fi; \
	  if ! $(PG_READY); then \
	    echo "PostgreSQL does not answer at $(TEST_PG_URL). Run: sudo pg_ctlcluster $$(ls /etc/postgresql 2>/dev/null | tail -1) main start"; \
	    exit 1; \
	  fi; \
	fi

test-sqlite: $(BIN)/.installed
	@echo "=== test suite on SQLite ==="
	MARKETPLACE_TEST_DB=sqlite $(BIN)/pytest

test-postgresql: $(BIN)/.installed
	@echo "=== test suite on PostgreSQL ($(TEST_PG_URL)) ==="
	MARKETPLACE_TEST_DB=postgresql MARKETPLACE_TEST_PG_URL=$(TEST_PG_URL) $(BIN)/pytest

# After changing a user-facing text: collect the messages, add the new ones to the zh_Hans catalogue (translate them
# there: a test fails on an empty or fuzzy msgstr), and compile it. The compiled .mo is committed with the .po.
CATALOGUE := marketplace/translations
translations: $(BIN)/.installed
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k N_ --no-location --sort-output -o $(CATALOGUE)/messages.pot .
	$(BIN)/pybabel -q update -i $(CATALOGUE)/messages.pot -d $(CATALOGUE) --no-fuzzy-matching --ignore-obsolete --width 120
	$(BIN)/pybabel -q compile -d $(CATALOGUE) --statistics

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

# Known vulnerabilities in the installed packages (PyPI's advisory data); fails when one is found.
audit: $(BIN)/.installed
	$(BIN)/pip-audit --local --skip-editable --progress-spinner off

# One report (issue 8), all on PostgreSQL: matching latency at 1,000, 10,000 and 100,000 published products, the
# decision of a 10,000-item guarantee batch, ledger posting rates and the trial balance up to 10,000,000 postings,
# then bench/report.py draws bench/matching.png and lists every target with its figure. Results go to
# bench/results.json, one key per benchmark. Each makes and drops its own databases on $(BENCH_DATABASE_URL); see
# bench/README.md. Smaller, quicker: make bench SIZES="1000 10000" BATCH_ITEMS=5000 BENCH_LEDGER_SIZES=1000000
BENCH_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432
SIZES ?= 1000 10000 100000
BATCH_ITEMS ?= 10000
BENCH_LEDGER_SIZES ?= 1000000 10000000
export BENCH_LEDGER_SIZES
bench: $(BIN)/.installed
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m bench.matching --sizes $(SIZES)
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m bench.batches --items $(BATCH_ITEMS) --exclusions 100
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m bench.ledger
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m bench.http_load
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m bench.scale_out
	$(BIN)/python -m bench.report

clean:
	rm -rf $(VENV) instance test-output .pytest_cache
