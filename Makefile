# Everything a person runs. `make run` and `make test` work on a fresh clone.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# Django 6 needs Python 3.12+: take the first interpreter that qualifies.
PYTHON ?= $(shell for p in python3.13 python3.12 python3 $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then command -v $$p; break; fi; done)
STAMP := $(VENV)/.installed-$(shell cat requirements/*.txt | sha1sum | cut -c1-12)
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/codeformer
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install run test lint format services chromium screenshots worker worker-webhooks scheduler web check-ledger bench-api bench-dashboard bench-ml fetch-weights clean

install: $(STAMP)

$(STAMP): requirements/web.txt requirements/ml.txt requirements/dev.txt requirements/constraints.txt
	@test -n "$(PYTHON)" || { echo "Python 3.12 or newer is required" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/dev.txt -c requirements/constraints.txt
	rm -f $(VENV)/.installed-* && touch $@

# The embedded default: SQLite, an in-process worker, local files, no external server.
run: install
	mkdir -p var
	env -u DATABASE_URL -u REDIS_URL DJANGO_DEBUG=true $(PY) manage.py migrate --noinput
	env -u DATABASE_URL -u REDIS_URL DJANGO_DEBUG=true $(PY) manage.py collectstatic --noinput -v0
	env -u DATABASE_URL -u REDIS_URL DJANGO_DEBUG=true $(PY) manage.py seed_demo
	env -u DATABASE_URL -u REDIS_URL DJANGO_DEBUG=true $(PY) manage.py fetch_weights --if-possible
	env -u DATABASE_URL -u REDIS_URL DJANGO_DEBUG=true $(PY) manage.py runservice 127.0.0.1:8000

# The whole suite against this machine's PostgreSQL and Redis (started if installed but stopped).
test: install services chromium
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		RECONCILE_LEDGER=1 $(PY) -m pytest $(PYTEST_ARGS)

services:
	@bash scripts/ensure-services.sh

# Debian's Chromium for the browser tests (tests/browser), installed when missing.
chromium:
	@bash scripts/ensure-chromium.sh

# A PNG of every page at 1280 px and 390 px in screenshots/, for a person to look at.
screenshots: install services chromium
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		SCREENSHOTS_DIR=$(CURDIR)/screenshots $(PY) -m pytest tests/browser/screenshots.py -q -s -p no:cacheprovider

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format:
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# Production-style processes (DATABASE_URL and REDIS_URL set).
web:
	$(VENV)/bin/gunicorn config.wsgi --bind $${BIND:-0.0.0.0:8000} --access-logfile -  # workers, threads, timeout: gunicorn.conf.py
worker:
	$(PY) manage.py rundramatiq --processes 1 --threads 1 --queues gpu

worker-webhooks:
	$(PY) manage.py rundramatiq --processes 1 --threads 4 --queues webhooks maintenance billing


scheduler:
	$(PY) manage.py run_scheduler

check-ledger:
	$(PY) manage.py check_ledger

fetch-weights:
	$(PY) manage.py fetch_weights

bench-api: install services
	$(PY) -m bench.api_load

bench-dashboard: install services
	$(PY) -m bench.dashboard_pages

bench-ml: install
	$(PY) -m bench.ml_pipeline

clean:
	rm -rf var .pytest_cache .ruff_cache
