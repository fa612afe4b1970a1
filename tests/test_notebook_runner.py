"""The notebook runner: what it skips and why, the digest of every input, the run lock, and the progress estimate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from helpers import make_set

from liverkit import LiverkitError
from liverkit.kit import digest, notebook_runner
from liverkit.kit.digest import run_inputs_digest
from liverkit.kit.eta import KERNEL_WORK, Eta, notebook_work
from liverkit.kit.notebook_runner import run_lock, run_notebooks
from liverkit.kit.profiles import get_profile, resolve_profile

RECORD = """import json, os, pathlib
m = pathlib.Path(run_dir) / 'metrics'
m.mkdir(exist_ok=True)
(m / '{stem}.json').write_text(json.dumps({{'data': data, 'overrides': overrides,
    'manifest': os.environ.get('LIVERKIT_MANIFEST')}}))"""


def tiny_notebooks(folder: Path, sources: dict[str, str]) -> Path:
    """Notebooks named by ``sources``' keys: the parameters cell, the given source, then a metrics record."""
    folder.mkdir(exist_ok=True)
    for stem, source in sources.items():
        nb = nbformat.v4.new_notebook()
        parameters = "profile = 'x'\nrun_dir = ''\ndata = ''\nseed = 0\ndevice = ''\noverrides = {}"
        nb.cells = [
            nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell(source),
            nbformat.v4.new_code_cell(RECORD.format(stem=stem)),
        ]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, folder / f"{stem}.ipynb")
    return folder


def lesion_file(path: Path, seed: int = 0) -> Path:
    """A small LesionSet file that splits into the smoke profile's folds (8 patients per class)."""
    return make_set([0, 1, 2] * 8, seed=seed).save(path)


def write_manifest(path: Path, entries: str) -> Path:
    path.write_text("datasets:\n" + entries)
    return path


def run(out, nbs, data, **kwargs) -> list[bool]:
    """Which notebooks were skipped."""
    results = run_notebooks(out, profile="smoke", data=str(data), notebook_dir=nbs, progress=None, **kwargs)
    return [r.skipped for r in results]


# ---------------------------------------------------------------------------------------------- skipping
def test_unchanged_notebooks_are_skipped_and_a_rerun_reaches_every_later_one(tmp_path):
    nbs, out, data = tmp_path / "nbs", tmp_path / "run", lesion_file(tmp_path / "d.npz")
    tiny_notebooks(nbs, {"01_first": "x = 1", "02_second": "y = 2"})
    assert run(out, nbs, data) == [False, False]
    assert run(out, nbs, data) == [True, True]
    tiny_notebooks(nbs, {"02_second": "y = 3"})  # only the second changed
    assert run(out, nbs, data) == [True, False]
    (out / "metrics" / "01_first.json").unlink()  # a lost metrics record reruns it, and so every later one
    assert run(out, nbs, data) == [False, False]
    assert run(out, nbs, data, force=True) == [False, False]
    assert json.loads((out / "run.json").read_text()) == {"data": str(data), "profile": "smoke", "seed": 0}


def test_new_data_bytes_under_the_same_manifest_name_rerun_the_notebook(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lesion_file(tmp_path / "lesions.npz", seed=0)
    write_manifest(tmp_path / "manifest.yaml", "  mine:\n    reader: lesionset\n    path: lesions.npz\n")
    monkeypatch.setenv("LIVERKIT_MANIFEST", "manifest.yaml")  # relative: made absolute for the kernels
    monkeypatch.setenv("LIVERKIT_DATA", ".")
    nbs = tiny_notebooks(tmp_path / "nbs", {"01_only": "import time; time.sleep(1.5)"})
    lines: list[str] = []
    results = run_notebooks(
        "run",
        profile="smoke",
        data="mine",
        notebook_dir=nbs,
        progress=lines.append,
        heartbeat_s=0.5,
        overrides={"classifier.epochs": 3},
    )
    assert [r.skipped for r in results] == [False]
    assert any("01_only running; 0 of 1 notebooks done" in line for line in lines), lines  # the heartbeat
    assert "1 of 1 notebooks done, 100% of the work" in lines[-1]
    recorded = json.loads((tmp_path / "run" / "metrics" / "01_only.json").read_text())
    assert recorded == {
        "data": "mine",
        "overrides": {"classifier.epochs": 3},
        "manifest": str(tmp_path / "manifest.yaml"),
    }
    again = dict(data="mine", overrides={"classifier.epochs": 3})
    assert run("run", nbs, **again) == [True]
    lesion_file(tmp_path / "lesions.npz", seed=1)  # same name, same manifest entry, other bytes
    assert run("run", nbs, **again) == [False]


# ---------------------------------------------------------------------------------------------- digests
@pytest.fixture
def data_sets(tmp_path, monkeypatch):
    """A manifest with a LesionSet file, a folder and a NIfTI table, each with something on disk."""
    lesion_file(tmp_path / "lesions.npz")
    (tmp_path / "rois").mkdir()
    (tmp_path / "rois" / "labels.csv").write_text("path,label,patient_id\na.png,cyst,p1\n")
    (tmp_path / "rois" / "a.png").write_bytes(b"png bytes")
    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "lesions.csv").write_text("volume,mask,label,patient_id\nv1.nii,m1.nii,cyst,p1\n")
    (tmp_path / "scans" / "v1.nii").write_bytes(b"volume")
    (tmp_path / "scans" / "m1.nii").write_bytes(b"mask")
    entries = (
        "  file-set:\n    reader: lesionset\n    path: lesions.npz\n"
        "  folder-set:\n    reader: folder\n    path: rois\n    options: {class_names: [cyst]}\n"
        "  scans:\n    reader: nifti\n    path: scans/lesions.csv\n"
    )
    monkeypatch.setenv("LIVERKIT_MANIFEST", str(write_manifest(tmp_path / "manifest.yaml", entries)))
    monkeypatch.setenv("LIVERKIT_DATA", str(tmp_path))
    return tmp_path


def _digest(data: str, **overrides) -> str:
    return run_inputs_digest(data, resolve_profile("smoke", data, overrides))


def _edit_manifest(folder: Path, old: str, new: str) -> None:
    manifest = folder / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace(old, new))


def _same_manifest_elsewhere(folder: Path) -> None:
    copy = folder / "copy.yaml"
    copy.write_text((folder / "manifest.yaml").read_text())
    os.environ["LIVERKIT_MANIFEST"] = str(copy)  # the fixture's monkeypatch restores it


def test_the_same_inputs_give_the_same_digest(data_sets):
    for name in ("file-set", "folder-set", "scans", "phantom", str(data_sets / "lesions.npz")):
        assert _digest(name) == _digest(name), name
    assert len({_digest(name) for name in ("file-set", "folder-set", "scans", "phantom")}) == 4


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("file-set", lambda d: lesion_file(d / "lesions.npz", seed=5)),
        ("folder-set", lambda d: (d / "rois" / "labels.csv").write_text("path,label,patient_id\na.png,cyst,p2\n")),
        ("folder-set", lambda d: (d / "rois" / "a.png").write_bytes(b"other bytes")),
        ("folder-set", lambda d: (d / "rois" / "b.png").write_bytes(b"a new image")),
        ("scans", lambda d: (d / "scans" / "m1.nii").write_bytes(b"new mask")),
        ("folder-set", lambda d: _edit_manifest(d, "class_names: [cyst]", "class_names: [cyst], window: [0, 1]")),
        ("file-set", lambda d: _edit_manifest(d, "lesions.npz\n", "lesions.npz\n    augment: {n_flip: 0}\n")),
        (
            "file-set",
            lambda d: _edit_manifest(d, "lesions.npz\n", 'lesions.npz\n    md5: "0123456789abcdef0123456789abcdef"\n'),
        ),
        ("file-set", lambda d: _same_manifest_elsewhere(d)),
    ],
    ids=[
        "data-bytes",
        "labels-csv",
        "folder-image",
        "folder-new-file",
        "nifti-mask",
        "options",
        "augment",
        "md5",
        "manifest-file",
    ],
)
def test_changing_one_input_changes_the_digest(data_sets, name, change):
    before = _digest(name)
    change(data_sets)
    assert _digest(name) != before


def test_a_profile_override_and_a_package_version_change_the_digest(data_sets, monkeypatch):
    before = _digest("file-set")
    assert _digest("file-set", **{"classifier.epochs": 3}) != before
    assert _digest("file-set", **{"classifier.epochs": 2}) == before  # the smoke profile's own value
    versions = digest.package_versions()
    assert set(versions) == {"torch", "numpy", "scikit-learn", "umap-learn"} and versions["numpy"]
    monkeypatch.setattr(digest, "package_versions", lambda: {**versions, "torch": "0.0.1"})
    assert _digest("file-set") != before


# ---------------------------------------------------------------------------------------------- lock
def test_a_second_run_into_a_locked_folder_is_refused_and_a_dead_holder_frees_it(tmp_path):
    out = tmp_path / "run"
    holder = (
        "import sys, time; from pathlib import Path; from liverkit.kit.notebook_runner import run_lock\n"
        "with run_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", holder, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(LiverkitError, match=rf"'{out}' is in use by another liverkit run \(process {proc.pid}\)"):
            with run_lock(out):
                pass
    finally:
        proc.kill()  # killed, not released: the operating system frees the lock
        proc.wait()
    with run_lock(out):
        assert (out / ".liverkit.lock").read_text().strip() == str(os.getpid())


# ---------------------------------------------------------------------------------------------- progress
def test_the_work_model_counts_trainings_epochs_images_and_gan_steps():
    smoke, quick = get_profile("smoke"), get_profile("quick")
    n_train = 182 * 2 / 3
    expected = {  # hand-counted: see notebook_work's docstring
        ("smoke", "02_classic_augmentation"): 10_000 + 6 * 3 * 2 * (n_train + 100),
        # + group 0 (121 images, 2 batches) trained for group 450's 8 x 8 = 64 steps: 32 epochs
        ("quick", "02_classic_augmentation"): 10_000 + (6 * 3 * 8 * (n_train + 150 + 450) + 6 * 32 * n_train) / 2,
        ("smoke", "03_dcgan"): 10_000 + 18 * 4 * 16 * 1.0,  # 2 epochs x 2 batches of 33 images, width 32
        ("quick", "03_dcgan"): 10_000 + 18 * 600 * 16 * 4.0 / 2,  # 2 repeats, capped at 600 steps, 2 processes
        ("quick", "04_acgan"): 10_000 + 6 * 800 * 16 * 8.0 / 2,
        ("quick", "05_gan_augmentation"): 10_000 + 6 * 8 * (450 + 3 * (3 * 525 + 3 * 675)) / 2,  # 2 repeats x 3 folds
        ("quick", "01_data"): 40_000,
        ("smoke", "99_not_the_kits"): 40_000,
    }
    profiles = {"smoke": smoke, "quick": quick}
    for (profile, stem), work in expected.items():
        assert notebook_work(stem, profiles[profile], 182, 3) == pytest.approx(work), (profile, stem)
    # The quick demo's notebook times on two CPU cores (seconds, fp32, 2-core Xeon, 2026-12-07; docs/performance.md):
    # each training notebook's share of the counted work is within a factor 1.5 of its share of the time.
    seconds = {
        "01_data": 10,
        "02_classic_augmentation": 56,
        "03_dcgan": 288,
        "04_acgan": 182,
        "05_gan_augmentation": 163,
        "06_feature_maps": 25,
        "07_synthetic_quality": 17,
        "08_visual_turing_test": 10,
    }
    work = {stem: notebook_work(stem, quick, 182, 3) for stem in seconds}
    training = ("02_classic_augmentation", "03_dcgan", "04_acgan", "05_gan_augmentation")
    for stem in training:
        ratio = (work[stem] / sum(work.values())) / (seconds[stem] / sum(seconds.values()))
        assert 1 / 1.5 < ratio < 1.5, (stem, ratio)
    smoke_training = sum(notebook_work(stem, smoke, 182, 3) - 10_000 for stem in training)
    assert sum(work[stem] - 10_000 for stem in training) > 25 * smoke_training  # 986,384 vs 36,576


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_time_left_is_the_work_left_at_the_speed_measured_so_far():
    clock = FakeClock()
    eta = Eta({"a": 100.0, "b": 300.0}, clock=clock)
    eta.start("a")
    clock.now += 7
    assert eta.estimate() == (0.0, None)
    assert eta.line() == "0 of 2 notebooks done, 0% of the work, 0m07s elapsed, time left: not measured yet, " + (
        "under a minute on 2 CPU cores"
    )
    big = Eta({"a": 1_200_000.0}, clock=clock)
    assert big.line().endswith("time left: not measured yet, roughly 10-27 min on 2 CPU cores")  # 600 s, x2.7
    clock.now += 3
    eta.finish("a")  # 100 units in 10 s: 10 units/s
    assert eta.estimate() == (0.25, 30.0)
    eta.start("b")
    clock.now += 10  # 100 of b's 300 units done at the measured speed
    assert eta.estimate() == (0.5, 20.0)
    assert eta.line() == "1 of 2 notebooks done, 50% of the work, 0m20s elapsed, about 0m20s left"
    clock.now += 3600  # slower than measured: never more than the notebook's own work, never negative time
    assert eta.estimate() == (1.0, 0.0)
    assert "1h00m elapsed" in eta.line()


def test_relative_data_paths_are_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lesion_file(tmp_path / "d.npz")
    monkeypatch.setenv("LIVERKIT_DATA", "data")
    monkeypatch.setenv("LIVERKIT_MANIFEST", "sub/m.yaml")
    notebook_runner.absolute_data_env()
    assert os.environ["LIVERKIT_DATA"] == str(tmp_path / "data")
    assert os.environ["LIVERKIT_MANIFEST"] == str(tmp_path / "sub" / "m.yaml")
    assert notebook_runner.absolute_data("d.npz") == str(tmp_path / "d.npz")
    assert notebook_runner.absolute_data("phantom") == "phantom"


# ---------------------------------------------------------------------------------------------- the notebook extra
def test_without_the_notebook_extra_a_run_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    from liverkit.kit.cli import main

    monkeypatch.setitem(sys.modules, "papermill", None)  # as if papermill were not installed
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), "--data", str(lesion_file(tmp_path / "d.npz"))]) == 2
    err = capsys.readouterr().err
    assert "liverkit run needs the notebook extra" in err and 'pip install "liverkit[notebooks] @ git+' in err
    assert not out.exists()  # refused before anything was written
    with pytest.raises(LiverkitError, match=r"needs the notebook extra.*make setup installs it"):
        notebook_runner.require_notebook_extra()


def test_set_overrides_are_recorded_in_run_json_and_passed_to_every_notebook(tmp_path, monkeypatch, capsys):
    """``liverkit run --set ...`` end to end, with the notebook execution replaced by a stub (no kernel starts)."""
    from liverkit.kit import report
    from liverkit.kit.cli import main

    executed = []

    def execute(notebook, output, parameters):
        executed.append((notebook.stem, parameters["overrides"]))
        output.write_text("{}")
        return notebook_runner.NotebookResult(notebook.stem, output, 0.0)

    monkeypatch.setattr(notebook_runner, "_execute", execute)
    monkeypatch.setattr(report, "write_report", lambda run_dir: Path(run_dir) / "report.html")
    nbs, out, data = tmp_path / "nbs", tmp_path / "run", lesion_file(tmp_path / "d.npz")
    nbs.mkdir()
    for stem in ("01_first", "02_second"):
        nbformat.write(nbformat.v4.new_notebook(), nbs / f"{stem}.ipynb")
    args = ["run", "--out", str(out), "--profile", "smoke", "--data", str(data), "--notebook-dir", str(nbs)]
    sets = ["--set", "classifier.epochs=3", "--set", "augment.rot_range_deg=[0, 15]"]
    assert main([*args, *sets]) == 0, capsys.readouterr().err
    overrides = {"augment.rot_range_deg": [0, 15], "classifier.epochs": 3}
    assert json.loads((out / "run.json").read_text()) == {
        "data": str(data),
        "overrides": overrides,
        "profile": "smoke",
        "seed": 0,
    }
    assert executed == [("01_first", overrides), ("02_second", overrides)]
    assert main([*args, "--set", "classifier.epochs=4"]) == 2  # the folder belongs to the first configuration
    assert "belongs to another configuration" in capsys.readouterr().err


def test_a_notebook_that_rebuilds_its_predecessors_counts_their_work():
    """``--notebooks 05`` into an empty folder builds 01-04 inside 05's kernel: the progress line counts that work;
    steps that succeeded before, or run earlier in the same plan, are not counted twice."""
    quick = resolve_profile("quick", "phantom")
    checked = notebook_runner.CheckedInputs(quick, 182, 3)
    work = {
        stem: notebook_work(stem, quick, 182, 3)
        for stem in ("01_data", "02_classic_augmentation", "03_dcgan", "04_acgan", "05_gan_augmentation")
    }
    rebuilt = sum(work[s] - KERNEL_WORK for s in ("01_data", "02_classic_augmentation", "03_dcgan", "04_acgan"))
    alone = notebook_runner.plan_work([(Path("05_gan_augmentation.ipynb"), False)], {}, checked)
    assert alone == {"05_gan_augmentation": pytest.approx(work["05_gan_augmentation"] + rebuilt)}
    after_02 = notebook_runner.plan_work(
        [(Path("05_gan_augmentation.ipynb"), False)], {"01_data": "x", "02_classic_augmentation": "y"}, checked
    )
    assert after_02["05_gan_augmentation"] == pytest.approx(
        work["05_gan_augmentation"] + work["03_dcgan"] + work["04_acgan"] - 2 * KERNEL_WORK
    )
    chain = [(Path(f"{stem}.ipynb"), stem == "01_data") for stem in work]  # 01 skipped (unchanged): it is there
    assert notebook_runner.plan_work(chain, {"01_data": "x"}, checked) == {
        s: pytest.approx(w) for s, w in work.items() if s != "01_data"
    }
