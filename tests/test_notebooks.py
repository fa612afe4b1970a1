"""Every notebook: committed clean with the standard opening, and executed end to end with the smoke profile.

The notebooks are run once per test session through the real entry point (`liverkit run`) in a subprocess,
into a temporary run folder; the tests then read what each notebook recorded.
"""

import json

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from liverkit import LiverkitError
from liverkit.kit.notebook_runner import list_notebooks, run_notebooks

NOTEBOOKS = list_notebooks()


def test_there_are_notebooks():
    assert [p.stem for p in NOTEBOOKS][:1] == ["01_data"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_clean(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has outputs: clear them before committing"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_standard_opening_cells(path):
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith(f"# {path.name[:2]}")
    assert "mybinder.org" in cells[0].source and "colab.research.google.com" in cells[0].source
    assert 'find_spec("liverkit") is None' in cells[1].source  # guarded install
    assert "print_config()" in cells[2].source  # imports + environment
    assert cells[3].metadata.get("tags") == ["parameters"]
    # The standard kernel every Jupyter has (Colab too); `liverkit run` starts the python3 of its own environment.
    kernel = nbformat.read(path, as_version=4).metadata.kernelspec
    assert (kernel.name, kernel.display_name) == ("python3", "Python 3 (ipykernel)")
    for name in ("profile", "run_dir", "data", "seed", "device", "overrides"):
        assert f"{name} = " in cells[3].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_last_cell_tells_binder_users_to_shut_the_kernel_down(path):
    last = nbformat.read(path, as_version=4).cells[-1]
    assert last.cell_type == "markdown"
    assert "Shut Down Kernel" in last.source and "2 GB" in last.source, f"{path.name}: no shut-down advice at the end"


def test_every_notebook_executed(smoke_run):
    executed = sorted(p.name for p in (smoke_run.path / "notebooks").iterdir())
    assert executed == [p.name for p in NOTEBOOKS]
    assert json.loads((smoke_run.path / "run.json").read_text()) == {"data": "phantom", "profile": "smoke", "seed": 0}


def test_every_smoke_notebook_says_its_numbers_mean_nothing(smoke_run):
    from liverkit.kit.profiles import PROFILE_BANNERS

    for path in sorted((smoke_run.path / "notebooks").glob("*.ipynb")):
        texts = [
            "".join(output.get("text", ""))
            for cell in nbformat.read(path, as_version=4).cells
            for output in cell.get("outputs", [])
        ]
        assert PROFILE_BANNERS["smoke"] in "".join(texts), path.name


def test_data_notebook_records(smoke_run):
    metrics = smoke_run.read_metrics("01_data")
    assert metrics["n_lesions"] == 182
    assert metrics["class_counts"] == {"cyst": 53, "metastasis": 64, "hemangioma": 65}
    assert metrics["patients_in_several_folds"] == 0
    assert sum(metrics["fold_sizes"]) == 182 and min(metrics["fold_sizes"]) >= 50
    lesions = smoke_run.load_lesionset("lesions")
    assert lesions.fingerprint() == metrics["fingerprint"]
    fold_of = smoke_run.load_array("folds")
    assert fold_of.shape == (182,) and set(np.unique(fold_of).tolist()) == {0, 1, 2}


def test_failure_names_notebook_and_cell(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("profile = 'x'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("raise RuntimeError('planted failure')"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "nbs").mkdir()
    nbformat.write(nb, tmp_path / "nbs" / "01_broken.ipynb")
    with pytest.raises(LiverkitError, match=r"'01_broken.ipynb' failed in cell 3 .*RuntimeError: planted failure"):
        run_notebooks(tmp_path / "run", profile="smoke", notebook_dir=tmp_path / "nbs", progress=None)
    assert (tmp_path / "run" / "notebooks" / "01_broken.failed.ipynb").is_file()  # kept, with the traceback


def test_classic_augmentation_notebook_records(smoke_run):
    from liverkit.kit.profiles import get_profile

    metrics = smoke_run.read_metrics("02_classic_augmentation")
    smoke = get_profile("smoke")
    assert metrics["groups"] == list(smoke.classic_groups)
    assert set(metrics["sweep_accuracy"]) == {str(g) for g in smoke.classic_groups}
    for key in ("no_augmentation", "honest_choice", "paper_choice"):
        estimate, low, high = metrics[key]
        assert 0.0 <= low <= estimate <= high <= 1.0, key
    assert len(metrics["honest_groups"]) == smoke.n_folds * smoke.repeats
    assert set(metrics["honest_groups"]) <= set(smoke.classic_groups)
    assert metrics["paper_choice"][0] == max(metrics["sweep_accuracy"].values())  # paper mode: best on test folds
    predictions = smoke_run.load_table("classic_predictions")
    assert len(predictions) == 182 * len(smoke.classic_groups) * smoke.repeats
    choice = smoke_run.load_table("classic_choice")
    pairs = sorted(zip(choice.repeat, choice.fold, strict=True))
    assert pairs == [(r, f) for r in range(smoke.repeats) for f in range(3)]
    assert metrics["ci_method"] == "patient_cluster_bootstrap" and metrics["repeats"] == smoke.repeats


@pytest.mark.parametrize("kind", ["dcgan", "acgan"])
def test_gan_notebooks_record_and_save(smoke_run, kind):
    from liverkit.experiment.protocol import repeat_folds
    from liverkit.experiment.synthesis import gan_folder
    from liverkit.kit.profiles import get_profile
    from liverkit.train.checkpoints import load_generator

    smoke = get_profile("smoke")
    name = {"dcgan": "03_dcgan", "acgan": "04_acgan"}[kind]
    metrics = smoke_run.read_metrics(name)
    assert metrics["models"] == smoke.n_folds * (3 if kind == "dcgan" else 1)
    assert metrics["training_seconds"] > 0
    assert 0.0 < metrics["d_real_last_epoch"] < 1.0 and 0.0 < metrics["d_fake_last_epoch"] < 1.0
    assert set(metrics["collapse_ratio_by_class"]) == {"cyst", "metastasis", "hemangioma"}
    folds = smoke_run.load_array("folds")
    lesions = smoke_run.load_lesionset("lesions")
    for fold in range(smoke.n_folds):
        synthetic = smoke_run.load_lesionset(f"synthetic_{kind}_fold{fold}")
        assert len(synthetic) == 3 * smoke.gan_samples_per_class
        assert 0.0 <= synthetic.images.min() and synthetic.images.max() <= 1.0
    for repeat in range(smoke.repeats):  # every repeat's GANs, against that repeat's own test folds
        repeat_fold_of = repeat_folds(lesions, folds, 0, repeat)
        assert repeat == 0 or not np.array_equal(repeat_fold_of, folds)  # the repeats redraw the folds
        for fold in range(smoke.n_folds):
            gan_dir = gan_folder(smoke_run, kind, fold, repeat)
            test_patients = set(lesions.patient_ids[repeat_fold_of == fold].tolist())
            generators = list(gan_dir.rglob("generator.pt"))
            assert len(generators) == (3 if kind == "dcgan" else 1)
            for path in generators:
                trained_on = set(load_generator(path).data["patient_ids"])
                assert trained_on and not trained_on & test_patients


def test_gan_augmentation_notebook_records(smoke_run):
    from liverkit.kit.profiles import get_profile

    smoke = get_profile("smoke")
    metrics = smoke_run.read_metrics("05_gan_augmentation")
    classic = smoke_run.read_metrics("02_classic_augmentation")
    assert metrics["sizes"] == list(smoke.synthetic_sizes) and len(metrics["sizes"]) >= 2
    assert metrics["arms"] == ["classic", "classic_control", "dcgan", "acgan"]
    assert metrics["ci_method"] == "patient_cluster_bootstrap" and metrics["repeats"] == smoke.repeats >= 2
    per_fold = 1 + 3 * len(smoke.synthetic_sizes) * (1 + smoke.inner_folds)
    assert metrics["models"] == smoke.n_folds * smoke.repeats * per_fold
    for setting, (estimate, low, high) in metrics["accuracy"].items():
        assert 0.0 <= low <= estimate <= high <= 1.0, setting
    assert "classic + extra classic (control) (honest choice)" in metrics["accuracy"]
    # the classic arm is notebook 02's honestly chosen model, retrained with the same seed: same predictions
    # (the CIs are drawn with other bootstrap seeds, so only the estimate must match)
    assert metrics["accuracy"]["classic optimum"][0] == classic["honest_choice"][0]
    assert metrics["accuracy"]["no augmentation"][0] == classic["no_augmentation"][0]
    for arm in ("classic_control", "dcgan", "acgan"):
        honest = metrics["comparisons"][f"{arm}_vs_classic_honest"]
        assert honest["family"] == "secondary" and 0.0 <= honest["p_value"] <= honest["p_adjusted"] <= 1.0
        assert honest["ci_low"] <= honest["accuracy_difference"] <= honest["ci_high"]
        assert len(honest["per_repeat"]) == smoke.repeats
        assert len(honest["per_repeat_fold"]) == smoke.repeats * smoke.n_folds
        paper = metrics["comparisons"][f"{arm}_vs_classic_paper"]
        assert paper["p_value"] is None and paper["verdict"] is None  # chosen on test data
    assert metrics["gan_repeats"] == metrics["n_fold_partitions"] == smoke.repeats >= 2  # each repeat: own folds
    for kind in ("dcgan", "acgan"):
        primary = metrics["primary"][kind]
        assert primary["baseline"] == "classic_control" and primary["ci_levels"] == ["patient", "repeat"]
        assert 0.0 <= primary["p_value"] <= primary["p_adjusted"] <= 1.0 and primary["adjustment"] == "bonferroni"
        assert primary["verdict"] in ("helped", "hurt", "inconclusive")
        assert (primary["verdict"] == "inconclusive") == (primary["p_adjusted"] >= 0.05)
        assert (primary["ci_low"] > 0 or primary["ci_high"] < 0) == (primary["verdict"] != "inconclusive")
        matched = primary["matched"]
        assert len(matched["gan_size"]) == smoke.repeats * smoke.n_folds
        assert matched["gan_size"] == matched["control_size"] and matched["gan_steps"] == matched["control_steps"]
        assert set(matched["gan_size"]) <= set(smoke.synthetic_sizes)
        gans = metrics["gans"][kind]
        assert len(gans["steps"]) == smoke.repeats * smoke.n_folds
        assert gans["below_trusted_steps"] == len(gans["steps"])  # smoke GANs take 4 steps, their floor is 8
    for arm in ("classic", "dcgan", "acgan"):
        for fold in range(smoke.n_folds):
            assert smoke_run.artifact(f"cnn_{arm}_fold{fold}.pt").is_file()


def test_feature_maps_notebook_records(smoke_run):
    from liverkit.kit.profiles import get_profile

    smoke = get_profile("smoke")
    metrics = smoke_run.read_metrics("06_feature_maps")
    lesions, folds = smoke_run.load_lesionset("lesions"), smoke_run.load_array("folds")
    n_test = int((folds == metrics["fold"]).sum())
    assert metrics["points"] == {
        "real test": n_test,
        "dcgan": 3 * smoke.map_synthetic_per_class,
        "acgan": 3 * smoke.map_synthetic_per_class,
    }
    for model in ("cnn_aug", "cnn_aug_gan"):
        groups = metrics[model]
        assert set(groups) == {"real", "dcgan", "acgan"}
        assert groups["real"]["n"] == n_test and groups["dcgan"]["n"] == 3 * smoke.map_synthetic_per_class
        for group, numbers in groups.items():
            assert 0.0 <= numbers["class_agreement"] <= 1.0, (model, group)
            assert -1.0 <= numbers["pool_silhouette"] <= 1.0, (model, group)
        assert 0.0 <= groups["dcgan"]["real_neighbours"] <= 1.0
    assert len(lesions) == 182


def test_quality_notebook_records(smoke_run):
    from liverkit.kit.profiles import get_profile

    smoke = get_profile("smoke")
    metrics = smoke_run.read_metrics("07_synthetic_quality")
    folds = [f"fold {f}" for f in range(smoke.n_folds)]
    comparisons = {"real train vs real test", "dcgan vs real test", "acgan vs real test"}
    assert metrics["n_folds"] == smoke.n_folds and set(metrics["per_fold"]) == set(folds)  # every fold
    assert metrics["reference"] == "real test"  # quality is judged against lesions no GAN saw
    for fold, numbers_by in [*metrics["per_fold"].items(), ("mean", metrics["mean_over_folds"])]:
        assert set(numbers_by) == comparisons, fold
        for comparison, numbers in numbers_by.items():
            assert numbers["fid"] >= -1e-6 and numbers["kid_std"] >= 0, (fold, comparison)
            for name in ("precision", "recall", "coverage"):
                assert 0.0 <= numbers[name] <= 1.0, (fold, comparison, name)
    baseline = metrics["mean_over_folds"]["real train vs real test"]
    assert baseline["precision"] > 0.5 and baseline["recall"] > 0.5  # real test lesions look like real training ones
    for kind in ("dcgan", "acgan"):
        difference = metrics["kid_difference"][kind]  # the primary, paired number, per fold and over folds
        assert set(difference) == {*folds, "mean over folds"}
        assert all(numbers["low"] <= numbers["high"] for numbers in difference.values())
        audit = metrics["memorization"][kind]
        assert set(audit) == {*folds, "all folds"}
        for fold in folds:
            assert audit[fold]["n_candidates"] == 3 * smoke.gan_samples_per_class
            assert 0 <= audit[fold]["n_flagged"] <= audit[fold]["n_candidates"] and audit[fold]["pixel_threshold"] > 0
            assert 0.0 < audit[fold]["chance_rate"] < 0.2  # computed on real held-out lesions, not assumed
        assert audit["all folds"]["n_candidates"] == smoke.n_folds * 3 * smoke.gan_samples_per_class


def _tiny_notebooks(folder, second_source="y = 2"):
    folder.mkdir(exist_ok=True)
    for name, source in (("01_first", "x = 1"), ("02_second", second_source)):
        nb = nbformat.v4.new_notebook()
        parameters = nbformat.v4.new_code_cell("profile = 'x'", metadata={"tags": ["parameters"]})
        nb.cells = [parameters, nbformat.v4.new_code_cell(source)]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, folder / f"{name}.ipynb")


def test_a_failed_notebook_is_not_marked_done(tmp_path):
    nbs, out = tmp_path / "nbs", tmp_path / "run"
    _tiny_notebooks(nbs, second_source="raise ValueError('planted')")
    with pytest.raises(LiverkitError, match="planted"):
        run_notebooks(out, profile="smoke", notebook_dir=nbs, progress=None)
    state = json.loads((out / "runner_state.json").read_text())
    assert list(state["done"]) == ["01_first"]


def test_smoke_numbers_match_the_committed_baseline(smoke_run):
    """The perturbation test: the session's smoke run runs under helpers.SMOKE_ENV (one thread; on x86-64 torch's
    vector kernels one level down) while tests/baselines/smoke.json was recorded without it; every recorded number
    (times excepted) must still match: exactly for counts, folds and choices, within each family's measured
    tolerance for numbers out of training (docs/regression.md). After a deliberate change refresh the values with
    `liverkit run --profile smoke --out runs/smoke --force && liverkit regress runs/smoke --baseline
    tests/baselines/smoke.json --update` and review the diff."""
    from pathlib import Path

    from liverkit.kit import regress

    baseline = Path(__file__).parent / "baselines" / "smoke.json"
    assert regress.check(smoke_run.path, baseline) == []


def test_turing_notebook_records(smoke_run):
    from liverkit.kit.profiles import get_profile

    smoke = get_profile("smoke")
    metrics = smoke_run.read_metrics("08_visual_turing_test")
    assert metrics["n_real"] == smoke.turing_real and metrics["n_synthetic"] == smoke.turing_synthetic
    raters = metrics["raters"]
    assert sorted(raters) == ["simulated-1", "simulated-2"]  # the demo's simulated raters, labelled as such
    for numbers in raters.values():
        assert numbers["n_answered"] == smoke.turing_real + smoke.turing_synthetic
        for key, value in numbers.items():
            if isinstance(value, float):
                assert 0.0 <= value <= 1.0, key
    assert "simulated-1 vs simulated-2" in metrics["kappa"]


@pytest.mark.parametrize("chosen", ["drive", None], ids=["LIVERKIT_RUN_DIR", "unset"])
def test_a_notebook_opened_by_hand_keeps_its_results_in_liverkit_run_dir(tmp_path, monkeypatch, chosen):
    """Notebook 01's opening cells as a student runs them (no papermill parameters) in a kernel started in the
    notebook's folder: the run folder is $LIVERKIT_RUN_DIR when set (Colab: a Drive folder), else runs/interactive
    under that folder."""
    folder = tmp_path / "content"
    folder.mkdir()
    if chosen:
        monkeypatch.setenv("LIVERKIT_RUN_DIR", str(tmp_path / chosen / "liverkit-run"))
    else:
        monkeypatch.delenv("LIVERKIT_RUN_DIR", raising=False)
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    nb.cells = nb.cells[2:5]  # imports, parameters (as committed, but the smoke profile), setup
    nb.cells[1].source = nb.cells[1].source.replace('profile = "quick"', 'profile = "smoke"')
    assert 'profile = "smoke"' in nb.cells[1].source and "run_dir = None" in nb.cells[1].source
    nb.cells.append(nbformat.v4.new_code_cell("print(run.path.resolve())"))
    NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(folder)}}).execute()
    expected = tmp_path / chosen / "liverkit-run" if chosen else folder / "runs" / "interactive"
    assert nb.cells[-1].outputs[0]["text"].strip() == str(expected)
    assert json.loads((expected / "run.json").read_text())["profile"] == "smoke"


def test_every_file_of_a_run_has_exactly_one_maker(notebook_runs):
    """liverkit.story.MAKES assigns every artefact to the notebook that writes it: the runner moves a notebook's
    files aside by it when its inputs change, and a damaged file's message names that notebook."""
    from fnmatch import fnmatchcase

    from liverkit.story import MAKES

    for name, (_, run) in notebook_runs.items():
        files = [p.relative_to(run.path).as_posix() for p in (run.path / "artifacts").rglob("*") if p.is_file()]
        assert files, name
        for file in files:
            makers = [nb for nb, patterns in MAKES.items() if any(fnmatchcase(file, p) for p in patterns)]
            assert len(makers) == 1, (name, file, makers)
