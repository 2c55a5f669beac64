# The README's two commands: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: install demo demo-logs test bench bench-scale soak lint stop browser promtool wrk migrate clean backup restore up down logs

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

demo: install
	PORT=$(PORT) $(BIN)/python -m devstack.demo

# Follows the running demo's processes (each logs to var/log/<process>.log; the terminal keeps the banner).
DEMO_LOG_DIR := $(or $(OPSCONSOLE_VAR_DIR),var)/log
demo-logs:
	@test -d $(DEMO_LOG_DIR) || { echo "no $(DEMO_LOG_DIR) yet: start make demo first"; exit 1; }
	tail -n 20 -F $(addprefix $(DEMO_LOG_DIR)/,web.log worker.log beat.log emulator.log alerts.log)

test: install browser promtool
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install wrk
	$(BIN)/python -m bench

# The same cases on the bench fleet and on it ×BENCH_SCALE (default 10; built once, ~tens of GB
# and long at ×10), one table with ratios and goals (bench/scale.py, BENCHMARKS.md). Not CI.
bench-scale: install wrk
	$(BIN)/python -m bench.scale

# The chaos soak (bench/soak/, RELIABILITY.md): SOAK_MINUTES (default 20) and SOAK_SEED (printed) replay a run.
soak: install
	$(BIN)/python -m bench soak

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

# mypy's Django plugin imports the settings: placeholders (never used to connect) keep it from
# needing a developer's secrets or starting the embedded servers.
LINT_SETTINGS := SECRET_KEY=lint-only TOKEN_ENCRYPTION_KEYS=bGxsbGxsbGxsbGxsbGxsbGxsbGxsbGxsbGxsbGw= \
	DATABASE_URL=postgres://lint@127.0.0.1:5432/lint REDIS_URL=redis://127.0.0.1:6379/0

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check opsconsole core jobs spotify audit accounts ingest playlists alerts metrics devstack
	$(LINT_SETTINGS) $(BIN)/mypy opsconsole core jobs spotify audit accounts ingest playlists alerts metrics devstack
	$(BIN)/lint-imports --no-logo

# Debian's chromium for the Playwright dashboard test (no browser download).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "The dashboard test needs Debian's chromium: sudo apt-get install chromium"; exit 1; fi; }

# promtool (Debian's prometheus package) for the Prometheus rules and /metrics lint tests.
promtool:
	@command -v promtool >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  else echo "The Prometheus rules tests need promtool: sudo apt-get install prometheus"; exit 1; fi; }

# Debian's wrk, the load generator of the bench's load case.
wrk:
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null; \
	  else echo "The load benchmark needs wrk: sudo apt-get install wrk"; exit 1; fi; }

migrate: install
	$(BIN)/python manage.py migrate

# Stops the embedded PostgreSQL and Redis a demo left running (data stays in var/).
stop: install
	$(BIN)/python -c "from devstack.runtime import stop_embedded; stop_embedded()"

# pg_dump to var/backups/ (embedded database or DATABASE_URL); restore into an empty database.
backup: install
	$(BIN)/python manage.py backup_db

restore: install
	@test -n "$(FILE)" || { echo "usage: make restore FILE=var/backups/<archive>.dump"; exit 2; }
	$(BIN)/python manage.py restore_db "$(FILE)"

# The production-shaped stack (needs a Docker engine and an .env with the secrets).
up:
	docker compose up -d --build

down:
	docker compose down

logs:
	docker compose logs -f --tail=200

clean:
	rm -rf $(VENV) var
