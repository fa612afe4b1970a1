# Two commands on a fresh machine: `make demo` and `make test`. Only python3 (3.11 or newer, with venv) and make
# are needed. `make help` lists every target and what it costs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.liverkit-installed
RUN ?= runs/demo

.PHONY: help setup browser demo test test-fast bench bench-check regress lint clean-venv

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

setup: $(STAMP)  ## make .venv: torch (CPU build without an NVIDIA GPU: a 1.9 GB venv; else CUDA: 6.4 GB) and the kit

# Rebuilt only when the dependency list changes; otherwise setup is a no-op. Checks first: Python >= 3.11 with venv,
# and a .venv left by another Python or a failed set-up is removed (one line says why) and made again.
# The notebooks declare the standard kernel "python3" (as Colab and every Jupyter has it): in the venv's JupyterLab,
# and under `liverkit run`, that is the venv's own Python. The kernel "Python (liverkit)" registered here (--sys-prefix
# for the venv's JupyterLab, --user for any other JupyterLab or VS Code of this user) runs this venv's Python too:
# pick it there to use the kit's environment instead of that Jupyter's own python3.
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

# The browser tests (report, JupyterLab) and the PNG copies of figures need a Chromium/Chrome; without one they skip
# and say so. Tests never install it themselves: this target does, visibly (Debian/Ubuntu, as root), and .ci/run calls it.
BROWSERS := chromium chromium-browser google-chrome chrome
browser:  ## a headless Chromium for the browser tests and PNG copies (apt-get, as root; ~300 MB, 1-2 min)
	@found=$$(for b in $(BROWSERS); do command -v $$b && break; done); \
	if [ -n "$$found" ]; then echo "browser: $$found ($$($$found --version 2>/dev/null))"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Chromium with apt-get (Debian/Ubuntu)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; \
	else echo "no Chromium/Chrome on PATH and no apt-get as root: install Chromium or Chrome yourself; without one the browser tests skip and figures have no PNG copies"; exit 1; fi

demo: setup  ## run the 8 notebooks on the built-in phantom, quick profile (about 10 min on 2 cores with AMX, more without: README) into runs/demo
	$(BIN)/liverkit run --profile quick --data phantom --out $(RUN)

test: setup  ## unit tests and every notebook at the smoke profile (about 13 min on 2 cores)
	$(BIN)/python -m pytest

test-fast: setup  ## the unit tests only, no notebook runs (4-6 min)
	$(BIN)/python -m pytest -m "not notebook"

# The quick profile against its committed baseline (tests/baselines/quick.json); unchanged notebooks are skipped.
# In exact fp32 on every machine: quick's precision auto trains in bf16 only where the CPU has AMX, and a bf16 run
# differs from an fp32 one as another seed would (docs/regression.md).
regress: setup  ## the quick profile, in fp32, against its committed baseline (unchanged notebooks skipped)
	$(BIN)/liverkit run --profile quick --data phantom --out runs/regress --set precision=fp32
	$(BIN)/liverkit regress runs/regress --baseline tests/baselines/quick.json

# Kit loops against plain PyTorch loops in one run; one JSON object per line.
bench: setup  ## kit loops against plain PyTorch loops, one JSON object per line; warns when the figures are noise
	$(BIN)/python benchmarks/bench.py

bench-check: setup  ## make bench, failing (exit 1) when a row is noise (busy machine, spread pairs) or a kit loop is slow
	$(BIN)/python benchmarks/bench.py --check

profile-demo: setup  ## where the demo's time goes: each quick notebook under py-spy, by phase (installs py-spy; about 1.2x make demo)
	$(BIN)/python -m pip install --quiet "py-spy>=0.3"
	$(BIN)/python benchmarks/profile_demo.py --out runs/profile

lint: setup  ## ruff check and format check
	$(BIN)/ruff check liverkit tests notebooks benchmarks
	$(BIN)/ruff format --check liverkit tests benchmarks

clean-venv:  ## remove .venv (the next setup makes it again)
	rm -rf $(VENV)
