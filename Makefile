# Debito: `make run` starts everything on this machine, `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test test-slow test-fast chromium translations translations-update clean bench bench-pain008 bench-statement

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

test: install chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The long reliability runs (crashes, broker restarts), marked slow: CI runs them after `make test`.
test-slow: install
	$(BIN)/python -m pytest --slow -m slow $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -m "not cluster and not browser" $(PYTEST_ARGS)

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
