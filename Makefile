# Two commands on a fresh machine: `make demo` and `make test`. Only python3 and make are needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.liverkit-installed
RUN ?= runs/demo

.PHONY: setup demo test bench regress lint clean-venv

setup: $(STAMP)

# Rebuilt only when the dependency list changes; otherwise setup is a no-op.
# The notebooks ask for kernel "liverkit" ("Python (liverkit)"). --sys-prefix: the venv's own JupyterLab and
# papermill find it first (jupyter prefers the active environment's files). --user: any other JupyterLab or
# VS Code of this user finds it too, and it runs this venv's Python (kernel.json names it), not its own.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,notebooks]"
	$(BIN)/python -m ipykernel install --sys-prefix --name liverkit --display-name "Python (liverkit)"
	$(BIN)/python -m ipykernel install --user --name liverkit --display-name "Python (liverkit)"
	touch $(STAMP)

demo: setup
	$(BIN)/liverkit run --profile quick --data phantom --out $(RUN)

test: setup
	$(BIN)/python -m pytest

# The quick profile against its committed baseline (tests/baselines/quick.json); unchanged notebooks are skipped.
regress: setup
	$(BIN)/liverkit run --profile quick --data phantom --out runs/regress
	$(BIN)/liverkit regress runs/regress --baseline tests/baselines/quick.json

# Kit loops against plain PyTorch loops in one run; one JSON object per line.
bench: setup
	$(BIN)/python benchmarks/bench.py

lint: setup
	$(BIN)/ruff check liverkit tests notebooks benchmarks
	$(BIN)/ruff format --check liverkit tests benchmarks

clean-venv:
	rm -rf $(VENV)
