# Two commands for a fresh machine: `make run` (app + demo company) and `make test`.
# Django 6 needs Python >= 3.12: the first python3.13/3.12 found is used (pyenv included).
PYTHON ?= $(shell for p in python3.12 python3.13 python3; do \
	  for c in $$(command -v $$p) $$(ls -d $$HOME/.pyenv/versions/3.1[23]*/bin/$$p 2>/dev/null); do \
	    $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && echo $$c && exit 0; \
	  done; done)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test setup demo worker beat lint

$(VENV)/.installed: requirements.txt
	@test -n "$(PYTHON)" || { echo "Python 3.12+ is needed (Django 6); set PYTHON=/path/to/python3.12"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

setup: $(VENV)/.installed
	$(PY) manage.py migrate --noinput

demo: setup
	$(PY) manage.py seed_demo

run: demo
	@echo "Open http://127.0.0.1:$(PORT)/ and log in as admin@example.com / tokenboard (see README)"
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

test: $(VENV)/.installed
	$(PY) -m pytest

worker: setup
	$(VENV)/bin/celery -A config worker -Q ingest,default -l info

beat: setup
	$(VENV)/bin/celery -A config beat -l info

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
