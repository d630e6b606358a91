# Two commands from nothing: `make run` and `make test`. Each creates .venv and installs when needed.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIPELINE ?= ssda_dual_mix
ENV ?= base
HOST ?= 127.0.0.1
PORT ?= 5000

export KEDRO_DISABLE_TELEMETRY=true
export DO_NOT_TRACK=true
export MLFLOW_DISABLE_TELEMETRY=true
export NO_ALBUMENTATIONS_UPDATE=1
export PYTHONUNBUFFERED=1

.PHONY: install run test lint viz mlflow-ui clean-data

install: $(STAMP)

# Re-installs only when the dependency list changes. pip reads torch/torchvision from this machine's
# disk through its constraint file (/etc/xdg/pip), so keep plain pip here.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/kedro run --pipelines $(PIPELINE) --env $(ENV)

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests

viz: $(STAMP)
	$(BIN)/kedro viz run --host $(HOST) --no-browser

# One worker answers in seconds (the default four take ~40 s to start on 2 cores). Prints the URL of the
# runs table of $(PIPELINE)'s experiment; Ctrl-C stops the server (and its worker: same process group).
mlflow-ui: $(STAMP)
	@$(BIN)/python -m cvpapers.engine.tracking ui-url --store mlflow.db --pipeline $(PIPELINE) --host $(HOST) --port $(PORT)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host $(HOST) --port $(PORT) --workers 1

clean-data:
	find data -type f ! -name .gitkeep -delete
