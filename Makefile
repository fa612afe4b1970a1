# Two commands on a fresh machine: `make demo` and `make test`. Only python3 (3.11 or newer, with venv) and make
# are needed. `make help` lists every target and what it costs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.liverkit-installed
RUN ?= runs/demo

.PHONY: help setup demo test test-fast bench regress lint clean-venv

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

setup: $(STAMP)  ## make .venv: torch (CPU build without an NVIDIA GPU, ~0.7 GB; else ~6 GB) and the kit, 2-10 min

# Rebuilt only when the dependency list changes; otherwise setup is a no-op. Checks first: Python >= 3.11 with venv,
# and a .venv left by another Python or a failed set-up is removed (one line says why) and made again.
# The notebooks ask for kernel "liverkit" ("Python (liverkit)"). --sys-prefix: the venv's own JupyterLab and
# papermill find it first (jupyter prefers the active environment's files). --user: any other JupyterLab or
# VS Code of this user finds it too, and it runs this venv's Python (kernel.json names it), not its own.
$(STAMP): pyproject.toml scripts/install_torch.py
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "liverkit needs Python 3.11 or newer; $(PYTHON) is " + sys.version.split()[0] + ": run make PYTHON=python3.11 setup (or newer)")'
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { echo "$(PYTHON) has no venv/ensurepip module: install it (Debian/Ubuntu: sudo apt install python3-venv), then run make again"; exit 1; }
	@if [ -d $(VENV) ] && ! $(BIN)/python -c 'import sys, pip; assert sys.version_info >= (3, 11)' 2>/dev/null; then \
		echo "removing $(VENV): it has no working Python 3.11+ with pip (a failed or older set-up); making it again"; \
		rm -rf $(VENV); fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python scripts/install_torch.py
	$(BIN)/python -m pip install --quiet -e ".[dev,notebooks]"
	$(BIN)/python -m ipykernel install --sys-prefix --name liverkit --display-name "Python (liverkit)"
	$(BIN)/python -m ipykernel install --user --name liverkit --display-name "Python (liverkit)"
	touch $(STAMP)

demo: setup  ## run the 8 notebooks on the built-in phantom, quick profile (about 15 min on 2 cores) into runs/demo
	$(BIN)/liverkit run --profile quick --data phantom --out $(RUN)

test: setup  ## unit tests and every notebook at the smoke profile (about 10-12 min on 2 cores)
	$(BIN)/python -m pytest

test-fast: setup  ## the unit tests only, no notebook runs (a few minutes)
	$(BIN)/python -m pytest -m "not notebook"

# The quick profile against its committed baseline (tests/baselines/quick.json); unchanged notebooks are skipped.
regress: setup  ## the quick profile against its committed baseline (unchanged notebooks skipped)
	$(BIN)/liverkit run --profile quick --data phantom --out runs/regress
	$(BIN)/liverkit regress runs/regress --baseline tests/baselines/quick.json

# Kit loops against plain PyTorch loops in one run; one JSON object per line.
bench: setup  ## kit loops against plain PyTorch loops, one JSON object per line
	$(BIN)/python benchmarks/bench.py

lint: setup  ## ruff check and format check
	$(BIN)/ruff check liverkit tests notebooks benchmarks
	$(BIN)/ruff format --check liverkit tests benchmarks

clean-venv:  ## remove .venv (the next setup makes it again)
	rm -rf $(VENV)
