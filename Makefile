# Aiguillage: the two commands of README.md, and their helpers.
# Each target creates or reuses .venv and webapp/node_modules; installs are skipped when
# pyproject.toml / package.json have not changed since the last successful install.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := webapp/node_modules/.installed
VENDOR := webapp/static/vendor/bpmn-js
MO     := webapp/translations/en/LC_MESSAGES/messages.mo
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser)

.PHONY: setup run test e2e lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

$(NODE_STAMP): webapp/package.json
	cd webapp && npm install --no-audit --no-fund --silent
	touch $(NODE_STAMP)

$(VENDOR)/.copied: $(NODE_STAMP)
	mkdir -p $(VENDOR)
	cp -r webapp/node_modules/bpmn-js/dist/assets webapp/node_modules/bpmn-js/dist/*.production.min.js $(VENDOR)/
	touch $(VENDOR)/.copied

# The compiled catalogue is built here, never committed (.gitignore: *.mo).
$(MO): webapp/translations/en/LC_MESSAGES/messages.po | $(STAMP)
	$(BIN)/pybabel compile -d webapp/translations

setup: $(STAMP) $(VENDOR)/.copied $(MO)

run: setup
	$(BIN)/aiguillage db upgrade
	$(BIN)/aiguillage demo load
	$(BIN)/aiguillage serve --workers 1 --scheduler

test: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider tests --ignore=tests/e2e
	$(MAKE) --no-print-directory e2e

e2e: setup
ifeq ($(CHROMIUM),)
	@echo "End-to-end tests NOT run: no Chromium found (install Debian's chromium package)."
else
	AIGUILLAGE_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -q -p no:cacheprovider tests/e2e
endif

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) webapp/node_modules $(VENDOR) .pytest_cache .ruff_cache .mypy_cache
	rm -f webapp/translations/*/LC_MESSAGES/*.mo
