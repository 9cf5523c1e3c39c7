# Phoenix — the two commands a newcomer needs are `make dev` and `make test` (see README).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .venv-tools
UV := $(TOOLS)/bin/uv
STAMPS := .stamps
APT_PACKAGES := $(shell cat scripts/apt-packages.txt | grep -v '^\#')

.PHONY: dev test lint unit integration e2e bench image images daemon-binary deps services clean format lock

## dev: run the whole system locally (every role and, as root, an exit node; see README). It
## uses the Postgres and Redis it finds at their usual ports and otherwise starts embedded ones,
## so it needs no `services`.
dev: deps
	PHOENIX_ENV=dev $(BIN)/phoenix dev up $(if $(filter no off 0 false,$(PROMETHEUS)),--no-prometheus)

## test: install what the tests need, start what is not running, then lint and run every test
test: deps services lint
	$(BIN)/pytest --durations=25

lint: deps
	$(BIN)/ruff check src daemon/src tests daemon/tests alembic bench
	$(BIN)/ruff format --check src daemon/src tests daemon/tests alembic bench
	$(BIN)/mypy
	$(BIN)/lint-imports --config importlinter.ini

format: deps
	$(BIN)/ruff format src daemon/src tests daemon/tests alembic bench
	$(BIN)/ruff check --fix src daemon/src tests daemon/tests alembic bench

unit: deps
	$(BIN)/pytest tests/unit daemon/tests/unit

integration: deps services
	$(BIN)/pytest tests/integration daemon/tests/integration

bench: deps services
	$(BIN)/python -m bench

.PHONY: fuzz soak
## fuzz: the codec fuzz properties of tests/fuzz with 20000 examples each (CI runs 300)
fuzz: deps
	PHOENIX_FUZZ=long $(BIN)/pytest tests/fuzz

## soak: tests/integration/hardening long: 10 min of mixed load, schemathesis 200 examples a run
soak: deps services
	PHOENIX_LOAD_SECONDS=600 PHOENIX_SCHEMATHESIS_EXAMPLES=200 PHOENIX_SCHEMATHESIS_SECONDS=300 \
		$(BIN)/pytest tests/integration/hardening --timeout=3600

## images: one image per role, localhost/phoenix-<role>:dev (see Containerfile)
images image: $(STAMPS)/apt
	scripts/build-image.sh

daemon-binary: deps
	scripts/build-daemon-binary.sh

deps: $(STAMPS)/python $(STAMPS)/apt
	@scripts/ensure-npm.sh

services:
	@scripts/ensure-services.sh

# Installs come from locks with hashes, never from a fresh resolution: .venv-tools (uv, checkov)
# from tools/host.txt with pip --require-hashes, then .venv from uv.lock with `uv sync --frozen`
# (the dev group: every role's extra, the embedded engine, phoenix-node, the test tools). Re-run
# only when a lock changes, so a second `make test` is quick.
$(STAMPS)/tools: tools/host.txt
	@test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS) || python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r tools/host.txt
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/python: pyproject.toml daemon/pyproject.toml uv.lock $(STAMPS)/tools
	UV_PYTHON_DOWNLOADS=never $(UV) sync --frozen --quiet --python "$$(command -v $(PYTHON) || command -v python3)"
	@mkdir -p $(STAMPS) && touch $@

## lock: re-resolve uv.lock and the tool locks within pyproject's bounds (tests fail on a stale lock)
lock: $(STAMPS)/tools
	$(UV) lock
	$(UV) pip compile --quiet --generate-hashes --python-version 3.11 --python-platform linux \
		--custom-compile-command "make lock" tools/host.in -o tools/host.txt
	$(UV) pip compile --quiet --generate-hashes --python-version 3.11 --python-platform linux \
		--custom-compile-command "make lock" tools/build.in -o tools/build.txt

$(STAMPS)/apt: scripts/apt-packages.txt
	@scripts/ensure-apt.sh $(APT_PACKAGES)
	@mkdir -p $(STAMPS) && touch $@

clean:
	rm -rf $(VENV) $(TOOLS) $(STAMPS) node_modules .mypy_cache .ruff_cache .pytest_cache build dist
