# Two commands do all the set-up on a fresh machine:
#   make demo   — create .venv, then `coldbench demo`: prepare the embedded synthetic dataset, train
#                 every method briefly in one process, show the tables, the figure and next steps
#   make test   — create .venv, run the test suite
# make bad-inputs runs only the corpus of bad input to `train` and the run-folder safety tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEMO_EPOCHS ?= 3
DEMO_SEEDS ?= 2
DEMO_ARGS ?=

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "torch==2.13.0" || $(BIN)/pip install -q "torch>=2.1,<3"
	$(BIN)/pip install -q -e ".[dev,flann,ray]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

.PHONY: install demo test bad-inputs lint
install: $(STAMP)

demo: $(STAMP)
	$(BIN)/coldbench demo --epochs $(DEMO_EPOCHS) --seeds $(DEMO_SEEDS) $(DEMO_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q

bad-inputs: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_bad_inputs_train.py tests/test_train_safety.py

lint: $(STAMP)
	$(BIN)/ruff check coldbench tests benchmarks
	$(BIN)/ruff format --check coldbench tests benchmarks
