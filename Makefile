# The two commands: `make run` (set up, then serve on http://127.0.0.1:5000) and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app webapp
PYTHON ?= python3

.PHONY: run test setup setup-dev chromium lint test-unit test-sqlite test-postgres test-e2e migration bench mutation clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The translation catalogues (webapp/translations/*/LC_MESSAGES/messages.po) compiled to the
# .mo files Flask-Babel reads; the .mo files are build output, never committed.
CATALOGUES := $(wildcard webapp/translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGUES:.po=.mo)

webapp/translations/%/LC_MESSAGES/messages.mo: webapp/translations/%/LC_MESSAGES/messages.po $(VENV)/.installed
	$(BIN)/pybabel -q compile -d webapp/translations -l $*

setup: $(VENV)/.installed node_modules/.installed $(COMPILED)

# Extract every translatable string (babel.cfg) and merge it into each catalogue; then
# translate the new entries in webapp/translations/fr/LC_MESSAGES/messages.po.
.PHONY: messages
messages: setup
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k N_ -k Text -k N_plural:1,2 --no-location --sort-output -o webapp/translations/messages.pot .
	$(BIN)/pybabel -q update -i webapp/translations/messages.pot -d webapp/translations --no-fuzzy-matching --ignore-obsolete --width 100

setup-dev: setup $(VENV)/.installed-dev

# The web server and one queue worker (`make worker`) together; Ctrl-C stops both. The worker
# runs in its own session so that only the trap signals it: one SIGINT, a graceful stop
# (a running job goes back to queued at its last committed chunk).
run: setup
	$(FLASK) db upgrade
	$(FLASK) bootstrap
	@setsid $(FLASK) worker & worker=$$!; \
	trap 'kill -INT $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT; \
	trap 'exit 130' INT TERM; \
	$(FLASK) run --host 127.0.0.1 --port 5000

.PHONY: worker
# The background queue's consumer alone (-w N: `make worker w=4`).
worker: setup
	$(FLASK) db upgrade
	$(FLASK) worker -w $(or $(w),1)

# Playwright drives Debian's Chromium: its own browser download does not work here.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "Chromium is missing: run 'sudo apt-get install chromium' (needed by the e2e tests)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

lint: setup-dev
	$(BIN)/ruff check .

test-sqlite: setup-dev
	env -u TEST_DATABASE_URL $(BIN)/pytest tests

test-postgres: setup-dev
	@if [ -n "$$TEST_DATABASE_URL" ]; then $(BIN)/pytest tests; else echo "TEST_DATABASE_URL not set: PostgreSQL run skipped"; fi

test-e2e: setup-dev chromium
	env -u TEST_DATABASE_URL $(BIN)/pytest e2e

test: lint test-sqlite test-postgres test-e2e

# Regenerate the schema migration from the models.
migration: setup
	$(FLASK) db migrate -m "$(or $(m),schema)"

bench: setup-dev
	$(BIN)/python bench/lists.py
	$(BIN)/python bench/convert_one.py

# Mutation testing of the duplicate rules (C4): webapp/conversion/matching.py and
# webapp/normalize.py mutated by mutmut ([tool.mutmut] in pyproject.toml), each mutant run
# against the domain tests that cover it, on SQLite. Slow (tens of minutes): not in `make test`.
# Prints the score and every mutant not killed (`.venv/bin/mutmut show NAME` shows its diff).
mutation: setup-dev
	rm -rf mutants && mkdir mutants
	env -u TEST_DATABASE_URL $(BIN)/mutmut run --max-children $$(nproc) > mutants/run.log 2>&1 \
	  || { tail -c 4000 mutants/run.log; exit 1; }
	$(BIN)/mutmut export-cicd-stats > /dev/null
	@$(BIN)/python -c 'import json; s = json.load(open("mutants/mutmut-cicd-stats.json")); \
	  print("mutation score: %(killed)d killed / %(total)d mutants (%(survived)d survived, %(timeout)d timed out, %(no_tests)d without tests)" % s)'
	@echo "Not killed:"
	@$(BIN)/mutmut results

clean:
	rm -rf $(VENV) node_modules instance test-results
