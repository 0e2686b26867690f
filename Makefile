# Two commands do all the set-up on a fresh machine:
#   make demo   — create .venv, then prepare the embedded synthetic dataset and train on it
#   make test   — create .venv, then run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "torch==2.13.0" || $(BIN)/pip install -q "torch>=2.1,<3"
	$(BIN)/pip install -q -e ".[dev,flann]"
	touch $(STAMP)

.PHONY: install demo test lint
install: $(STAMP)

demo: $(STAMP)
	$(BIN)/coldbench prepare synthetic
	$(BIN)/coldbench train melu --dataset synthetic --epochs 3
	$(BIN)/coldbench train paml --dataset synthetic --epochs 3 || true

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check coldbench tests benchmarks
