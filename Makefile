# The escrow suite. `make run` starts everything on embedded defaults; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.synced
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install run test bench fuzz chaos lint format typecheck schemas asyncapi demo clean image k8s-validate
IMAGE ?= escrow-suite
IMAGE_TAG ?= 0.1.0

install: $(STAMP)

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==0.13.9"

$(STAMP): $(UV) uv.lock pyproject.toml shared/pyproject.toml services/*/pyproject.toml
	$(UV) sync --frozen --all-packages --python $(PYTHON)
	touch $(STAMP)

uv.lock: pyproject.toml shared/pyproject.toml services/*/pyproject.toml | $(UV)
	$(UV) lock --python $(PYTHON)

## Start the whole suite: embedded PostgreSQL and Tansu, migrations, topics, four services.
run: install
	$(PY) -m shared.devstack run

## Every test: unit, integration over the real broker and database, end to end (two workers,
## one file each at a time; each worker starts its own PostgreSQL and Tansu).
test: install
	$(PY) -m pytest -n 3 --dist loadfile $(PYTEST_ARGS)

## Benchmark the suite as shipped, on its own ports in var/bench: one table, var/bench/bench.json.
bench: install
	$(PY) -m shared.bench $(BENCH_ARGS)

## Fuzz the suite as shipped, on its own ports in var/fuzz: 100,000 hostile records over every
## consumed topic, then no stall, no crash, no money moved, answers within 1 s, RSS under 200 MB;
## one table, var/fuzz/fuzz.json, exit 1 on a failed check. Not in `make test` (its smoke is).
fuzz: install
	$(PY) -m shared.fuzz $(FUZZ_ARGS)

## Chaos on the suite as shipped, on its own ports in var/chaos: 1,000 mixed lifecycles while
## services are killed, the broker paused, PostgreSQL stopped hard, records duplicated; then every
## lifecycle as planned and the books exact; one table, var/chaos/chaos.json, exit 1 on a failed
## check. Not in `make test` (its smoke is).
chaos: install
	$(PY) -m shared.chaos $(CHAOS_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared/shared

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install
	$(VENV)/bin/mypy shared/shared

## Against a suite started with `make run` (in another terminal): a short marketplace story.
demo: install
	$(PY) -m shared.cli.demo

## The suite's AsyncAPI 3 document, from the code (committed; a test keeps it current).
asyncapi: install
	$(PY) -m shared.contract.asyncapi docs/asyncapi.json

## JSON Schema of every message of the wire contract.
schemas: install
	$(PY) -m shared.contract.schemas schemas

## One image for the four services (needs Docker): docker run $(IMAGE):$(IMAGE_TAG) <service> [migrate]
image:
	docker build --tag $(IMAGE):$(IMAGE_TAG) .

## Offline validation of deploy/: render every overlay, validate core and CRD resources, promtool.
k8s-validate: install
	bash deploy/validate.sh

clean:
	rm -rf $(VENV) $(TOOLS) var
