"""The exercise checkers: right for the right answer, not quite for a wrong one, and no checker for the unknown."""

from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from helpers import make_set

from liverkit import LiverkitError, exercises
from liverkit.runs import RunFolder
from liverkit.train.gan import TrainedGAN
from liverkit.train.gan_config import GANConfig

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture
def run(tmp_path) -> RunFolder:
    folder = RunFolder(tmp_path / "run")
    folder.record_metrics("02_classic_augmentation", {"paper_group": 1000})
    folder.record_metrics("03_dcgan", {"collapse_ratio_by_class": {"cyst": 0.8, "metastasis": 0.3, "hemangioma": 0.6}})
    folder.record_metrics(
        "05_gan_augmentation",
        {
            "primary": {"dcgan": {"p_value": 0.0898, "p_adjusted": 0.1796875}},
            "comparisons": {"dcgan_vs_classic_control_honest": {"p_value": 0.2, "p_adjusted": 0.4}},
        },
    )
    return folder


def _acgan(acc_fake: list[float]) -> TrainedGAN:
    history = pd.DataFrame({"epoch": [1, 1, 2, 2], "step": [1, 2, 3, 4], "acc_fake": acc_fake})
    return TrainedGAN(
        None,
        None,
        history,
        np.zeros((2, 3, 64, 64), np.float32),
        pd.DataFrame(),
        0.0,
        0.0,
        GANConfig(kind="acgan", sample_grid=1),
        ("cyst", "metastasis", "hemangioma"),
        "acgan",
        {},
        0,
        Path("."),
    )


def test_01_class_in_fold():
    lesions = make_set([0, 1, 1, 2, 1, 0], class_names=("cyst", "metastasis", "hemangioma"))
    fold_of = np.array([0, 1, 1, 1, 0, 2])  # metastases at 1, 2 (fold 1) and 4 (fold 0)
    check = exercises.check_01_class_in_fold
    assert check(lesions, fold_of).startswith("Fill in your answer")
    assert "class 'metastasis'" in check(lesions, fold_of)  # the phantom's question: its second class
    for right in (2, "2", 2.0, np.int64(2)):
        assert check(lesions, fold_of, answer=right).startswith("Right: 2."), right
    for wrong in (3, 2.5, "two", True):
        assert check(lesions, fold_of, answer=wrong).startswith("Not quite"), wrong
    assert check(lesions, fold_of, answer=1, fold=0).startswith("Right: 1.")
    assert check(lesions, fold_of, answer=1, class_name="hemangioma").startswith("Right: 1.")
    with pytest.raises(LiverkitError, match="no fold 5"):
        check(lesions, fold_of, answer=2, fold=5)
    with pytest.raises(LiverkitError, match="'liver' is not a class of these lesions"):
        check(lesions, fold_of, class_name="liver")


def test_01_asks_about_a_class_the_data_has():
    lesions = make_set([0, 1, 1, 0, 1, 1], class_names=("benign <b>", "malignant & co"))
    fold_of = np.array([0, 1, 1, 1, 0, 2])
    assert exercises.exercise_01_class(lesions) == "malignant & co"
    assert "class 'malignant & co'" in exercises.check_01_class_in_fold(lesions, fold_of)
    assert exercises.check_01_class_in_fold(lesions, fold_of, answer=2).startswith("Right: 2.")
    single = make_set([0, 0], class_names=("only",))
    assert exercises.exercise_01_class(single) == "only"


def test_02_and_05_read_the_run_folder(run, tmp_path):
    assert exercises.check_02_paper_group(run, answer=1000).startswith("Right: 1000.")
    assert exercises.check_02_paper_group(run, answer=5000).startswith("Not quite")
    assert exercises.check_05_dcgan_p_value(run, answer=0.18).startswith("Right: 0.18.")
    assert "inconclusive" in exercises.check_05_dcgan_p_value(run, answer="0.18")
    assert exercises.check_05_dcgan_p_value(run, answer=0.1797).startswith("Right")
    assert exercises.check_05_dcgan_p_value(run, answer=0.17).startswith("Not quite")
    assert "unadjusted" in exercises.check_05_dcgan_p_value(run, answer=0.09)  # a typical mistake, named
    assert "secondary" in exercises.check_05_dcgan_p_value(run, answer=0.4)
    with pytest.raises(LiverkitError, match="run notebook '02_classic_augmentation' first"):
        exercises.check_02_paper_group(RunFolder(tmp_path / "empty"), answer=1000)


def test_03_class_names_in_any_case_and_plural(run):
    for right in ("metastasis", "Metastases", " METASTASIS "):
        assert exercises.check_03_least_varied_class(run, answer=right).startswith("Right: metastasis."), right
    assert exercises.check_03_least_varied_class(run, answer="cyst").startswith("Not quite")
    assert "one of ['cyst', 'hemangioma', 'metastasis']" in exercises.check_03_least_varied_class(run, answer="liver")
    run.record_metrics("03_dcgan", {"collapse_ratio_by_class": {"cyst": 0.2, "metastasis": 0.2, "hemangioma": 0.6}})
    for tied in ("cyst", "metastasis"):  # the ratios are recorded rounded: a tie accepts either
        assert exercises.check_03_least_varied_class(run, answer=tied).startswith(f"Right: {tied}."), tied
    assert exercises.check_03_least_varied_class(run, answer="hemangioma").startswith("Not quite")
    near = {"cyst": 0.8006, "metastasis": 0.8005, "hemangioma": 0.815}  # the chart cannot tell the first two apart
    run.record_metrics("03_dcgan", {"collapse_ratio_by_class": near})
    assert exercises.check_03_least_varied_class(run, answer="cyst").startswith("Right: cyst.")
    assert exercises.check_03_least_varied_class(run, answer="hemangioma").startswith("Not quite")


def test_04_class_head_accuracy_of_the_last_epoch():
    gan = _acgan([0.1, 0.2, 0.5, 0.7])  # last epoch: (0.5 + 0.7) / 2 = 0.6
    message = exercises.check_04_class_head_accuracy(gan, answer=0.6)
    assert message.startswith("Right: 0.60.") and "carry their class" in message
    assert exercises.check_04_class_head_accuracy({"cyst": gan, "metastasis": gan}, answer=0.604).startswith("Right")
    assert exercises.check_04_class_head_accuracy(gan, answer=0.62).startswith("Not quite")
    dcgan_like = _acgan([0.0] * 4)
    dcgan_like.history = dcgan_like.history.drop(columns="acc_fake")
    with pytest.raises(LiverkitError, match="pass an ACGAN"):
        exercises.check_04_class_head_accuracy(dcgan_like, answer=0.5)


def test_check_finds_checkers_by_number_and_refuses_unknown_exercises(run):
    assert exercises.check("02_classic_augmentation", 1, answer=1000, run=run).startswith("Right")
    assert exercises.check(5, 2, answer=0.3, run=run).startswith("Not quite")
    with pytest.raises(LiverkitError, match="no checkable exercise 9"):
        exercises.check("01", 9, answer=1)
    with pytest.raises(LiverkitError, match="no checkable exercise"):
        exercises.check("06", 1, answer=1)
    with pytest.raises(LiverkitError, match="not a notebook number"):
        exercises.check("data", 1, answer=1)
    with pytest.raises(LiverkitError, match=r"needs \['run'\]"):
        exercises.check("02", 1, answer=1000)  # the run folder is missing
    assert len(exercises.exercise_table()) == len(exercises.CHECKERS) == 5


@pytest.mark.parametrize(("notebook", "number"), list(exercises.CHECKERS))
def test_every_checker_is_offered_in_its_notebook(notebook, number):
    (path,) = NOTEBOOKS.glob(f"{notebook}_*.ipynb")
    cells = nbformat.read(path, as_version=4).cells
    text = [c.source for c in cells if c.cell_type == "markdown" and c.source.startswith("## Exercises")]
    assert text and f"\n{number}. " in text[-1], f"{path.name} has no exercise {number}"
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    assert exercises.CHECKERS[notebook, number].__name__ in code
