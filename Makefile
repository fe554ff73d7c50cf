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

# Crisis freeze of 100k posts, then 2,000 posts due over a minute on 2 workers (bench/README.md).
bench: $(STAMP)
	$(BIN)/python bench/freeze.py
	$(BIN)/python bench/schedule.py

# A crisis declared alone and while 3 abusive 750 KB GraphQL documents are in flight (bench/graphql_abuse.py).
.PHONY: bench-graphql
bench-graphql: $(STAMP)
	$(BIN)/python bench/graphql_abuse.py

# socialgov over HTTP against a bare FastAPI + asyncpg twin, scenario by scenario (bench/http.py).
.PHONY: bench-http
bench-http: $(STAMP)
	$(BIN)/python bench/http.py

clean:
	rm -rf $(VENV) .socialgov
