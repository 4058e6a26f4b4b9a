# The README's commands. `make run` for the demo (served with DEBUG off: scripts/serve.env), `make test` for the checks.
PY := .venv/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

.PHONY: setup run test lint migrate demo static deploy-check bench clean

setup:
	@bash scripts/bootstrap.sh

migrate: setup
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py seeddemo --simulators

# The static files as the server will serve them (with DEBUG off: hashed names and their manifest).
static: setup
	DEBUG=false $(PY) manage.py collectstatic --noinput -v0

run: demo static
	@bash scripts/ensure-redis.sh
	@echo "fleet is starting: open http://$(HOST):$(PORT)/ (log in as dispatcher / dispatcher, admin / admin)"
	.venv/bin/honcho start -f Procfile -e .env,scripts/serve.env

# Before deploying, with the production environment: static files collected, then Django's deployment checks.
deploy-check: setup
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py check --deploy

test: setup
	@bash scripts/ensure-redis.sh
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

bench: setup
	@for b in bench/[!_]*.py; do $(PY) $$b --quick || exit 1; done

clean:
	rm -rf .venv .run staticfiles fleet.sqlite3
