# widescale: `make demo` trains and evaluates on the embedded dataset; `make test` runs the tests.
# Both create a virtual environment in .venv on first use and install the pinned dependencies.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL_DIR ?= runs/demo
DEMO_GIN ?= experiments/demo_shapes.gin

.PHONY: install demo test clean-demo

$(STAMP): setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,coco]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/widescale --mode=train_and_eval --gin_file=$(DEMO_GIN) --model_dir=$(MODEL_DIR)

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean-demo:
	rm -rf $(MODEL_DIR)
