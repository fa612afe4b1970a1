"""liverkit.kit.standalone: a notebook started in an empty run folder gets exactly what the earlier notebooks would
write.

Notebook 05 runs alone into an empty folder beside the session's smoke run (conftest's ``notebook_runs``), under the
same ``helpers.SMOKE_ENV``, so thread counts (and with them float rounding) match, and what its ``standalone.prepare``
cell built can be compared with the smoke run's artifacts bitwise.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import SMOKE_ENV

from liverkit import LiverkitError
from liverkit.experiment.run_folder import RunFolder
from liverkit.kit import standalone
from liverkit.kit.profiles import resolve_profile
from liverkit.kit.regress import collect
from liverkit.train.checkpoints import load_generator

SMOKE = resolve_profile("smoke", "phantom")
PREPARE = """
import sys
from liverkit.kit import standalone
from liverkit.kit.profiles import resolve_profile
from liverkit.experiment.run_folder import RunFolder, run_identity
run = RunFolder(sys.argv[1], identity=run_identity("smoke", "phantom", 0))
built = standalone.prepare(run, sys.argv[2], resolve_profile("smoke", "phantom"), "phantom", 0, "cpu", progress=False)
print("built:", ",".join(built))
"""


def prepare_in_subprocess(out: Path, notebook: str) -> str:
    """Run ``standalone.prepare`` for ``notebook`` into ``out`` (smoke profile, phantom, seed 0) under SMOKE_ENV."""
    command = [sys.executable, "-c", PREPARE, str(out), notebook]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env={**os.environ, **SMOKE_ENV})
    assert done.returncode == 0, f"prepare failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def prepared(notebook_runs) -> tuple[RunFolder, str]:
    """Notebook 05 run alone into an empty folder (conftest's ``notebook_runs``, under SMOKE_ENV): the run folder its
    ``standalone.prepare`` cell filled, and what the notebook printed."""
    run = notebook_runs["alone-05"][1]
    cells = json.loads((run.path / "notebooks" / "05_gan_augmentation.ipynb").read_text())["cells"]
    said = "".join(
        "".join(o.get("text", "")) for c in cells for o in c.get("outputs", []) if o["output_type"] == "stream"
    )
    return run, said


def file_times(run: RunFolder) -> dict[str, int]:
    return {str(p.relative_to(run.path)): p.stat().st_mtime_ns for p in sorted(run.path.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------------- without training
@pytest.mark.parametrize("key", ["5", "05", "05_gan_augmentation", "notebooks/05_gan_augmentation.ipynb"])
def test_notebook_names(key):
    assert standalone.notebook_name(key) == "05_gan_augmentation"


def test_unknown_notebook_names_the_value():
    with pytest.raises(LiverkitError, match=r"no notebook '09'.*01-08"):
        standalone.notebook_name("09")


def test_every_needed_step_has_a_builder_and_comes_earlier():
    for notebook, steps in standalone.NEEDS.items():
        assert list(steps) == sorted(steps) and all(s < notebook for s in steps), notebook
        assert all(s in standalone.BUILDERS and s in standalone.DONE_WHEN for s in steps), notebook


def test_missing_in_an_empty_folder_lists_every_fold_and_gan_repeat(tmp_path):
    run = RunFolder(tmp_path)
    gaps = standalone.missing(run, "03_dcgan", SMOKE)  # smoke: 3 folds, GANs retrained for 2 repeats
    assert len(gaps) == 1 + 2 * 3 + 3
    assert gaps[0] == "metrics/03_dcgan.json"
    assert "artifacts/gans/dcgan/r1/fold2/*/generator.pt" in gaps and "artifacts/synthetic_dcgan_fold2.npz" in gaps


def test_model_counts_follow_the_notebooks_loops(tmp_path):
    run = RunFolder(tmp_path)
    assert standalone.model_count("02_classic_augmentation", SMOKE, run) == 2 * 3 * 2 * (1 + 2)  # repeats folds groups
    assert standalone.model_count("04_acgan", SMOKE, run) == 2 * 3
    assert standalone.model_count("05_gan_augmentation", SMOKE, run) == 2 * 3 * (1 + 3 * 2 * (1 + 2))


# ---------------------------------------------------------------------------------------------- with training
@pytest.mark.notebook
def test_prepare_builds_what_the_notebooks_build(prepared, smoke_run):
    run, said = prepared
    assert "notebook 02's classic sweep is not in this run folder: building it now (about 36 models)." in said
    assert "notebook 05 reads what notebooks 01-04 leave in the run folder, and this folder has none of it: " in said
    models = sum(standalone.model_count(s, SMOKE, run) for s in ("02_classic_augmentation", "03_dcgan", "04_acgan"))
    when = r"(under a minute|roughly \d+-\d+ min) on 2 CPU cores"
    guess = re.search(rf"to build: notebooks 02, 03, 04, about {models} models, {when}", said)
    assert guess, said
    assert said.index("lesion set and fold split") < guess.start() < said.index("classic sweep")  # after 01 is built
    assert all(f"notebook {nb}'s" in said for nb in ("01", "03", "04"))  # every earlier step said what it built
    assert run.load_lesionset("lesions").fingerprint() == smoke_run.load_lesionset("lesions").fingerprint()
    np.testing.assert_array_equal(run.load_array("folds"), smoke_run.load_array("folds"))
    for name in ("predictions", "inner", "history", "choice"):
        file = f"classic_{name}.csv"
        assert run.artifact(file).read_bytes() == smoke_run.artifact(file).read_bytes(), file
    for kind in ("dcgan", "acgan"):
        for fold in range(SMOKE.n_folds):
            ours, theirs = (r.load_lesionset(f"synthetic_{kind}_fold{fold}") for r in (run, smoke_run))
            np.testing.assert_array_equal(ours.images, theirs.images)
            assert ours.fingerprint() == theirs.fingerprint()
    generator = "gans/acgan/r1/fold2/generator.pt"  # a repeat-1 GAN: every repeat trains its own
    ours, theirs = (load_generator(r.path / "artifacts" / generator).generator.state_dict() for r in (run, smoke_run))
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs) and ours.keys() == theirs.keys()
    before_05 = {k: v for k, v in collect(run.path).items() if k.split("/")[0] < "05"}
    assert before_05 == {k: v for k, v in collect(smoke_run.path).items() if k.split("/")[0] < "05"}


@pytest.mark.notebook
def test_second_prepare_does_nothing_and_says_so(prepared, capsys):
    run, _ = prepared
    before = file_times(run)
    assert standalone.prepare(run, "05", SMOKE, "phantom", 0, "cpu") == []
    said = capsys.readouterr().out.strip().splitlines()
    assert said == [f"run folder '{run.path}' has everything notebook 05 needs (notebooks 01-04)."]
    assert file_times(run) == before


@pytest.mark.notebook
def test_a_missing_artifact_is_rebuilt_with_its_step(prepared, tmp_path):
    run, _ = prepared
    copy = RunFolder(shutil.copytree(run.path, tmp_path / "run"))
    copy.artifact("synthetic_acgan_fold1.npz").unlink()
    rewritten = ("metrics/04", "artifacts/gans/acgan", "artifacts/synthetic_acgan")  # step 04's own files
    others = {k: v for k, v in file_times(copy).items() if not k.startswith(rewritten)}
    said = prepare_in_subprocess(copy.path, "08")  # notebook 08 needs 01-04
    assert "notebook 04's ACGAN training is incomplete here ('artifacts/synthetic_acgan_fold1.npz' missing)" in said
    assert "built: 04_acgan\n" in said
    for fold in range(SMOKE.n_folds):
        file = f"synthetic_acgan_fold{fold}.npz"
        assert copy.artifact(file).read_bytes() == run.artifact(file).read_bytes(), file
    assert {k: v for k, v in file_times(copy).items() if k in others} == others  # nothing else was rewritten


@pytest.mark.notebook
def test_notebook_05_alone_records_what_the_chain_records(prepared, smoke_run):
    alone, chain = collect(prepared[0].path), collect(smoke_run.path)
    assert any(k.startswith("05_gan_augmentation/accuracy/") for k in alone)
    assert alone == {k: chain[k] for k in alone}
