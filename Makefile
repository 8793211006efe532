# Two entry points for a fresh machine: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo demo-train test bench clean

$(BIN)/handpose: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e ".[dev,onnx]"
	touch $(BIN)/handpose

demo: $(BIN)/handpose
	$(BIN)/handpose demo --out runs/demo

demo-train: $(BIN)/handpose
	$(BIN)/handpose demo --train --out runs/demo_train

test: $(BIN)/handpose
	$(BIN)/python -m pytest

bench: $(BIN)/handpose
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) runs
