"""The package's layering: imports only go down the stages, and no module imports itself round a circle.

The stages, lowest first, are :data:`STAGES`; a module's stage is its folder under ``liverkit/`` (``base`` for the
modules at the top). A module may import its own stage and the stages below it, never one above. Every import
counts, also those inside functions and under ``TYPE_CHECKING``: a deferred upward import is still a dependency
the other way round. Within the package, the module graph must have no cycle.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

import liverkit

STAGES = ("base", "data", "augment", "nets", "train", "evaluate", "experiment", "kit")
"""The package's stages, lowest first (the order ``liverkit/__init__.py`` describes)."""
PACKAGE = Path(liverkit.__file__).parent


def module_name(path: Path, root: Path) -> str:
    """``liverkit.train.gan`` for ``root/train/gan.py``; a package is named by its ``__init__``'s folder."""
    parts = path.relative_to(root).with_suffix("").parts
    parts = parts[:-1] if parts[-1] == "__init__" else parts
    return ".".join(("liverkit", *parts))


def stage_of(module: str) -> str:
    """The stage of ``liverkit.X.Y``: folder ``X`` when it is a stage, else ``base``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else "base"


def imports_of(path: Path, package: str, known: set[str]) -> set[str]:
    """The package modules a file imports (``from liverkit.x import y`` counts ``liverkit.x.y`` when that is one).

    Relative imports (``from ..x import y``) are resolved against ``package``, the importing file's package.
    """
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("liverkit.")}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            if module.startswith("liverkit"):
                for alias in node.names:
                    sub = f"{module}.{alias.name}"
                    found.add(sub if sub in known else module)
    return found - {"liverkit"}


def import_graph(root: Path) -> dict[str, set[str]]:
    files = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    return {
        module: imports_of(path, module if path.name == "__init__.py" else module.rpartition(".")[0], set(files))
        - {module}
        for module, path in files.items()
    }


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    rank = {stage: i for i, stage in enumerate(STAGES)}
    return [
        f"{module} ({stage_of(module)}) imports {target} ({stage_of(target)}), a higher stage"
        for module, targets in sorted(graph.items())
        for target in sorted(targets)
        if rank[stage_of(target)] > rank[stage_of(module)]
    ]


def cycles(graph: dict[str, set[str]]) -> list[str]:
    """One line per import cycle found by a depth-first search (each cycle reported once, from its first module)."""
    found, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                found.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def layer_violations(root: Path) -> list[str]:
    graph = import_graph(root)
    return upward_imports(graph) + [f"import cycle: {cycle}" for cycle in cycles(graph)]


def test_imports_only_go_down_the_stages_and_never_round_a_circle():
    assert layer_violations(PACKAGE) == []


def test_every_folder_of_the_package_is_a_stage_with_its_map():
    folders = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__"))
    assert folders == sorted(STAGES[1:])
    for stage in STAGES[1:]:
        doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text()))
        assert doc and "Notebooks:" in doc and "May import:" in doc, stage


def test_the_top_level_holds_at_most_eight_entries_besides_the_stages():
    entries = [p.name for p in PACKAGE.iterdir() if p.name not in STAGES and p.name != "__pycache__"]
    assert len(entries) <= 8, sorted(entries)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copytree(PACKAGE, tmp_path / "liverkit", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "liverkit"


def test_a_planted_upward_import_is_caught(copy):
    lesionset = copy / "data" / "lesionset.py"
    lesionset.write_text(
        lesionset.read_text() + "\n\ndef _late():\n    from liverkit.kit import figure_check  # noqa\n"
    )
    assert layer_violations(copy) == [
        "liverkit.data.lesionset (data) imports liverkit.kit.figure_check (kit), a higher stage"
    ]


def test_a_planted_relative_upward_import_is_caught(copy):
    folds = copy / "data" / "folds.py"
    folds.write_text(folds.read_text() + "\n\nfrom ..kit import figure_check  # noqa\n")
    assert layer_violations(copy) == [
        "liverkit.data.folds (data) imports liverkit.kit.figure_check (kit), a higher stage"
    ]


def test_a_planted_cycle_within_a_stage_is_caught(copy):
    (copy / "data" / "a_loop.py").write_text("from liverkit.data import b_loop  # noqa\n")
    (copy / "data" / "b_loop.py").write_text("from liverkit.data import a_loop  # noqa\n")
    assert layer_violations(copy) == [
        "import cycle: liverkit.data.a_loop -> liverkit.data.b_loop -> liverkit.data.a_loop"
    ]
