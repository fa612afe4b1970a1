"""No test installs anything: the test files name no package manager, and no fixture runs one.

What the tests need, the set-up installs where a user can see it (`make setup`, `make browser`). The check reads the
string constants of every test file (so a command built in pieces is found too) for a package manager's name and for
an "install" next to pip; this file holds the names and is left out.
"""

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
PACKAGE_MANAGERS = {
    "apt",
    "apt-get",
    "aptitude",
    "dnf",
    "yum",
    "zypper",
    "apk",
    "brew",
    "conda",
    "mamba",
    "npm",
    "snap",
}
INSTALL_WORDS = {"install", "uninstall"}


RUNNERS = {"run", "Popen", "call", "check_call", "check_output", "system", "popen", "getoutput", "getstatusoutput"}


def _is_pip_install(words: list[str]) -> bool:
    return bool(words) and words[0] in ("pip", "pip3") and words[1:2] == ["install"]


def package_manager_calls(source: str) -> list[str]:
    """The places in ``source`` that look like running a package manager, with their line numbers.

    Flags a string that is, or starts with, a package manager's name ("apt-get", "npm install x"): a command's
    first word, however the command is put together; "pip" then "install" in a list or tuple literal; and a
    "pip install ..." line handed to subprocess or os.system. A "pip install" inside a message a test expects is
    text for a person, not a call, and is not flagged.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            words = node.value.split()
            if words and words[0] in PACKAGE_MANAGERS:
                found.append(f"line {node.lineno}: {node.value!r}")
        elif isinstance(node, (ast.List, ast.Tuple)):
            items = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
            for first, second in zip(items, items[1:], strict=False):
                if first in ("pip", "pip3") and second in INSTALL_WORDS:
                    found.append(f"line {node.lineno}: [{first!r}, {second!r}, ...]")
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in RUNNERS:
            first = node.args[0] if node.args else None
            if (
                isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and _is_pip_install(first.value.split())
            ):
                found.append(f"line {node.lineno}: {first.value!r}")
    return found


def test_the_check_finds_an_install_built_in_pieces():
    fixture = 'install = ["apt-get", "install", "-y", "chromium"]\n'
    fixture += 'subprocess.run([sys.executable, "-m", "pip", "install", "x"])'
    assert package_manager_calls(fixture) == ["line 1: 'apt-get'", "line 2: ['pip', 'install', ...]"]
    assert package_manager_calls('os.system("npm install left-pad")') == ["line 1: 'npm install left-pad'"]
    assert package_manager_calls('subprocess.run("pip install x", shell=True)') == ["line 1: 'pip install x'"]
    expected_message = 'assert "pip install \'liverkit[static]\'" in message\nsubprocess.run(["pip", "--version"])'
    assert package_manager_calls(expected_message) == []


@pytest.mark.parametrize("path", sorted(p.name for p in TESTS.glob("*.py") if p.name != Path(__file__).name))
def test_no_test_file_calls_a_package_manager(path):
    calls = package_manager_calls((TESTS / path).read_text())
    assert not calls, (
        f"tests/{path} calls a package manager ({'; '.join(calls)}): tests must not change the machine; "
        "install what they need in make setup or make browser instead"
    )
