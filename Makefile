# Two commands on a fresh machine (Python 3.11 + pip): `make demo` and `make test`.
# Each creates .venv on first use: torch 2.13.0 first (CPU build here), then the package.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# GPU users: `make TORCH_INDEX=https://download.pytorch.org/whl/cu128 demo` installs the CUDA build.
TORCH_INDEX ?=

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX) --extra-index-url https://pypi.org/simple)
	echo "torch==2.13.0" > $(VENV)/constraints.txt
	$(BIN)/pip install -q -c $(VENV)/constraints.txt -e ".[dev]"
	touch $(STAMP)

.PHONY: install demo test
install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python tools/train.py --config synthetic

test: $(STAMP)
	$(BIN)/python -m pytest
