# Two commands from nothing: `make run` and `make test`. Each creates .venv and installs when needed.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIPELINE ?= ssda_dual_mix
ENV ?= base
HOST ?= 127.0.0.1

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

mlflow-ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host $(HOST)

clean-data:
	find data -type f ! -name .gitkeep -delete
