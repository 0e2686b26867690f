# Two commands do all the set-up on a fresh machine:
#   make demo   — create .venv, prepare the embedded synthetic dataset, train methods on it
#   make test   — create .venv, run the test suite
# make bad-inputs runs only the corpus of bad input to `train` and the run-folder safety tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEMO_EPOCHS ?= 10
DEMO_SET ?= outer_lr=1e-3

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "torch==2.13.0" || $(BIN)/pip install -q "torch>=2.1,<3"
	$(BIN)/pip install -q -e ".[dev,flann,ray]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

.PHONY: install demo test bad-inputs lint
install: $(STAMP)

demo: $(STAMP)
	$(BIN)/coldbench prepare synthetic
	for method in global melu meta-sgd transfer paml reg-paml at-paml; do \
	  $(BIN)/coldbench train $$method --dataset synthetic --epochs $(DEMO_EPOCHS) --seeds 2 --set $(DEMO_SET) || exit 1; \
	done
	$(BIN)/coldbench report --table main --dataset synthetic
	$(BIN)/coldbench report --table minor-major --dataset synthetic
	$(BIN)/coldbench report --figure boxplot --dataset synthetic --out figures/synthetic

test: $(STAMP)
	$(BIN)/python -m pytest -q

bad-inputs: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_bad_inputs_train.py tests/test_train_safety.py

lint: $(STAMP)
	$(BIN)/ruff check coldbench tests benchmarks
	$(BIN)/ruff format --check coldbench tests benchmarks
