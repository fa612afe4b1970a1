"""scripts/install_torch.py, the set-up's choice of torch build: CPU wheels without an NVIDIA GPU, a quick fallback."""

from __future__ import annotations

import http.server
import importlib.util
import sys
import threading
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "install_torch.py"


@pytest.fixture(scope="module")
def install():
    spec = importlib.util.spec_from_file_location("install_torch", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_build_follows_the_gpu_and_the_cpu_index(install):
    gpu, why = install.pip_command(gpu=True, cpu_index=True)
    assert gpu[:3] == [sys.executable, "-m", "pip"] and "--index-url" not in gpu and "CUDA" in why
    cpu, why = install.pip_command(gpu=False, cpu_index=True)
    assert cpu[cpu.index("--index-url") + 1] == install.CPU_INDEX and "CPU build" in why
    fallback, why = install.pip_command(gpu=False, cpu_index=False)
    assert "--index-url" not in fallback and "did not answer" in why


def test_an_index_that_does_not_answer_falls_back_within_the_timeout(install):
    start = time.monotonic()
    assert install.index_answers("http://127.0.0.1:9", timeout=2.0) is False  # port 9: nothing listens
    assert time.monotonic() - start < 2.5


def test_an_index_that_answers_is_used(install):
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server hook's name
            self.send_response(200 if self.path == "/whl/cpu/torch/" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert install.index_answers(f"http://127.0.0.1:{server.server_port}/whl/cpu") is True
        assert install.index_answers(f"http://127.0.0.1:{server.server_port}/other") is False
    finally:
        server.shutdown()


def test_the_packages_match_pyproject(install):
    pyproject = (SCRIPT.parents[1] / "pyproject.toml").read_text()
    for requirement in install.PACKAGES:
        assert f'"{requirement}"' in pyproject
