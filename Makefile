# The README's commands. `make run` for the demo, `make test` for the checks.
PY := .venv/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

.PHONY: setup run test lint migrate demo bench clean

setup:
	@bash scripts/bootstrap.sh

migrate: setup
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py seeddemo --simulators

run: demo
	@bash scripts/ensure-redis.sh
	@echo "fleet is starting: open http://$(HOST):$(PORT)/ (log in as dispatcher / dispatcher, admin / admin)"
	.venv/bin/honcho start -f Procfile

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
	@for b in bench/*.py; do $(PY) $$b --quick || exit 1; done

clean:
	rm -rf .venv .run staticfiles fleet.sqlite3
