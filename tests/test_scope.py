"""The scope paragraph and reference lines: every number in them comes from the run it describes."""

import numpy as np
import pandas as pd
import pytest

from liverkit import LiverkitError
from liverkit.experiment import scope
from liverkit.experiment.classic_sweep import ClassicSweep
from liverkit.kit import plots


def _sweep(n_lesions=40, repeats=2, correct_small=0.5, correct_large=1.0, classes=("a", "b")):
    """Group 0 right on the first ``correct_small`` share of the lesions, group 300 on ``correct_large``; two
    lesions per patient; class 'a' for three quarters of the lesions."""
    rows = []
    y_true = (np.arange(n_lesions) >= 3 * n_lesions // 4).astype(int)
    for repeat in range(repeats):
        for group, share in ((0, correct_small), (300, correct_large)):
            right = np.arange(n_lesions) < share * n_lesions
            y_pred = np.where(right, y_true, 1 - y_true)
            rows += [
                {"repeat": repeat, "fold": i % 3, "group": group, "index": i, "id": f"l{i}", "patient": f"p{i // 2}",
                 "y_true": int(y_true[i]), "y_pred": int(y_pred[i])}
                for i in range(n_lesions)
            ]  # fmt: skip
    empty = pd.DataFrame()
    return ClassicSweep(pd.DataFrame(rows), empty, empty, empty, classes, (0, 300))


def test_chance_level_is_the_most_frequent_class_share_of_one_repeat():
    assert scope.chance_level(_sweep().predictions) == pytest.approx(0.75)
    assert scope.chance_level(_sweep(n_lesions=8).predictions) == pytest.approx(0.75)


def test_references_name_chance_and_the_papers_numbers():
    lines = scope.references(0.4, "classic")
    assert lines == {
        "always the most frequent class": 0.4,
        "paper: no augmentation": 0.57,
        "paper: classic optimum": 0.786,
    }
    assert scope.references(0.4, "gan")["paper: classic + DCGAN"] == 0.857
    with pytest.raises(LiverkitError, match="stage must be 'classic' or 'gan', got 'x'"):
        scope.references(0.4, "x")
    fig = plots.sweep_chart(_table(), references=lines)
    drawn = {t.name: list(t.y) for t in fig.data if t.line.color == "grey"}
    assert drawn == {
        "always the most frequent class: 40.0%": [0.4, 0.4],
        "paper: no augmentation: 57.0%": [0.57, 0.57],
        "paper: classic optimum: 78.6%": [0.786, 0.786],
    }
    assert all(list(t.x) == [26.0, 300.0] for t in fig.data if t.line.color == "grey")  # across the x range


def _table():
    return pd.DataFrame(
        {"group": [0, 300], "training_images": [26.0, 300.0], "epochs": [8, 8], "accuracy": [0.5, 1.0],
         "ci_low": [0.4, 0.95], "ci_high": [0.6, 1.0], "fold_0": [0.5, 1.0]}
    )  # fmt: skip


def test_group_difference_is_the_paired_gain_with_an_interval_around_it():
    difference, low, high = scope.group_difference(_sweep())
    assert difference == pytest.approx(0.5)
    assert 0.2 < low < 0.5 < high < 0.8
    same = scope.group_difference(_sweep(correct_large=0.5))
    assert same == (0.0, 0.0, 0.0)


def test_the_scope_paragraph_states_this_runs_numbers_and_the_papers():
    text = scope.classic_scope_text(_sweep(), _table(), "my data, smoke profile")
    assert "40 test lesions of 20 patients (my data, smoke profile), 2 repeats of 3 folds" in text
    assert "from 50.0% [40.0, 60.0] with the original ROIs to 100.0% [95.0, 100.0] with 300 images" in text
    assert "a difference of +50.0 points" in text
    assert "most frequent class scores 75.0%" in text and "about 57% to 78.6%" in text
    assert "tests none" in text  # descriptive: no verdict word
    assert not any(word in text for word in ("helped", "hurt", "significant"))
