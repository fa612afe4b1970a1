"""A notebook opened in the venv's JupyterLab, seen through headless Chromium: it loads, on the python3 kernel.

Starts ``jupyter lab`` (the command a student types) on a free port with a temporary root folder and temporary
Jupyter folders, opens ``01_data.ipynb`` there, and checks the page's DOM and a screenshot. The notebooks declare
the standard ``python3`` kernel (as Colab and every Jupyter has it); in the venv's JupyterLab that is the venv's
own Python. Skipped, with the set-up step that provides a browser, only where no Chromium/Chrome is installed.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "01_data.ipynb"
KERNEL_NAME, KERNEL_DISPLAY = "python3", "Python 3 (ipykernel)"
WINDOW = (1280, 900)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, server: subprocess.Popen, log: Path, timeout_s: float = 40) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert server.poll() is None, f"jupyter lab exited with code {server.returncode}:\n{log.read_text()[-2000:]}"
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"jupyter lab did not answer {url} within {timeout_s} s:\n{log.read_text()[-2000:]}")


def _chrome(chromium: str, tmp_path: Path, url: str, *action: str) -> subprocess.CompletedProcess:
    """One headless Chromium run on ``url``; the virtual time budget lets JupyterLab's scripts finish."""
    command = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    command += [f"--user-data-dir={tmp_path / 'chrome-profile'}", f"--window-size={WINDOW[0]},{WINDOW[1]}"]
    command += ["--virtual-time-budget=15000", *action, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)


@pytest.fixture
def lab_url(chromium, tmp_path):
    """``jupyter lab`` serving a copy of 01_data.ipynb as committed; stopped afterwards."""
    root, prefix = tmp_path / "root", tmp_path / "prefix"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    assert nbformat.read(NOTEBOOK, as_version=4).metadata["kernelspec"]["name"] == KERNEL_NAME

    # Every Jupyter folder in tmp_path (no kernels registered by this user or machine, no writes to the home
    # folder): the python3 kernel the server offers is ipykernel's own, which runs the server's Python.
    env = dict(os.environ, JUPYTER_PATH=str(prefix / "share" / "jupyter"), JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"))
    env.update(JUPYTER_DATA_DIR=str(tmp_path / "data"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    port = _free_port()
    jupyter = Path(sys.executable).with_name("jupyter")
    log = tmp_path / "jupyter-lab.log"
    server = subprocess.Popen(  # noqa: SIM115 -- the log file is closed in the finally below
        [str(jupyter), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1", f"--ServerApp.root_dir={root}"]
        + ["--IdentityProvider.token=", "--ServerApp.password=", f"--LabApp.workspaces_dir={tmp_path / 'ws'}"]
        + ["--allow-root"],  # containers and CI often run as root; jupyter refuses root without it
        env=env,
        stdout=(log_file := log.open("w")),
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(f"{base}/api/status", server, log)
        with urllib.request.urlopen(f"{base}/api/kernelspecs", timeout=5) as reply:
            specs = json.load(reply)["kernelspecs"]
        assert specs[KERNEL_NAME]["spec"]["display_name"] == KERNEL_DISPLAY
        yield f"{base}/lab/tree/{NOTEBOOK.name}"
    finally:
        server.terminate()  # jupyter_server shuts its kernels down on SIGTERM
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log_file.close()


def test_notebook_opens_in_jupyterlab_on_the_python3_kernel(chromium, lab_url, tmp_path):
    dom = _chrome(chromium, tmp_path, lab_url, "--dump-dom").stdout  # one action per run: both at once never exits
    heading = next(line for line in nbformat.read(NOTEBOOK, as_version=4).cells[0].source.splitlines() if line)
    assert heading.lstrip("# ") in dom, "the notebook's first heading is not on the page"
    assert KERNEL_DISPLAY in dom, "the toolbar does not name the python3 kernel"

    screenshot = tmp_path / "jupyterlab_01.png"
    _chrome(chromium, tmp_path, lab_url, f"--screenshot={screenshot}")
    image = Image.open(screenshot)
    assert image.size == WINDOW
    assert np.asarray(image.convert("L"), dtype=float).std() > 10, "the screenshot is blank"
