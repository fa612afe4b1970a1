"""The exercise checkers: right for the right answer, a targeted hint for each typical mistake, a general hint for
any other wrong answer, a prompt while the answer is None, the teacher's key, and class names of any data set."""

from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from datasets import FOLDER_CLASSES, MEDMNIST_CLASSES
from helpers import make_set

from liverkit import LiverkitError
from liverkit.experiment.run_folder import RunFolder
from liverkit.kit import exercises
from liverkit.train.gan_config import GANConfig
from liverkit.train.gan_records import TrainedGAN

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PHANTOM = ("cyst", "metastasis", "hemangioma")


def verdicts(check, right=(), mistakes=None, wrong=(), truth_text=None):
    """Assert what ``check(answer)`` says: "Right" for each of ``right``, the hint fragment for each key of
    ``mistakes``, the general hint for ``wrong`` answers, and "Fill in" for None. ``truth_text`` (the answer as
    written) must appear in no "Not quite" message."""
    assert check(None).startswith("Fill in your answer (replace None): ")
    for answer in right:
        assert check(answer).startswith("Right: "), (answer, check(answer))
    for answer, fragment in (mistakes or {}).items():
        message = check(answer)
        assert message.startswith("Not quite") and fragment in message, (answer, message)
        assert "Hint:" not in message, (answer, message)  # the targeted hint, not the general one
    for answer in wrong:
        message = check(answer)
        assert message.startswith("Not quite") and "Hint:" in message, (answer, message)
    if truth_text is not None:
        for answer in [*(mistakes or {}), *wrong]:
            assert truth_text not in check(answer).split("is not it.")[-1], answer


def key_of(check) -> str:
    """The teacher's key for a checker: the answer as the key states it (before the first '. ')."""
    text = check(exercises.ANSWER_KEY)
    assert text.startswith("Answer: "), text
    return text.removeprefix("Answer: ").split(" (also right")[0].split(". ")[0]


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture
def run(tmp_path) -> RunFolder:
    """A run folder with the numbers notebooks 02-07 record (made up, in the recorded formats)."""
    folder = RunFolder(tmp_path / "run")
    groups = {"paper_group": 1000, "groups": [0, 1000, 5000], "honest_groups": [1000, 1000, 0, 1000, 1000, 1000]}
    folder.record_metrics("02_classic_augmentation", groups)
    folder.record_metrics("03_dcgan", {"collapse_ratio_by_class": {"cyst": 0.8, "metastasis": 0.3, "hemangioma": 0.6}})
    folder.record_metrics(
        "05_gan_augmentation",
        {
            "primary": {"dcgan": {"p_value": 0.0898, "p_adjusted": 0.1796875}, "acgan": {"p_adjusted": 0.62}},
            "comparisons": {"dcgan_vs_classic_control_honest": {"p_value": 0.2, "p_adjusted": 0.4}},
        },
    )
    folder.record_metrics("06_feature_maps", _feature_numbers())
    folder.record_metrics("07_synthetic_quality", {"mean_over_folds": _quality_means()})
    folder.save_table("quality_kid_differences", _kid_table())
    return folder


def _feature_numbers(real=(0.03, 0.05), real_agreement=(0.6, 0.5), first=(0.4, 0.7), second=(0.8, 0.3)) -> dict:
    """Notebook 06's numbers: per model (CNN-AUG, CNN-AUG-GAN) the real rows' silhouette and class agreement, and
    the GANs' class agreement (``first``: in CNN-AUG, ``second``: in CNN-AUG-GAN, both as (dcgan, acgan))."""
    numbers = {}
    for m, model in enumerate(("cnn_aug", "cnn_aug_gan")):
        agreement = first if m == 0 else second
        numbers[model] = {
            "real": {"pool_silhouette": real[m], "class_agreement": real_agreement[m], "real_neighbours": None},
            "dcgan": {"class_agreement": agreement[0], "real_neighbours": 0.5, "pool_silhouette": 0.0},
            "acgan": {"class_agreement": agreement[1], "real_neighbours": 0.2, "pool_silhouette": 0.0},
        }
    return numbers


def _quality_means(recall=(0.2, 0.5), precision=(0.6, 0.9)) -> dict:
    """Notebook 07's means over folds: (dcgan, acgan) recall and precision, and the real baseline."""
    means = {
        f"{g} vs real test": {"recall": recall[i], "precision": precision[i]} for i, g in enumerate(("dcgan", "acgan"))
    }
    return means | {"real train vs real test": {"recall": 0.9, "precision": 0.92}}


def _kid_table(dcgan=(0.004, -0.001, 0.009), acgan=(0.002, 0.005, 0.008)) -> pd.DataFrame:
    """``quality.kid_differences``' table with per-fold rows (0: further; 1: inconclusive) and the pooled row,
    each GAN given (difference, ci_low, ci_high) for the pooled row."""
    rows = []
    for gan, (value, low, high) in (("dcgan", dcgan), ("acgan", acgan)):
        rows.append({"fold": 0, "synthetic": gan, "difference": 0.01, "ci_low": 0.005, "ci_high": 0.02})
        rows.append({"fold": 1, "synthetic": gan, "difference": 0.001, "ci_low": -0.002, "ci_high": 0.004})
        rows.append({"fold": "mean over folds", "synthetic": gan, "difference": value, "ci_low": low, "ci_high": high})
    table = pd.DataFrame(rows)
    reading = np.where(
        table.ci_low > 0, "synthetic further", np.where(table.ci_high < 0, "synthetic closer", "inconclusive")
    )
    return table.assign(reading=reading)


def _gan(history: pd.DataFrame, collapse: pd.DataFrame, class_names: tuple[str, ...], kind: str) -> TrainedGAN:
    """A TrainedGAN holding only a history and collapse ratios (what the checkers read)."""
    return TrainedGAN(
        generator=None,
        discriminator=None,
        history=history,
        epoch_samples=np.zeros((len(collapse), len(class_names), 64, 64), np.float32),
        collapse=collapse,
        seconds=0.0,
        images_per_second=0.0,
        config=GANConfig(kind=kind, sample_grid=1),
        class_names=class_names,
        source=kind,
        data={},
        seed=0,
        out_dir=Path("."),
    )


def _acgan(acc_fake: list[float], acc_real=(0.9, 0.9, 0.8, 0.8), class_names=PHANTOM) -> TrainedGAN:
    """An ACGAN of two epochs of two steps each."""
    history = pd.DataFrame({"epoch": [1, 1, 2, 2], "step": [1, 2, 3, 4], "acc_fake": acc_fake, "acc_real": acc_real})
    collapse = pd.DataFrame(0.5, index=pd.RangeIndex(1, 3, name="epoch"), columns=list(class_names))
    return _gan(history, collapse, class_names, "acgan")


def _collapse(ratios: dict[str, list[float]]) -> pd.DataFrame:
    epochs = pd.RangeIndex(1, len(next(iter(ratios.values()))) + 1, name="epoch")
    return pd.DataFrame(ratios, index=epochs)


# ---------------------------------------------------------------------------------------------- notebook 01
def test_01_largest_k_is_the_rarest_class_patients():
    # a: 6 patients (8 lesions), b: 4 patients (5 lesions), c: 5 patients (5 lesions)
    labels = [0] * 8 + [1] * 5 + [2] * 5
    patients = (
        [f"a{i}" for i in (0, 0, 0, 1, 2, 3, 4, 5)] + ["b0", "b0", "b1", "b2", "b3"] + [f"c{i}" for i in range(5)]
    )
    lesions = make_set(labels, patients=patients)
    check = lambda answer: exercises.check_01_largest_k(lesions, answer=answer)  # noqa: E731
    verdicts(
        check,
        right=[4, "4", 4.0],
        mistakes={
            6: "the most common class",
            5: "That counts lesions",
            15: "every patient",
            3: "but is it the largest",
        },
        wrong=[7, 2, "four", True],
    )
    assert "Class 'b' has 4 patients" in check(4)
    assert key_of(check) == "4"


def test_01_largest_k_on_other_data():
    lesions = make_set([0, 0, 0, 1, 1, 1, 1], class_names=MEDMNIST_CLASSES)
    assert exercises.check_01_largest_k(lesions, answer=3).startswith("Right: 3. Class 'benign <b>' has 3")
    with pytest.raises(LiverkitError, match="has 1 patient"):
        exercises.check_01_largest_k(make_set([0, 1, 1], class_names=MEDMNIST_CLASSES), answer=1)


def test_01_class_in_fold():
    lesions = make_set([0, 1, 1, 2, 1, 0, 1], patients=["p0", "p1", "p1", "p3", "p4", "p5", "p6"], class_names=PHANTOM)
    fold_of = np.array([0, 1, 1, 1, 0, 2, 2])  # metastases: 2 in fold 1 (one patient), 1 in fold 0, 1 in fold 2
    check = lambda answer, **kw: exercises.check_01_class_in_fold(lesions, fold_of, answer=answer, **kw)  # noqa: E731
    assert "class 'metastasis'" in check(None)  # the phantom's question: its second class
    verdicts(
        check,
        right=[2, "2", 2.0, np.int64(2)],
        mistakes={4: "all folds together", 1: "That is fold 0's count"},  # fold 0 and fold 2 both have 1: first named
        wrong=[3, 2.5, "two", True],
    )
    assert check(1, fold=0).startswith("Right: 1.")
    assert check(1, class_name="hemangioma").startswith("Right: 1.")
    assert "counts patients" in exercises.check_01_class_in_fold(
        make_set([1, 1, 0], patients=["p", "p", "q"], class_names=PHANTOM), np.array([1, 1, 0]), answer=1
    )
    with pytest.raises(LiverkitError, match="no fold 5"):
        check(2, fold=5)
    with pytest.raises(LiverkitError, match="'liver' is not a class of these lesions"):
        check(None, class_name="liver")
    assert key_of(check) == "2"


def test_01_asks_about_a_class_the_data_has():
    lesions = make_set([0, 1, 1, 0, 1, 1], class_names=MEDMNIST_CLASSES)
    fold_of = np.array([0, 1, 1, 1, 0, 2])
    assert exercises.exercise_01_class(lesions) == "malignant & co"
    assert "class 'malignant & co'" in exercises.check_01_class_in_fold(lesions, fold_of)
    assert exercises.check_01_class_in_fold(lesions, fold_of, answer=2).startswith("Right: 2.")
    single = make_set([0, 0], class_names=("only",))
    assert exercises.exercise_01_class(single) == "only"


# ---------------------------------------------------------------------------------------------- notebook 02
def test_02_paper_group(run, tmp_path):
    check = lambda answer: exercises.check_02_paper_group(run, answer=answer)  # noqa: E731
    verdicts(check, right=[1000, "1000"], mistakes={5000: "the largest group"}, wrong=[0, 999, "big"])
    run.record_metrics(
        "02_classic_augmentation", {"paper_group": 5000, "groups": [0, 1000, 5000], "honest_groups": [1000] * 6}
    )
    verdicts(check, right=[5000], mistakes={1000: "the honest choice picked most often"}, wrong=[0])
    with pytest.raises(LiverkitError, match="run notebook '02_classic_augmentation' first"):
        exercises.check_02_paper_group(RunFolder(tmp_path / "empty"), answer=1000)


def test_02_groups_chosen(run):
    check = lambda answer: exercises.check_02_groups_chosen(run, answer=answer)  # noqa: E731
    verdicts(check, right=[2], mistakes={3: "how many groups the sweep tried", 6: "every (repeat, fold)"}, wrong=[1, 4])
    assert "partly the luck of the split" in check(2)
    run.record_metrics("02_classic_augmentation", {"paper_group": 0, "groups": [0, 100], "honest_groups": [100] * 4})
    assert check(1).startswith("Right: 1. The same group every time")
    run.record_metrics("02_classic_augmentation", {"paper_group": 0, "groups": [0, 100]})
    with pytest.raises(LiverkitError, match="no honest choice"):
        check(1)


def test_02_dropout_group():
    with_dropout = pd.DataFrame({"group": [0, 100, 500], "accuracy": [0.60, 0.70, 0.75]})
    without = pd.DataFrame({"group": [0, 100, 500], "accuracy": [0.50, 0.69, 0.77]})  # drops: 0.10, 0.01, -0.02
    check = lambda answer: exercises.check_02_dropout_group(with_dropout, without, answer=answer)  # noqa: E731
    verdicts(check, right=[0, "0"], mistakes={500: "subtract the other way round"}, wrong=[100, 42])
    assert "Group 0: 0.600 with dropout, 0.500 without." in check(0)
    lowest_without = pd.DataFrame({"group": [0, 100, 500], "accuracy": [0.55, 0.58, 0.77]})  # drops 0.05, 0.12, -0.02
    assert "lowest accuracy without dropout" in exercises.check_02_dropout_group(with_dropout, lowest_without, answer=0)
    gained = pd.DataFrame({"group": [0, 100, 500], "accuracy": [0.65, 0.80, 0.80]})  # every group gained
    message = exercises.check_02_dropout_group(with_dropout, gained, answer=0)
    assert message.startswith("Right: 0. No group lost accuracy without dropout")
    with pytest.raises(LiverkitError, match="different groups"):
        exercises.check_02_dropout_group(with_dropout, without.iloc[:2], answer=0)
    with pytest.raises(LiverkitError, match="needs the columns 'group' and 'accuracy'"):
        exercises.check_02_dropout_group(with_dropout, without.rename(columns={"accuracy": "acc"}), answer=0)


# ---------------------------------------------------------------------------------------------- notebook 03
def test_03_class_names_in_any_case_and_plural(run):
    check = lambda answer: exercises.check_03_least_varied_class(run, answer=answer)  # noqa: E731
    verdicts(
        check,
        right=["metastasis", "Metastases", " METASTASIS "],
        mistakes={"cyst": "highest ratio"},
        wrong=["hemangioma"],
        truth_text="metastasis",
    )
    assert "one of ['cyst', 'hemangioma', 'metastasis']" in check("liver")  # the recorded (sorted) classes
    run.record_metrics("03_dcgan", {"collapse_ratio_by_class": {"cyst": 0.2, "metastasis": 0.2, "hemangioma": 0.6}})
    for tied in ("cyst", "metastasis"):  # the ratios are recorded rounded: a tie accepts either
        assert check(tied).startswith(f"Right: {tied}."), tied
    near = {"cyst": 0.8006, "metastasis": 0.8005, "hemangioma": 0.815}  # the chart cannot tell the first two apart
    run.record_metrics("03_dcgan", {"collapse_ratio_by_class": near})
    assert check("cyst").startswith("Right: cyst.") and check("hemangioma").startswith("Not quite")


def test_03_least_varied_class_on_other_data(run):
    ratios = dict(zip(FOLDER_CLASSES, (0.9, 0.4, 0.7, 0.8), strict=True))
    run.record_metrics("03_dcgan", {"collapse_ratio_by_class": ratios})
    assert exercises.check_03_least_varied_class(run, answer="Métastase").startswith("Right: métastase.")
    assert exercises.check_03_least_varied_class(run, answer="fnh/adenoma").startswith("Not quite")


def test_03_most_varied_epoch():
    ratios = {"cyst": [0.1, 0.5, 0.8, 0.6], "metastasis": [0.2, 0.9, 0.3, 0.3]}
    trained = {0: {name: _gan(pd.DataFrame(), _collapse({name: r}), (name,), "dcgan") for name, r in ratios.items()}}
    check = lambda answer, **kw: exercises.check_03_most_varied_epoch(trained, answer=answer, **kw)  # noqa: E731
    assert "class 'cyst'" in check(None)  # the first class by default
    verdicts(
        check,
        right=[3, "3"],
        mistakes={1: "lowest", 4: "the last epoch", 2: "Epochs count from 1"},
        wrong=[5, 0, "third"],
    )
    assert "ended lower, at 0.60" in check(3)
    assert check(2, class_name="metastasis").startswith("Right: 2.")
    steady = {0: {"cyst": _gan(pd.DataFrame(), _collapse({"cyst": [0.5, 0.801, 0.795]}), ("cyst",), "dcgan")}}
    for epoch in (2, 3):  # within the chart's resolution of the peak: both right, and it lasted to the end
        message = exercises.check_03_most_varied_epoch(steady, answer=epoch)
        assert message.startswith(f"Right: {epoch}.") and "still there at the end" in message
    with pytest.raises(LiverkitError, match="no fold 2"):
        check(3, fold=2)
    with pytest.raises(LiverkitError, match="'liver' is not one of"):
        check(3, class_name="liver")
    assert key_of(check) == "3"


# ---------------------------------------------------------------------------------------------- notebook 04
def test_04_class_head_accuracy_of_the_last_epoch():
    gan = _acgan([0.1, 0.2, 0.5, 0.7])  # last epoch: (0.5 + 0.7) / 2 = 0.6; all epochs: 0.375
    check = lambda answer: exercises.check_04_class_head_accuracy(gan, answer=answer)  # noqa: E731
    verdicts(
        check,
        right=[0.6, "0.6", 0.604, 0.596],
        mistakes={
            0.8: "That is acc_real",
            0.375: "mean over every epoch",
            0.7: "the last step alone",
            0.15: "the first epoch's mean",
        },
        wrong=[0.62, 0.5, "high"],
    )
    assert check(0.6).startswith("Right: 0.60.") and "carry their class" in check(0.6)
    assert exercises.check_04_class_head_accuracy({"cyst": gan, "metastasis": gan}, answer=0.6).startswith("Right")
    two_classes = _acgan([0.1, 0.2, 0.3, 0.4], class_names=MEDMNIST_CLASSES)  # chance: 0.50
    assert "does not show (yet)" in exercises.check_04_class_head_accuracy(two_classes, answer=0.35)
    dcgan_like = _acgan([0.0] * 4)
    dcgan_like.history = dcgan_like.history.drop(columns="acc_fake")
    with pytest.raises(LiverkitError, match="pass an ACGAN"):
        exercises.check_04_class_head_accuracy(dcgan_like, answer=0.5)
    assert key_of(check) == "0.60"


def test_04_most_varied_epoch_of_an_acgan():
    acgan = _gan(pd.DataFrame(), _collapse({"a": [0.2, 0.4], "b": [0.6, 0.3]}), ("a", "b"), "acgan")
    trained = {0: {"a": acgan, "b": acgan}, 1: {"a": acgan, "b": acgan}}
    check = lambda answer, **kw: exercises.check_04_most_varied_epoch(trained, answer=answer, **kw)  # noqa: E731
    verdicts(check, right=[2], mistakes={1: "lowest"}, wrong=[3])
    assert check(1, class_name="b").startswith("Right: 1.") and "ended lower, at 0.30" in check(1, class_name="b")
    assert "ACGAN samples of class 'a'" in check(None)


# ---------------------------------------------------------------------------------------------- notebook 05
def _results(classes=PHANTOM, **sensitivities) -> pd.DataFrame:
    """A results table with one row per (setting, sensitivity, class); ``sensitivities``: setting key -> values."""
    settings = {
        "classic": "classic optimum",
        "dcgan": "classic + DCGAN (honest choice)",
        "acgan": "classic + ACGAN (honest choice)",
        "paper": "classic + DCGAN (paper's choice, optimistic)",
        "none": "no augmentation",
    }
    rows = [
        {"setting": settings[key], "metric": "sensitivity", "class": name, "estimate": value, "ci_low": 0, "ci_high": 1}
        for key, values in sensitivities.items()
        for name, value in zip(classes, values, strict=True)
    ]
    rows += [{"setting": "classic optimum", "metric": "accuracy", "class": "all", "estimate": 0.7}]
    return pd.DataFrame(rows)


def test_05_class_gain():
    results = _results(
        classic=(0.9, 0.5, 0.6),
        dcgan=(0.95, 0.35, 0.7),  # changes +0.05, -0.15, +0.10: metastasis changes most (a loss)
        acgan=(0.6, 0.5, 0.6),  # cyst changes most
        paper=(0.9, 0.5, 0.9),  # hemangioma
        none=(0.95, 0.36, 0.2),  # from no augmentation: hemangioma changes most
    )
    check = lambda answer: exercises.check_05_class_gain(results, answer=answer)  # noqa: E731
    verdicts(
        check,
        right=["metastasis", "Metastases"],
        mistakes={"cyst": "highest sensitivity with DCGAN", "hemangioma": "change from no augmentation"},
        truth_text="metastasis",
    )
    assert "from 0.500 to 0.350 (-0.150)" in check("metastasis")
    assert "ACGAN arm's change" in exercises.check_05_class_gain(
        _results(classic=(0.5, 0.5, 0.6), dcgan=(0.5, 0.7, 0.6), acgan=(0.9, 0.5, 0.6)), answer="cyst"
    )
    assert "paper's (optimistic) choice" in exercises.check_05_class_gain(
        _results(classic=(0.5, 0.5, 0.6), dcgan=(0.5, 0.7, 0.6), paper=(0.5, 0.5, 0.1)), answer="hemangioma"
    )
    assert "one of ['cyst', 'metastasis', 'hemangioma']" in check("liver")
    unchanged = _results(classic=(0.9, 0.5, 0.6), dcgan=(0.9, 0.5, 0.6))
    for name in PHANTOM:  # no change at all: every class is as right as another
        assert exercises.check_05_class_gain(unchanged, answer=name).startswith(f"Right: {name}. No class's")
    with pytest.raises(LiverkitError, match="no sensitivity rows for setting 'classic \\+ DCGAN \\(honest choice\\)'"):
        exercises.check_05_class_gain(_results(classic=(0.9, 0.5, 0.6)), answer="cyst")


def test_05_class_gain_on_other_data():
    results = _results(classes=MEDMNIST_CLASSES, classic=(0.7, 0.8), dcgan=(0.9, 0.75))
    assert exercises.check_05_class_gain(results, answer="Benign <B>").startswith("Right: benign <b>.")
    assert exercises.check_05_class_gain(results, answer="malignant & co").startswith("Not quite")


def test_05_dcgan_p_value(run):
    check = lambda answer: exercises.check_05_dcgan_p_value(run, answer=answer)  # noqa: E731
    verdicts(
        check,
        right=[0.18, "0.18", 0.1797],
        mistakes={0.09: "unadjusted", 0.4: "secondary", 0.62: "ACGAN arm's"},
        wrong=[0.17, 0.05, "small"],
    )
    assert "inconclusive" in check(0.18)
    assert key_of(check) == "0.18"


# ---------------------------------------------------------------------------------------------- notebook 06
def test_06_better_separated(run):
    check = lambda answer: exercises.check_06_better_separated(run, answer=answer)  # noqa: E731
    verdicts(check, right=["CNN-AUG-GAN", "cnn_aug_gan", "classic + DCGAN"], mistakes={"CNN-AUG": "class agreement"})
    assert "CNN-AUG 0.030, CNN-AUG-GAN 0.050" in check("cnn-aug-gan")
    assert "one of ['CNN-AUG', 'CNN-AUG-GAN']" in check("resnet")
    run.record_metrics("06_feature_maps", _feature_numbers(real=(0.05, 0.03), real_agreement=(0.6, 0.5)))
    verdicts(check, right=["classic", "CNN_AUG"], wrong=["CNN-AUG-GAN"])  # agreement points the same way: no hint
    run.record_metrics("06_feature_maps", _feature_numbers(real=(0.0501, 0.0498)))  # the table shows 0.050 twice
    assert check("CNN-AUG").startswith("Right") and check("CNN-AUG-GAN").startswith("Right")
    run.record_metrics("06_feature_maps", _feature_numbers(real=(None, None)))
    with pytest.raises(LiverkitError, match="silhouette is undefined"):
        check("CNN-AUG")


def test_06_gan_class_agreement(run):
    check = lambda answer: exercises.check_06_gan_class_agreement(run, answer=answer)  # noqa: E731
    verdicts(check, right=["ACGAN", "acgan"], mistakes={"DCGAN": "CNN-AUG-GAN's features"}, wrong=["both"])
    assert "DCGAN 0.400, ACGAN 0.700" in check("acgan")
    run.record_metrics("06_feature_maps", _feature_numbers(first=(0.4, 0.7), second=(0.2, 0.9)))
    assert "more real neighbours" in check("dcgan")  # the dcgan rows have more real neighbours (0.5 against 0.2)
    run.record_metrics("06_feature_maps", _feature_numbers(first=(0.3333, 0.3333)))  # tied: both right
    assert check("DCGAN").startswith("Right") and check("ACGAN").startswith("Right")


# ---------------------------------------------------------------------------------------------- notebook 07
def test_07_kid_interval(run):
    dcgan = lambda answer: exercises.check_07_kid_interval(run, "dcgan", answer=answer)  # noqa: E731
    verdicts(
        dcgan,
        right=["contains 0", "inconclusive", "Contains"],
        mistakes={"above": "The difference itself is above 0"},  # before fold 0's reading, also "above 0"
        wrong=["below 0"],
    )
    assert dcgan("contains 0").startswith("Right: contains 0. [-0.0010, 0.0090]: this run cannot tell")
    assert "one of ['above 0', 'below 0', 'contains 0']" in dcgan("maybe")
    acgan = lambda answer: exercises.check_07_kid_interval(run, "acgan", answer=answer)  # noqa: E731
    verdicts(acgan, right=["above 0", "further", "> 0"], mistakes={"contains 0": "fold 1's interval"}, wrong=["below"])
    run.save_table("quality_kid_differences", _kid_table(dcgan=(-0.004, -0.006, -0.001)))
    assert dcgan("below 0").startswith("Right: below 0.") and "no proof of better-than-real" in dcgan("closer")
    assert "fold 0's interval" in dcgan("above 0")
    with pytest.raises(LiverkitError, match="gan must be one of \\['acgan', 'dcgan'\\]"):
        exercises.check_07_kid_interval(run, "stylegan", answer="above 0")
    run.save_table("quality_kid_differences", _kid_table(dcgan=(0.004, np.nan, np.nan)))
    with pytest.raises(LiverkitError, match="no intervals"):
        dcgan("above 0")


def test_07_lower_recall(run):
    check = lambda answer: exercises.check_07_lower_recall(run, answer=answer)  # noqa: E731
    verdicts(check, right=["DCGAN", "dcgan"], wrong=["ACGAN", "baseline"])  # precision points the same way
    assert "DCGAN 0.200 (precision 0.600), ACGAN 0.500 (precision 0.900); the real baseline: 0.900" in check("dcgan")
    run.record_metrics("07_synthetic_quality", {"mean_over_folds": _quality_means(recall=(0.5, 0.2))})
    verdicts(check, right=["ACGAN"], mistakes={"DCGAN": "lower precision"})
    run.record_metrics("07_synthetic_quality", {"mean_over_folds": _quality_means(recall=(0.0, 0.0))})
    assert check("DCGAN").startswith("Right") and check("ACGAN").startswith("Right")  # tied (smoke: both 0)


# ---------------------------------------------------------------------------------------------- notebook 08
def _scores(right: int, n: int = 40, rater: str = "simulated-1") -> pd.DataFrame:
    from scipy.stats import binomtest

    p_value = binomtest(right, n).pvalue if n else np.nan
    return pd.DataFrame([{"rater": rater, "n_answered": n, "origin_right": right, "p_value": p_value}])


def test_08_better_than_guessing():
    def check(scores, answer):
        return exercises.check_08_better_than_guessing(scores, "simulated-1", answer=answer)

    shown = _scores(30)  # 75%, p = 0.002
    verdicts(lambda a: check(shown, a), right=["yes", "Yes", True], wrong=["no", False])
    assert "30 of 40 right, p = 0.0022" in check(shown, "yes")
    short = _scores(24)  # 60%, p = 0.27: more than half, not shown
    verdicts(lambda a: check(short, a), right=["no", False], mistakes={"yes": "More than half right is not enough"})
    swapped = _scores(8)  # 20%, p < 0.05, but worse than guessing
    verdicts(lambda a: check(swapped, a), right=["no"], mistakes={"yes": "how many calls were right"})
    assert "one of ['yes', 'no']" in check(shown, "maybe")
    with pytest.raises(LiverkitError, match="rater 'ada' has no scores"):
        exercises.check_08_better_than_guessing(shown, "ada", answer="yes")
    with pytest.raises(LiverkitError, match="has not answered yet"):
        check(_scores(0, n=0), "no")


def test_08_test_length():
    check = lambda answer, **kw: exercises.check_08_test_length(answer=answer, **kw)  # noqa: E731
    verdicts(check, right=[200, "200"], mistakes={100: "only the one-sided p (0.028)"}, wrong=[40, 150])
    assert "n = 40: p = 0.268, n = 100: p = 0.057, n = 200: p = 0.006" in check(200)
    assert check(100, accuracy=0.65).startswith("Right: 100.")  # computed, not remembered
    assert "is it the shortest" in check(200, accuracy=0.65)
    assert "only the one-sided p (0.040)" in check(40, accuracy=0.65)
    with pytest.raises(LiverkitError, match="none of the lengths"):
        check(10, lengths=(10, 20))


def test_08_same_seed_kappa():
    same = pd.DataFrame(
        [{"rater_a": "simulated-1", "rater_b": "simulated-2", "origin_agreement": 1.0, "kappa_origin": 1.0}]
    )
    pairs = pd.DataFrame(
        [{"rater_a": "simulated-1", "rater_b": "simulated-2", "origin_agreement": 0.5, "kappa_origin": 0.04}]
    )
    check = lambda answer: exercises.check_08_same_seed_kappa(same, pairs, answer=answer)  # noqa: E731
    verdicts(check, right=[1, "1.0", 0.996], mistakes={0.04: "different seeds"}, wrong=[0.5, 0])
    differ = exercises.check_08_same_seed_kappa(pairs, pairs, answer=1)
    assert differ.startswith("Check your simulation") and "agree on only 50%" in differ
    undefined = same.assign(kappa_origin=np.nan)
    assert "undefined" in exercises.check_08_same_seed_kappa(undefined, pairs, answer=1)


# ---------------------------------------------------------------------------------------------- all of them
def test_check_finds_checkers_by_number_and_refuses_unknown_exercises(run):
    assert exercises.check("02_classic_augmentation", 1, answer=1000, run=run).startswith("Right")
    assert exercises.check(5, 2, answer=0.3, run=run).startswith("Not quite")
    assert exercises.check("07", 1, answer="contains 0", run=run, gan="dcgan").startswith("Right")
    assert exercises.check("08", 2, answer=200).startswith("Right")
    with pytest.raises(LiverkitError, match="no checkable exercise 9"):
        exercises.check("01", 9, answer=1)
    with pytest.raises(LiverkitError, match="no checkable exercise"):
        exercises.check("06", 2, answer=1)
    with pytest.raises(LiverkitError, match="not a notebook number"):
        exercises.check("data", 1, answer=1)
    with pytest.raises(LiverkitError, match=r"needs \['run'\]"):
        exercises.check("02", 1, answer=1000)  # the run folder is missing
    table = exercises.exercise_table()
    assert len(table) == len(exercises.CHECKERS) >= 15
    assert set(table.notebook) == {f"0{n}" for n in range(1, 9)}  # every notebook has a checked exercise
    assert table.set_index("checker").loc["check_07_kid_interval", "needs"] == "run, gan"


@pytest.mark.parametrize(("notebook", "number"), list(exercises.CHECKERS))
def test_every_checker_is_offered_in_its_notebook(notebook, number):
    (path,) = NOTEBOOKS.glob(f"{notebook}_*.ipynb")
    cells = nbformat.read(path, as_version=4).cells
    text = [c.source for c in cells if c.cell_type == "markdown" and c.source.startswith("## Exercises")]
    assert text and f"\n{number}. " in text[-1], f"{path.name} has no exercise {number}"
    code = "\n".join(c.source for c in cells if c.cell_type == "code") + text[-1]  # check cells, exercise code
    assert f"exercises.{exercises.CHECKERS[notebook, number].__name__}(" in code


def test_the_answer_key_states_no_answer_in_a_hint(run):
    """The key gives the answer; "Not quite" never does, not even in a targeted hint (the answer's own text)."""
    key = key_of(lambda answer: exercises.check_03_least_varied_class(run, answer=answer))
    assert key == "metastasis"
    for wrong in ("cyst", "hemangioma"):
        assert "metastasis" not in exercises.check_03_least_varied_class(run, answer=wrong).split("is not")[-1]
