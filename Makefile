# Debito: `make run` starts everything on this machine, `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test test-slow test-fast test-dates chromium faketime translations translations-update clean bench bench-pain008 bench-statement

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the project's dependencies change.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip "setuptools<81" wheel
	$(BIN)/pip install --quiet -e ".[test,bench]"
	touch $(STAMP)

translations: $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -d gateway/gateway/translations

# After adding text to the dashboard: extract it, then translate the new French entries.
translations-update: $(STAMP)
	$(BIN)/pybabel extract -F gateway/babel.cfg -k _l -o gateway/messages.pot gateway
	$(BIN)/pybabel update -i gateway/messages.pot -d gateway/gateway/translations

install: $(STAMP) translations

run: install
	$(BIN)/debito run

# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Debian's faketime (libfaketime) for TEST_DATE and `make test-dates`: it moves the date for pytest and
# every process pytest starts (the cluster's services, Chromium); RabbitMQ and PostgreSQL keep the real one.
faketime:
	@command -v faketime >/dev/null 2>&1 || { \
	  echo "installing Debian's faketime for make test-dates"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null; }

# TEST_DATE=2026-12-12: the tests run on that day from 10:00 UTC (`make test-fast TEST_DATE=2026-12-12`).
ON_TEST_DATE = $(if $(TEST_DATE),faketime '$(TEST_DATE) 10:00:00')

test: install chromium $(if $(TEST_DATE),faketime)
	$(ON_TEST_DATE) $(BIN)/python -m pytest $(PYTEST_ARGS)

# `make test` on days when a date built from the wall clock goes wrong: a weekend,
# Christmas Eve, Good Friday, a Friday before a month end, a leap day. Every day runs, then the verdict.
TEST_DATES := 2026-12-12 2026-12-13 2026-12-24 2027-03-26 2027-01-29 2028-02-29

test-dates: install chromium faketime
	@failed=""; summary=""; \
	for day in $(TEST_DATES); do \
	  echo "=== make test-dates: the suite on $$day"; \
	  if $(MAKE) --no-print-directory test TEST_DATE=$$day; then result=passed; \
	  else result=FAILED; failed="$$failed $$day"; fi; \
	  echo "=== make test-dates: $$day $$result"; \
	  summary="$$summary=== make test-dates: $$day $$result\n"; \
	done; \
	printf "$$summary"; \
	if [ -n "$$failed" ]; then echo "=== make test-dates: failed on$$failed"; exit 1; fi

# The long reliability runs (crashes, broker restarts), marked slow: CI runs them after `make test`.
test-slow: install $(if $(TEST_DATE),faketime)
	$(ON_TEST_DATE) $(BIN)/python -m pytest --slow -m slow $(PYTEST_ARGS)

test-fast: install $(if $(TEST_DATE),faketime)
	$(ON_TEST_DATE) $(BIN)/python -m pytest -m "not cluster and not browser" $(PYTEST_ARGS)

# Every figure of docs/performance.md, each beside its anchor (PostgreSQL and RabbitMQ here);
# BENCH_SCALE=0.1 for a quick look. Writes var/bench/results.json.
bench: install
	$(BIN)/python -m bench $(if $(BENCH_SCALE),--scale $(BENCH_SCALE)) $(BENCH_ARGS)

# submit_due vs sepaxml on 100 000 debits (PostgreSQL at 127.0.0.1:5432); see bench/README.md.
bench-pain008: install
	$(BIN)/python -m bench.pain008_vs_sepaxml $(BENCH_ARGS)

# The statement export job (payments + reporting on RabbitMQ) vs COPY on 1 000 000 ledger entries; see bench/README.md.
bench-statement: install
	$(BIN)/python -m bench.statement_export_vs_copy $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
