# The two commands: `make run` starts the service, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test worker migrate openapi bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/socialgov serve

worker: $(STAMP)
	$(BIN)/socialgov worker

migrate: $(STAMP)
	$(BIN)/socialgov migrate

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

openapi: $(STAMP)
	$(BIN)/python -m app.contract

clean:
	rm -rf $(VENV) .socialgov
