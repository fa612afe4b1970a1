"""The run folder as a build that knows its inputs: changed data reruns every notebook in one go, results made from
other inputs are moved aside (never deleted), an older kit's folder is recognised, and the report shows only what
was made from the current inputs.

The notebooks here are tiny stand-ins named like the kit's: each writes the artefacts :data:`liverkit.story.MAKES`
gives it, and each refuses, as the kit's checkpoints and sweep caches do, an artefact of its own that was made from
other data. So the old failure (four failed reruns with a manual deletion each) would show here as a refusal.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from test_notebook_runner import lesion_file, tiny_notebooks, write_manifest

from liverkit import LiverkitError
from liverkit.kit import digest, report, staleness
from liverkit.kit.notebook_runner import run_notebooks
from liverkit.story import MAKES, NOTEBOOKS, maker

# each stand-in writes one file per pattern of MAKES, holding the digest of the data it was made from, and refuses
# to go on when such a file already holds another digest (like a GAN checkpoint trained on other data)
STAND_IN = """import hashlib, pathlib
run = pathlib.Path(run_dir)
made_from = hashlib.sha256(pathlib.Path(data_file).read_bytes()).hexdigest()
for name in {files!r}:
    path = run / name
    if path.exists() and path.read_text() != made_from:
        raise ValueError(f'{{path}} was made from other data: delete it and rerun')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(made_from)"""


def stand_in_files(notebook: str) -> list[str]:
    """One concrete file per MAKES pattern of ``notebook``."""
    return [
        pattern.replace("*", "x/r0_f0.bin" if pattern.endswith("/*") else "r0_f0.csv") for pattern in MAKES[notebook]
    ]


def kit_like_notebooks(folder: Path, data_file: Path) -> Path:
    sources = {nb: f"data_file = {str(data_file)!r}\n" + STAND_IN.format(files=stand_in_files(nb)) for nb in NOTEBOOKS}
    sources["08_visual_turing_test"] += (
        "\nanswers = run / 'artifacts' / 'turing_answers_alice.csv'"
        "\nif not answers.exists(): answers.write_text('rater,item\\nalice,1\\n')"
    )
    return tiny_notebooks(folder, sources)


@pytest.fixture
def manifest_run(tmp_path, monkeypatch):
    """A manifest entry 'mine' whose file can change under the same name, and the stand-in notebooks."""
    data = lesion_file(tmp_path / "lesions.npz", seed=0)
    write_manifest(tmp_path / "manifest.yaml", "  mine:\n    reader: lesionset\n    path: lesions.npz\n")
    monkeypatch.setenv("LIVERKIT_MANIFEST", str(tmp_path / "manifest.yaml"))
    monkeypatch.setenv("LIVERKIT_DATA", str(tmp_path))
    for module in (digest, staleness):  # the kit's source as one fixed input: these tests change only the data
        monkeypatch.setattr(module, "library_digest", lambda: "this kit")
    return tmp_path, kit_like_notebooks(tmp_path / "nbs", data), data


def run(out: Path, nbs: Path, lines: list[str] | None = None, **kwargs) -> list[bool]:
    progress = lines.append if lines is not None else None
    results = run_notebooks(out, profile="smoke", data="mine", notebook_dir=nbs, progress=progress, **kwargs)
    return [r.skipped for r in results]


def test_every_pattern_names_one_notebook_and_the_stand_ins_follow_it():
    for notebook in NOTEBOOKS:
        for file in stand_in_files(notebook):
            assert maker(file) == notebook, file
    assert maker("artifacts/gans/dcgan/fold0/cyst/generator.pt") == "03_dcgan"
    assert maker("artifacts/gan_sweep_r0_f0.json") == "05_gan_augmentation"
    assert maker("artifacts/turing_answers_bob.csv") == "08_visual_turing_test"
    assert maker("artifacts/something_else.bin") is None


def test_new_data_under_the_same_name_reruns_every_notebook_once_and_keeps_the_answers(manifest_run):
    tmp, nbs, data = manifest_run
    out = tmp / "run"
    assert run(out, nbs) == [False] * 8
    assert run(out, nbs) == [True] * 8
    old_digest = (out / "artifacts" / "lesions.npz").read_text()
    lesion_file(data, seed=1)  # new bytes, same name
    lines: list[str] = []
    assert run(out, nbs, lines) == [False] * 8  # one rerun, no refusal, no manual step
    moved = [line for line in lines if "moved to stale/" in line]
    assert len(moved) == 8 and all("the data changed" in line for line in moved), moved
    kept = [line for line in lines if "kept Turing answers" in line]
    assert len(kept) == 1 and "turing_answers_alice.csv" in kept[0]
    stale = next((out / "stale").iterdir())
    assert (stale / "artifacts" / "turing_answers_alice.csv").read_text() == "rater,item\nalice,1\n"
    record = json.loads((stale / "made_from.json").read_text())
    assert record["why"]["03_dcgan"] == "the data changed"
    assert record["made_from"]["data"]["name"] == "mine" and record["made_from"]["data"]["sha256"]
    assert (stale / "artifacts" / "lesions.npz").read_text() == old_digest
    assert (out / "artifacts" / "lesions.npz").read_text() != old_digest  # remade from the new data
    assert not (out / "artifacts" / "turing_answers_alice.csv").read_text().count("\n") > 2
    assert run(out, nbs) == [True] * 8


def test_an_interrupted_notebook_with_unchanged_inputs_keeps_its_files_to_resume(manifest_run):
    tmp, nbs, _ = manifest_run
    out = tmp / "run"
    run(out, nbs)
    state = json.loads((out / staleness.STATE_FILE).read_text())
    del state["done"]["03_dcgan"]  # as if 03 had been stopped: started with these inputs, not finished
    (out / staleness.STATE_FILE).write_text(json.dumps(state))
    checkpoint = out / stand_in_files("03_dcgan")[0]
    lines: list[str] = []
    assert run(out, nbs, lines) == [True, True, False, False, False, False, False, False]
    assert not any("stale" in line for line in lines), lines
    assert checkpoint.is_file() and not (out / "stale").exists()


def test_force_moves_the_selected_notebook_and_every_later_one_aside(manifest_run):
    tmp, nbs, _ = manifest_run
    out = tmp / "run"
    run(out, nbs)
    lines: list[str] = []
    assert run(out, nbs, lines, notebooks=["07"], force=True) == [False]
    assert [line.split(":")[0] for line in lines if "moved to stale/" in line] == [
        "07_synthetic_quality",
        "08_visual_turing_test",
    ]
    assert "--force asked for a fresh run" in lines[0]
    assert (out / "artifacts" / "lesions.npz").is_file()  # 01-06 untouched
    assert not (out / "notebooks" / "08_visual_turing_test.ipynb").exists()


def test_a_folder_from_an_older_kit_is_recognised_and_rebuilt(manifest_run):
    tmp, nbs, _ = manifest_run
    out = tmp / "run"
    run(out, nbs)
    state = json.loads((out / staleness.STATE_FILE).read_text())
    (out / staleness.STATE_FILE).write_text(json.dumps(state["done"]))  # format 1: {notebook: digest}
    lines: list[str] = []
    assert run(out, nbs, lines) == [False] * 8
    assert sum("made by an older liverkit" in line for line in lines) == 8, lines
    assert json.loads((out / staleness.STATE_FILE).read_text())["format"] == staleness.STATE_FORMAT


def test_a_folder_from_a_newer_kit_is_refused_untouched(manifest_run):
    tmp, nbs, _ = manifest_run
    out = tmp / "run"
    run(out, nbs, notebooks=["01"])
    (out / staleness.STATE_FILE).write_text(json.dumps({"format": 99, "done": {}}))
    before = sorted(p for p in out.rglob("*") if p.is_file())
    with pytest.raises(LiverkitError, match=r"made by another liverkit version \(state format 99.*use a new --out"):
        run(out, nbs)
    assert sorted(p for p in out.rglob("*") if p.is_file()) == before


def test_a_damaged_artefact_names_the_notebook_that_remakes_it_and_force_remakes_it(manifest_run):
    from liverkit.experiment.run_folder import RunFolder

    tmp, nbs, _ = manifest_run
    out = tmp / "run"
    run(out, nbs, notebooks=["01"])
    (out / "artifacts" / "folds.npy").write_bytes(b"\x93NUMPY cut short")
    pattern = (
        r"folds.npy.*rerun notebook 01 \(01_data\), which remakes it: liverkit run --out .* --notebooks 01 --force"
    )
    with pytest.raises(LiverkitError, match=pattern):
        RunFolder(out).load_array("folds")
    run(out, nbs, notebooks=["01"], force=True)
    assert (out / "artifacts" / "folds.npy").read_text() != "\x93NUMPY cut short"


# ---------------------------------------------------------------------------------------------- the report
def test_the_report_marks_stale_and_damaged_notebooks_and_shows_only_current_ones(manifest_run, monkeypatch):
    monkeypatch.setattr(report, "notebook_html", lambda notebook, figures: "<p>RESULTS SHOWN</p>")
    tmp, nbs, data = manifest_run
    out = tmp / "run"
    run(out, nbs, notebooks=["01", "02"])
    (out / "notebooks" / "02_classic_augmentation.ipynb").write_text('{"cells": [')  # cut short
    page = report.build_report(out).html
    assert "damaged: rerun notebook 02" in page and page.count("RESULTS SHOWN") == 1
    lesion_file(data, seed=3)  # the data changes after the run
    page = report.build_report(out).html
    assert "stale: the data changed since this notebook ran" in page and "RESULTS SHOWN" not in page


def test_the_report_of_a_read_only_run_folder_goes_elsewhere_and_a_failed_write_keeps_the_old_one(
    manifest_run, monkeypatch
):
    monkeypatch.setattr(report, "notebook_html", lambda notebook, figures: "<p>RESULTS SHOWN</p>")
    tmp, nbs, _ = manifest_run
    out = tmp / "run"
    run(out, nbs, notebooks=["01"])
    elsewhere = report.write_report(out, tmp / "mine.html")
    assert elsewhere == tmp / "mine.html" and "RESULTS SHOWN" in elsewhere.read_text()
    first = report.write_report(out).read_text()

    write_text = Path.write_text

    def no_space(path: Path, *args, **kwargs) -> None:
        write_text(path, "half a rep")
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(Path, "write_text", no_space)
    with pytest.raises(OSError):
        report.write_report(out)
    monkeypatch.undo()
    assert (out / report.REPORT_FILE).read_text() == first
    assert not [p for p in out.iterdir() if p.name.startswith(".report")]
    assert os.access(out / report.REPORT_FILE, os.R_OK)


def test_files_made_outside_the_runner_are_named_so_when_moved_aside(manifest_run):
    tmp, nbs, _ = manifest_run
    out = tmp / "run"
    (out / "artifacts").mkdir(parents=True)
    (out / "artifacts" / "folds.npy").write_text("made by hand")  # a notebook opened by hand, say
    lines: list[str] = []
    run(out, nbs, lines, notebooks=["01"])
    assert lines[0].startswith("01_data: made outside liverkit run (by hand, or by a test), with no record"), lines
