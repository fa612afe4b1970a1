"""Every piece of code the exercises suggest runs as written, after its notebook's own cells, on the smoke profile;
every check cell runs, and every checker, fed this run's answer from the teacher's key, says "Right".

The code of an exercise is a ```python block in the notebook's "## Exercises" text, or a check cell (a code cell
calling ``exercises.check_...``). The notebooks whose exercises suggest code, each followed by that code and its key
checks, run in ONE kernel, each after ``%reset -f``: a snippet sees only what its own notebook defined, as in a
fresh session, while the kernel starts once and torch is imported once. They run in a copy of the session's smoke
run folder (conftest's ``smoke_run``), so every cached sweep and GAN is reused and that folder is left as it was.

Also here: docs/teaching.md answers every exercise of every notebook, and the GANs' history numbers its epochs as
the epoch scrubber does.
"""

from __future__ import annotations

import re
import shutil
import textwrap
import time
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from helpers import SMOKE_ENV

from liverkit.data.folds import patients_per_class
from liverkit.experiment.synthesis import GAN_KINDS, gan_folder
from liverkit.kit import exercises
from liverkit.kit.notebook_runner import KERNEL_NAME, list_notebooks
from liverkit.progress import HEADLESS_ENV

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^[ \t]*```python\n(.*?)^[ \t]*```", re.S | re.M)
CALL = "exercises.check_"


# ---------------------------------------------------------------------------------------------- reading notebooks
def exercise_text(cells: list) -> str:
    """The notebook's "## Exercises" markdown."""
    (text,) = [c.source for c in cells if c.cell_type == "markdown" and c.source.startswith("## Exercises")]
    return text


def snippets(markdown: str) -> list[str]:
    """The ```python blocks of a markdown text, dedented (they sit inside numbered list items)."""
    return [textwrap.dedent(match.group(1)) for match in FENCE.finditer(markdown)]


def exercise_numbers(markdown: str) -> list[int]:
    """The numbers of the exercises in an "## Exercises" text (its top-level numbered items)."""
    return [int(n) for n in re.findall(r"^(\d+)\. ", markdown, re.M)]


def checker_calls(source: str) -> list[str]:
    """Every ``exercises.check_...(..., answer=None, ...)`` call in a piece of code, as written."""
    calls = []
    for start in (m.start() for m in re.finditer(re.escape(CALL), source)):
        depth, opened = 0, source.index("(", start)
        for end in range(opened, len(source)):
            depth += {"(": 1, ")": -1}.get(source[end], 0)
            if depth == 0:
                break
        call = source[start : end + 1]
        if "answer=None" in call:
            calls.append(call)
    return calls


def key_check(call: str) -> str:
    """Code that asks the key for ``call``'s answer, gives that answer back, and asserts it is right."""
    return textwrap.dedent(
        f"""\
        from liverkit.kit import exercises

        key = {call.replace("answer=None", "answer=exercises.ANSWER_KEY")}
        assert key.startswith("Answer: "), key
        answer = key.removeprefix("Answer: ").split(" (also right")[0].split(". ")[0]
        verdict = {call.replace("answer=None", "answer=answer")}
        assert verdict.startswith("Right: "), (answer, verdict)
        print("KEY", {call.split("(")[0].removeprefix("exercises.")!r}, repr(answer), "->", verdict)
        """
    )


# ---------------------------------------------------------------------------------------------- the cheap tests
@pytest.mark.parametrize("path", list_notebooks(), ids=lambda p: p.stem)
def test_exercise_code_is_explicit_and_valid_python(path):
    cells = nbformat.read(path, as_version=4).cells
    text = exercise_text(cells)
    assert exercise_numbers(text) == list(range(1, len(exercise_numbers(text)) + 1))
    for snippet in snippets(text):
        compile(snippet, f"{path.name} exercise code", "exec")
    assert "`" + "``python" not in FENCE.sub("", text), "an unclosed ```python block"
    checks = [c for c in cells if c.cell_type == "code" and CALL in c.source]
    assert checks, f"{path.name} has no check cell"
    index = [c.source for c in cells].index(text)
    assert all(cells.index(c) > index for c in checks)  # the check cells follow the exercises
    assert cells[-1].cell_type == "markdown" and "## Exercises" not in cells[-1].source  # "Next:" last, on its own


def test_teaching_guide_answers_every_exercise():
    """docs/teaching.md has a section per exercise (``### 01/2 ...``) and says which are checked, by which checker."""
    guide = (ROOT / "docs" / "teaching.md").read_text()
    sections = set(re.findall(r"^### (\d\d)/(\d+)\b", guide, re.M))
    total = 0
    for path in list_notebooks():
        numbers = exercise_numbers(exercise_text(nbformat.read(path, as_version=4).cells))
        assert {(path.stem[:2], str(n)) for n in numbers} <= sections, path.name
        total += len(numbers)
    assert f"{len(exercises.CHECKERS)} of the {total} exercises are checked" in " ".join(guide.split())
    for (notebook, number), checker in exercises.CHECKERS.items():
        section = guide.split(f"### {notebook}/{number} ")[1].split("\n### ")[0]
        assert f"`{checker.__name__}`" in section, (notebook, number)
    assert "ANSWER_KEY" in guide
    readme = (ROOT / "README.md").read_text()
    assert "docs/teaching.md" in readme


def test_gan_history_numbers_epochs_as_the_scrubber_does(smoke_run):
    """The history's epoch e holds the steps before the samples shown as "epoch e of E" (``epoch_samples[e - 1]``):
    epochs 1..E, each with at most one epoch's steps, E = the number of sample grids."""
    for kind in GAN_KINDS:
        histories = sorted(gan_folder(smoke_run, kind, 0).rglob("history.csv"))
        assert histories, kind
        for history_file in histories:
            history = pd.read_csv(history_file)
            samples = np.load(history_file.with_name("samples.npy"), allow_pickle=False)
            assert sorted(set(history.epoch)) == list(range(1, len(samples) + 1)), history_file
            assert history.step.tolist() == list(range(1, len(history) + 1))
            per_epoch = history.groupby("epoch").size()
            assert per_epoch.iloc[:-1].nunique() <= 1 and per_epoch.iloc[-1] <= per_epoch.iloc[0]


# ---------------------------------------------------------------------------------------------- running the code
def with_code() -> list[Path]:
    """The notebooks whose exercises suggest code: only they are run again here. The others' check cells already
    ran in the smoke run (tests/test_any_data.py), and their checkers' answers are unit-tested (test_exercises.py);
    running them again would add minutes to ``make test`` and test nothing new."""
    return [p for p in list_notebooks() if snippets(exercise_text(nbformat.read(p, as_version=4).cells))]


def combined_notebook(run_dir: Path) -> nbformat.NotebookNode:
    """Every notebook with exercise code (:func:`with_code`) in order, each after ``%reset -f``, with the smoke
    parameters, then its exercise code, then one key check per checker call. Added cells carry
    ``metadata.exercise_test`` (notebook, kind, index)."""
    first = nbformat.read(list_notebooks()[0], as_version=4)
    combined = nbformat.v4.new_notebook(metadata=first.metadata)
    parameters = (
        f'profile = "smoke"\nrun_dir = {str(run_dir)!r}\ndata = "phantom"\nseed = 0\ndevice = "cpu"\noverrides = {{}}'
    )

    def add(source: str, stem: str, kind: str, index: int = 0) -> None:
        tag = {"notebook": stem, "kind": kind, "index": index}
        combined.cells.append(nbformat.v4.new_code_cell(source, metadata={"exercise_test": tag}))

    for path in with_code():
        stem, cells = path.stem, nbformat.read(path, as_version=4).cells
        add("%reset -f", stem, "reset")
        calls = []
        for cell in cells:
            if cell.cell_type != "code":
                continue
            is_check = CALL in cell.source
            add(cell.source, stem, "check" if is_check else "cell")
            calls += checker_calls(cell.source)
            if "parameters" in cell.metadata.get("tags", []):
                add(parameters, stem, "parameters")
        for i, snippet in enumerate(snippets(exercise_text(cells))):
            add(snippet, stem, "snippet", i)
            calls += checker_calls(snippet)
        for i, call in enumerate(calls):
            add(key_check(call), stem, "key", i)
    return combined


def outputs_of(cell: nbformat.NotebookNode) -> str:
    """A cell's printed text and the plain text of its results."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


@pytest.fixture(scope="module")
def executed(smoke_run, tmp_path_factory) -> dict[tuple[str, str], list[str]]:
    """The combined notebook executed in a copy of the smoke run: ``{(notebook, kind): [outputs per cell]}``."""
    import papermill

    root = tmp_path_factory.mktemp("exercise-code")
    run_dir = root / "smoke-run"
    shutil.copytree(smoke_run.path, run_dir)
    source, output = root / "exercises.ipynb", root / "exercises.executed.ipynb"
    nbformat.write(combined_notebook(run_dir), source)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (SMOKE_ENV | {HEADLESS_ENV: "1"}).items():
            patch.setenv(name, value)
        start = time.perf_counter()
        papermill.execute_notebook(
            str(source), str(output), kernel_name=KERNEL_NAME, cwd=str(run_dir / "notebooks"), progress_bar=False
        )
        print(f"\nexercise code: all notebooks and their exercises ran in {time.perf_counter() - start:.0f} s")
    found: dict[tuple[str, str], list[str]] = {}
    for cell in nbformat.read(output, as_version=4).cells:
        tag = cell.metadata["exercise_test"]
        found.setdefault((tag["notebook"], tag["kind"]), []).append(outputs_of(cell))
    return found


def test_every_check_cell_asks_its_question(executed):
    for path in with_code():
        printed = "".join(executed[path.stem, "check"])
        cells = nbformat.read(path, as_version=4).cells
        n_calls = sum(len(checker_calls(c.source)) for c in cells if c.cell_type == "code")
        assert printed.count("Fill in your answer (replace None): ") == n_calls, path.stem


def test_every_checker_takes_the_keys_answer_as_right(executed):
    checked = set()
    for (_, kind), outputs in executed.items():
        if kind == "key":
            checked |= set(re.findall(r"^KEY (check_\w+) .* -> Right: ", "".join(outputs), re.M))
    run_here = {path.stem[:2] for path in with_code()}
    assert checked == {checker.__name__ for (nb, _), checker in exercises.CHECKERS.items() if nb in run_here}
    assert {"01", "02", "06", "07", "08"} <= run_here  # the notebooks whose exercises suggest code


def test_the_data_exercises_code(executed, smoke_run):
    table, error = executed["01_data", "snippet"][1:3]
    assert "metastasis patients" in table and "patients" in table
    per_class = patients_per_class(smoke_run.load_lesionset("lesions"))
    rarest = min(per_class, key=per_class.get)
    assert f"class '{rarest}' has {per_class[rarest]} patient(s). It is the rarest class" in error
    assert f"(k={per_class[rarest]})" in error  # the k it suggests is the largest that works (checked by 01/2's key)


def test_the_dropout_sweep_runs_outside_the_run_folder(executed):
    (printed,) = executed["02_classic_augmentation", "snippet"]
    assert "Fill in your answer (replace None): which group's pooled accuracy falls most" in printed
    assert re.search(r"^\s*group\b", printed, re.M)  # the table without dropout, one row per group


def test_the_quality_exercises_code(executed):
    notes = "".join(executed["07_synthetic_quality", "cell"])
    assert "Precision and recall with k = 5 on " in notes and "Density (Naeem et al. 2020)" in notes
    copy, planted = executed["07_synthetic_quality", "snippet"]
    assert re.search(r"copy\s+0\.0\s*$", copy, re.M), copy  # a copy of the training lesions: difference exactly 0
    assert re.search(r"\s0\.0\s+True\s*$", planted, re.M), planted  # the planted copy: distance 0, flagged


def test_the_turing_exercises_code(executed):
    items, lengths, same_seed = executed["08_visual_turing_test", "snippet"]
    assert "called_synthetic" in items
    assert "n = 40: 24 right, p = 0.268" in lengths and "n = 200: 120 right, p = 0.006" in lengths
    assert "Fill in your answer" in same_seed and re.search(r"simulated-1\s+simulated-2\s+12\s+1\.0\s+1\.0", same_seed)
