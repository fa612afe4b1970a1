"""The visual Turing test (notebook 08): sessions, the answers file, the headless app, and the scores."""

import dataclasses
import json
from io import BytesIO

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.stats import binomtest
from sklearn.metrics import cohen_kappa_score

from liverkit import LiverkitError
from liverkit.data import LesionSet
from liverkit.experiment.run_folder import RunFolder
from liverkit.kit import plots, turing_test, widgets

CLASSES = ("a", "b", "c")


def lesions(labels, prefix: str, source: str, seed: int = 0) -> LesionSet:
    """A LesionSet with random images, the given labels, ids ``<prefix>-<i>`` and one source."""
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return LesionSet(
        images=rng.random((len(labels), 1, 64, 64), dtype=np.float32),
        labels=labels,
        class_names=CLASSES,
        patient_ids=[f"{prefix}-p{i}" for i in range(len(labels))],
        diameters_mm=np.full(len(labels), 20.0, dtype=np.float32),
        ids=[f"{prefix}-{i}" for i in range(len(labels))],
        sources=source,
    )


@pytest.fixture
def real():
    return lesions([0] * 10 + [1] * 10 + [2] * 2, "real", "phantom", seed=1)


@pytest.fixture
def synthetic():
    return {kind: lesions([0, 1, 2] * 4, kind, kind, seed=s) for s, kind in enumerate(("dcgan", "acgan"), start=2)}


@pytest.fixture
def session(real, synthetic):
    return turing_test.make_session(real, synthetic, n_real=5, n_synthetic=5, seed=0)


# ---------------------------------------------------------------------------------------------- sessions
def test_same_seed_same_session_other_seed_other_order(real, synthetic):
    one = turing_test.make_session(real, synthetic, 6, 6, seed=3)
    two = turing_test.make_session(real, synthetic, 6, 6, seed=3)
    other = turing_test.make_session(real, synthetic, 6, 6, seed=4)
    pd.testing.assert_frame_equal(one.items, two.items)
    np.testing.assert_array_equal(one.lesions.images, two.lesions.images)
    assert one.items.lesion_id.tolist() != other.items.lesion_id.tolist()
    assert one.items["item"].tolist() == list(range(1, 13))
    assert one.items.is_synthetic.sum() == 6 and len(one) == 12
    assert one.items.lesion_id.is_unique
    # the way back to the image: item i shows the lesion of its id
    everything = LesionSet.concat([real, *synthetic.values()])
    for row in one.items.itertuples():
        index = int(np.flatnonzero(everything.ids == row.lesion_id)[0])
        np.testing.assert_array_equal(one.image(row.item), everything.images[index, 0])
        assert row.source == everything.sources[index]
        assert row.true_class == CLASSES[everything.labels[index]]
        assert row.is_synthetic == (row.source != "phantom")
    # the synthetic part is not simply at the end
    assert one.items.is_synthetic.tolist() != [False] * 6 + [True] * 6


def test_balanced_over_classes_and_generators(real, synthetic):
    s = turing_test.make_session(real, synthetic, n_real=9, n_synthetic=12, seed=0)
    real_counts = s.items[~s.items.is_synthetic].true_class.value_counts()
    assert real_counts["c"] == 2  # class c has only 2 real lesions: its share goes to a and b
    assert sorted([real_counts["a"], real_counts["b"]]) == [3, 4]
    fake = s.items[s.items.is_synthetic]
    assert (fake.groupby(["true_class", "source"]).size() == 2).all() and len(fake) == 12
    assert s.summary().loc[["a", "b", "c"], "dcgan"].tolist() == [2, 2, 2]
    odd = turing_test.make_session(real, synthetic, n_real=3, n_synthetic=7, seed=5).items
    per_class = odd[odd.is_synthetic].true_class.value_counts()
    assert sorted(per_class.tolist()) == [2, 2, 3]
    spread = odd[odd.is_synthetic].groupby("true_class").source.value_counts().unstack(fill_value=0)
    assert ((spread.max(axis=1) - spread.min(axis=1)) <= 1).all()
    assert odd[~odd.is_synthetic].true_class.value_counts().tolist() == [1, 1, 1]


@pytest.mark.parametrize(
    "n_real, n_synthetic, message",
    [
        (0, 5, "n_real must be a whole number of at least 1"),
        (5, 0, "n_synthetic must be a whole number of at least 1"),
        (2.5, 5, "n_real must be a whole number"),
        (True, 5, "n_real must be a whole number"),
        (23, 5, r"n_real=23, but only 22 lesions are available.*turing_real"),
        (5, 25, r"n_synthetic=25, but only 24 lesions are available.*turing_synthetic"),
    ],
)
def test_impossible_sizes_are_refused(real, synthetic, n_real, n_synthetic, message):
    with pytest.raises(LiverkitError, match=message):
        turing_test.make_session(real, synthetic, n_real, n_synthetic, seed=0)


def test_mismatched_or_missing_synthetic_sets_are_refused(real):
    other = dataclasses.replace(lesions([0, 1], "x", "dcgan"), class_names=("a", "b"))
    with pytest.raises(LiverkitError, match="different classes"):
        turing_test.make_session(real, other, 1, 1)
    with pytest.raises(LiverkitError, match="empty dict"):
        turing_test.make_session(real, {}, 1, 1)
    with pytest.raises(LiverkitError, match=r"item 11 is not in this session: items are numbered 1 to 10"):
        turing_test.make_session(real, lesions([0, 1, 2], "s", "dcgan"), 7, 3).image(11)


def test_grey_png_is_the_roi_enlarged_pixel_for_pixel():
    image = np.random.default_rng(0).random((64, 64), dtype=np.float32)
    picture = np.asarray(Image.open(BytesIO(plots.grey_png(image, scale=4))))
    assert picture.shape == (256, 256) and picture.dtype == np.uint8
    expected = np.round(image * 255).astype(np.uint8)
    np.testing.assert_array_equal(picture[::4, ::4], expected)
    np.testing.assert_array_equal(picture[3::4, 3::4], expected)


# ---------------------------------------------------------------------------------------------- the app, headless
def truth_answers(session):
    """Known answers per item, by the item's rank among the real (R1..R5) or synthetic (S1..S5) items.

    rater a: real called real on R1-R4, synthetic on R5; synthetic called synthetic on S1-S3, real on S4-S5
             (7 of 10 right); class right on R1-R4 and S1-S2, else the next class.
    rater b: real called real on R1-R2; synthetic called synthetic on S1-S2; class right on all R and S1-S3.
    """
    items = session.items
    rank = items.groupby("is_synthetic").cumcount().to_numpy()  # 0..4 within real and within synthetic
    fake = items.is_synthetic.to_numpy()
    a_synthetic = np.where(fake, rank < 3, rank == 4)
    b_synthetic = np.where(fake, rank < 2, rank >= 2)
    a_right = np.where(fake, rank < 2, rank < 4)
    b_right = np.where(fake, rank < 3, True)

    def named(right):
        true = items.true_class.map(CLASSES.index).to_numpy()
        return [CLASSES[t if r else (t + 1) % 3] for t, r in zip(true, right, strict=True)]

    return {
        "a": list(zip(named(a_right), a_synthetic.tolist(), strict=True)),
        "b": list(zip(named(b_right), b_synthetic.tolist(), strict=True)),
    }


def read_rows(run, rater):
    return pd.read_csv(turing_test.answers_path(run, rater))


def test_app_saves_every_answer_and_resumes_where_it_stopped(tmp_path, session):
    run = RunFolder(tmp_path)
    answers = truth_answers(session)["a"]
    app = widgets.TuringApp(run, session, "alice")
    assert app.item == 1 and "item 1 of 10" in app.progress.value
    assert app.image.value == plots.grey_png(session.image(1), scale=4)
    assert not turing_test.answers_path(run, "alice").exists()  # nothing written before the first answer
    for k in range(4):
        app.answer(*answers[k])
        rows = read_rows(run, "alice")
        assert len(rows) == k + 1 and rows["item"].tolist() == list(range(1, k + 2))
        assert rows.iloc[-1][["answered_class", "answered_synthetic"]].tolist() == [answers[k][0], answers[k][1]]
        assert rows.iloc[-1].lesion_id == session.items.lesion_id[k]
        assert app.item == k + 2 and f"item {k + 2} of 10" in app.progress.value
        assert app.class_buttons.value is None and app.origin_buttons.value is None
    del app  # the browser is closed, the kernel restarted: a new app for the same rater
    app = widgets.TuringApp(run, session, "alice")
    assert app.item == 5 and "item 5 of 10" in app.progress.value
    assert app.image.value == plots.grey_png(session.image(5), scale=4)
    # clicking submit with nothing chosen saves nothing
    app.submit_button.click()
    assert "Choose a class" in app.message.value and len(read_rows(run, "alice")) == 4
    # setting the buttons and clicking is the same as answer()
    app.class_buttons.value, app.origin_buttons.value = answers[4]
    app.submit_button.click()
    assert len(read_rows(run, "alice")) == 5 and app.item == 6
    for k in range(5, 10):
        app.answer(*answers[k])
    rows = read_rows(run, "alice")
    assert app.done and "Done" in app.message.value and app.submit_button.disabled
    assert rows.columns.tolist() == list(turing_test.ANSWER_COLUMNS)
    assert rows["item"].tolist() == list(range(1, 11)) and (rows.rater == "alice").all()
    assert rows.lesion_id.tolist() == session.items.lesion_id.tolist()
    assert rows.answered_synthetic.tolist() == [s for _, s in answers]
    assert pd.to_datetime(rows.answered_at).notna().all()
    with pytest.raises(LiverkitError, match="all 10 items are answered"):
        app.answer("a", True)
    assert widgets.TuringApp(run, session, "alice").done  # reopened when finished: done at once


def test_scores_match_hand_computed_values(tmp_path, session):
    run = RunFolder(tmp_path)
    for rater, answers in truth_answers(session).items():
        app = widgets.TuringApp(run, session, rater)
        for choice in answers:
            app.answer(*choice)
    answers = turing_test.load_answers(run)
    assert len(answers) == 20 and sorted(set(answers.rater)) == ["a", "b"]
    scores = turing_test.score(answers, session).set_index("rater")
    a = scores.loc["a"]
    assert (a.n_answered, a.n_real, a.n_synthetic) == (10, 5, 5)
    assert (a.origin_right, a.origin_accuracy) == (7, 0.7)
    assert a.p_value == pytest.approx(352 / 1024)  # 2 * (C(10,7) + C(10,8) + C(10,9) + C(10,10)) / 2**10
    assert a.p_value == pytest.approx(binomtest(7, 10, 0.5).pvalue)
    assert (a.class_right_real, a.class_accuracy_real) == (4, 0.8)
    assert (a.class_right_synthetic, a.class_accuracy_synthetic) == (2, 0.4)
    assert (a.sensitivity, a.specificity) == (0.6, 0.8)
    assert a.in_words == (
        "a told real from synthetic in 7 of 10 (70%); with chance at 50% p = 0.34: not shown to be better than "
        "guessing. The class was right for 4 of 5 (80%) real ROIs and 2 of 5 (40%) synthetic ones."
    )
    b = scores.loc["b"]
    assert (b.origin_right, b.sensitivity, b.specificity) == (4, 0.4, 0.4)
    assert (b.class_accuracy_real, b.class_accuracy_synthetic) == (1.0, 0.6)
    assert not a.simulated and not b.simulated

    pair = turing_test.agreement(answers, session).iloc[0]
    assert (pair.rater_a, pair.rater_b, pair.n_both) == ("a", "b", 10)
    # real/synthetic: same call on R1, R2, R5, S1, S2, S4, S5 -> p_o = 0.7; a says synthetic 4 times, b 5 times
    p_o, p_e = 0.7, 0.4 * 0.5 + 0.6 * 0.5
    assert pair.origin_agreement == pytest.approx(p_o)
    assert pair.kappa_origin == pytest.approx((p_o - p_e) / (1 - p_e)) and pair.kappa_origin == pytest.approx(0.4)
    by_item = answers.pivot(index="item", columns="rater")
    assert pair.kappa_origin == pytest.approx(
        cohen_kappa_score(by_item.answered_synthetic.a.astype(bool), by_item.answered_synthetic.b.astype(bool))
    )
    class_a, class_b = by_item.answered_class.a.to_numpy(), by_item.answered_class.b.to_numpy()
    p_o = np.mean(class_a == class_b)
    p_e = sum(np.mean(class_a == c) * np.mean(class_b == c) for c in CLASSES)
    assert pair.kappa_class == pytest.approx((p_o - p_e) / (1 - p_e))
    assert pair.kappa_class == pytest.approx(cohen_kappa_score(class_a, class_b))
    assert "7 of 10 (70%)" in pair.in_words and "kappa 0.40: fair" in pair.in_words

    numbers = turing_test.key_numbers(turing_test.score(answers, session), turing_test.agreement(answers, session))
    json.dumps(numbers, allow_nan=False)  # plain JSON, no NaN
    assert numbers["raters"]["a"] == {
        "simulated": False,
        "n_answered": 10,
        "real_vs_synthetic_accuracy": 0.7,
        "p_value": 0.3438,
        "class_accuracy_real": 0.8,
        "class_accuracy_synthetic": 0.4,
        "sensitivity": 0.6,
        "specificity": 0.8,
    }
    assert numbers["kappa"] == {"a vs b": {"n_both": 10, "real_vs_synthetic": 0.4, "class": round(pair.kappa_class, 4)}}


def test_partial_answers_score_on_the_items_answered(tmp_path, session):
    run = RunFolder(tmp_path)
    app = widgets.TuringApp(run, session, "a")
    for choice in truth_answers(session)["a"][:3]:
        app.answer(*choice)
    widgets.TuringApp(run, session, "b").answer("a", False)
    answers = turing_test.load_answers(run)
    scores = turing_test.score(answers, session).set_index("rater")
    assert scores.n_answered.to_dict() == {"a": 3, "b": 1}
    assert turing_test.agreement(answers, session).n_both.tolist() == [1]
    assert turing_test.item_table(answers, session)["item"].tolist() == [1, 2, 3]
    assert turing_test.load_answers(run, raters=["b"]).rater.tolist() == ["b"]
    empty = turing_test.score(turing_test.load_answers(RunFolder(tmp_path / "none")), session)
    assert empty.empty and list(empty.columns) == list(turing_test.SCORE_COLUMNS)
    no_answers = turing_test.load_answers(RunFolder(tmp_path / "none"))
    assert turing_test.key_numbers(empty, turing_test.agreement(no_answers, session)) == {"raters": {}, "kappa": {}}


def test_in_words_for_clear_results():
    row = {
        "rater": "x",
        "n_answered": 10,
        "n_real": 5,
        "n_synthetic": 5,
        "class_right_real": 5,
        "class_right_synthetic": 5,
        "simulated": False,
    }
    best = turing_test.in_words(row | {"origin_right": 10, "p_value": binomtest(10, 10).pvalue})
    assert "10 of 10 (100%); with chance at 50% p = 0.002: better than guessing" in best
    worst = turing_test.in_words(row | {"origin_right": 0, "p_value": binomtest(0, 10).pvalue})
    assert "worse than guessing" in worst
    example = turing_test.in_words(row | {"n_answered": 40, "origin_right": 24, "p_value": binomtest(24, 40).pvalue})
    assert "24 of 40 (60%); with chance at 50% p = 0.27: not shown to be better than guessing" in example
    assert turing_test.in_words(row | {"n_answered": 0, "origin_right": 0, "p_value": float("nan")}) == (
        "x has not answered yet."
    )


def test_undefined_kappa_is_nan_and_said_so(tmp_path, session):
    run = RunFolder(tmp_path)
    for rater in ("a", "b"):
        app = widgets.TuringApp(run, session, rater)
        while not app.done:
            app.answer("a", False)  # both always say "class a, real"
    pair = turing_test.agreement(turing_test.load_answers(run), session).iloc[0]
    assert pair.origin_agreement == 1.0 and np.isnan(pair.kappa_origin) and np.isnan(pair.kappa_class)
    assert "kappa undefined: no items, or both always gave the same answer" in pair.in_words
    numbers = turing_test.key_numbers(turing_test.score(turing_test.load_answers(run), session), pd.DataFrame([pair]))
    assert numbers["kappa"]["a vs b"]["real_vs_synthetic"] is None


# ---------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("name", ["", "a b", "../x", "x/y", "é", "a" * 41, ".hidden", "-x", None, 3])
def test_bad_rater_names_are_refused(tmp_path, session, name):
    with pytest.raises(LiverkitError, match="is not allowed: use 1-40 letters, digits"):
        widgets.TuringApp(RunFolder(tmp_path), session, name)


def test_good_rater_names_pass():
    assert [turing_test.check_rater(n) for n in ("alice", "reader_2", "R-1", "a" * 40)] == [
        "alice",
        "reader_2",
        "R-1",
        "a" * 40,
    ]


def test_unknown_items_classes_and_calls_are_refused(tmp_path, session):
    run = RunFolder(tmp_path)
    app = widgets.TuringApp(run, session, "alice")
    with pytest.raises(LiverkitError, match=r"unknown class 'zebra'; choose one of \['a', 'b', 'c'\]"):
        app.answer("zebra", True)
    with pytest.raises(LiverkitError, match="is_synthetic must be True"):
        app.answer("a", "yes")
    assert not turing_test.answers_path(run, "alice").exists() and app.item == 1
    with pytest.raises(LiverkitError, match="item 11 is not in this session"):
        app.sheet.record(11, "a", True)
    app.answer("a", True)
    with pytest.raises(LiverkitError, match="already answered item 1"):
        app.sheet.record(1, "b", False)
    answers = turing_test.load_answers(run)
    with pytest.raises(LiverkitError, match=r"name item\(s\) \[99\] that this session does not have"):
        turing_test.score(answers.assign(item=99), session)
    with pytest.raises(LiverkitError, match=r"unknown class\(es\) \['zebra'\]"):
        turing_test.score(answers.assign(answered_class="zebra"), session)
    with pytest.raises(LiverkitError, match="answered_synthetic must be True or False"):
        turing_test.score(answers.assign(answered_synthetic="maybe"), session)
    with pytest.raises(LiverkitError, match="two answers of rater 'alice' for item 1"):
        turing_test.score(pd.concat([answers, answers]), session)
    with pytest.raises(LiverkitError, match="lack the column"):
        turing_test.score(answers.drop(columns="lesion_id"), session)


def test_answers_of_another_session_are_refused(tmp_path, real, synthetic, session):
    run = RunFolder(tmp_path)
    widgets.TuringApp(run, session, "alice").answer("a", True)
    other = turing_test.make_session(real, synthetic, n_real=5, n_synthetic=5, seed=1)
    assert other.items.lesion_id[0] != session.items.lesion_id[0]
    with pytest.raises(LiverkitError, match="belong to another session: item 1 was lesion"):
        widgets.TuringApp(run, other, "alice")
    with pytest.raises(LiverkitError, match="belong to another session"):
        turing_test.score(turing_test.load_answers(run), other)


# ---------------------------------------------------------------------------------------------- simulated raters
def test_simulated_raters_answer_through_the_app_with_their_skill(tmp_path, real, synthetic):
    big = turing_test.make_session(real, synthetic, n_real=20, n_synthetic=20, seed=0)
    run = RunFolder(tmp_path / "one")
    perfect = widgets.simulate_rater(run, big, "simulated-perfect", class_accuracy=1.0, detect_rate=1.0, seed=0)
    wrong = widgets.simulate_rater(run, big, "simulated-wrong", class_accuracy=0.0, detect_rate=0.0, seed=0)
    assert perfect.done and wrong.done
    scores = turing_test.score(turing_test.load_answers(run), big).set_index("rater")
    assert scores.loc[
        "simulated-perfect", ["origin_accuracy", "class_accuracy_real", "class_accuracy_synthetic"]
    ].tolist() == [1.0, 1.0, 1.0]
    assert scores.loc["simulated-perfect"].p_value == pytest.approx(2 * 0.5**40)
    assert "better than guessing" in scores.loc["simulated-perfect"].in_words
    assert scores.loc["simulated-wrong", ["origin_accuracy", "class_accuracy_real"]].tolist() == [0.0, 0.0]
    assert "worse than guessing" in scores.loc["simulated-wrong"].in_words
    assert scores.simulated.all()
    with pytest.raises(LiverkitError, match="must start with 'simulated'"):
        widgets.simulate_rater(run, big, "alice")
    with pytest.raises(LiverkitError, match="detect_rate is a probability"):
        widgets.simulate_rater(run, big, "simulated-x", detect_rate=1.5)


def test_interrupted_simulation_resumes_with_the_same_answers(tmp_path, real, synthetic):
    big = turing_test.make_session(real, synthetic, n_real=20, n_synthetic=20, seed=0)
    whole, resumed = RunFolder(tmp_path / "whole"), RunFolder(tmp_path / "resumed")
    widgets.simulate_rater(whole, big, "simulated-1", class_accuracy=0.7, detect_rate=0.6, seed=5)
    rows = read_rows(whole, "simulated-1")
    path = turing_test.answers_path(resumed, "simulated-1")
    path.parent.mkdir(parents=True)
    rows.iloc[:7].to_csv(path, index=False)  # as if the kernel died after 7 answers
    assert widgets.TuringApp(resumed, big, "simulated-1").item == 8
    widgets.simulate_rater(resumed, big, "simulated-1", class_accuracy=0.7, detect_rate=0.6, seed=5)
    again = read_rows(resumed, "simulated-1")
    columns = ["item", "lesion_id", "answered_class", "answered_synthetic"]
    pd.testing.assert_frame_equal(again[columns], rows[columns])
    accuracy = turing_test.score(turing_test.load_answers(whole), big).origin_accuracy.iloc[0]
    assert 0.3 < accuracy < 0.9  # a 60% rater on 40 items


def test_answers_keep_any_class_name(tmp_path):
    names = ("NA", "benign <b>", "malignant, & co")  # "NA" would read back as a missing value; a comma needs quoting
    real_set = dataclasses.replace(lesions([0, 1, 2] * 3, "real", "phantom", seed=1), class_names=names)
    fakes = {
        k: dataclasses.replace(lesions([0, 1, 2] * 2, k, k, seed=s), class_names=names)
        for s, k in enumerate(("dcgan", "acgan"), start=2)
    }
    session = turing_test.make_session(real_set, fakes, n_real=3, n_synthetic=3, seed=0)
    run = RunFolder(tmp_path)
    app = widgets.TuringApp(run, session, "alice")
    truth = session.items.true_class.tolist()
    for k in range(len(session)):
        app.answer(truth[k], False)
    answers = turing_test.load_answers(run)
    assert answers.answered_class.tolist() == truth and set(truth) == set(names)
    scores = turing_test.score(answers, session).set_index("rater")
    assert scores.loc["alice", "class_accuracy_real"] == 1.0


@pytest.mark.parametrize("content", [b"\xff\xfe\x00garbage\x81\x82", b'rater,item\n"unclosed'])
def test_a_damaged_answers_file_is_named(tmp_path, content):
    from liverkit.kit.turing_test import _read_answers

    path = tmp_path / "turing_answers_ana.csv"
    path.write_bytes(content)
    with pytest.raises(LiverkitError, match=r"Turing test answers file '.*turing_answers_ana.csv'"):
        _read_answers(path)


def test_a_saved_copy_of_the_app_shows_the_roi_on_screen(tmp_path, session):
    import base64
    import io

    from PIL import Image

    from liverkit.kit import display

    app = widgets.TuringApp(RunFolder(tmp_path / "run"), session, "ana", scale=2)
    bundle = app._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and bundle["text/plain"] == display.LIVE_HINT
    picture = Image.open(io.BytesIO(base64.b64decode(bundle["image/png"])))
    assert picture.size == (128, 128)  # the 64 x 64 ROI at the app's scale
    expected = np.round(np.kron(session.image(app.item), np.ones((2, 2))) * 255)
    assert np.abs(np.asarray(picture, dtype=float) - expected).max() <= 1


def test_expected_kappa_of_raters_who_follow_the_truth():
    """Two raters right 80% of the time on 3 classes agree beyond chance (the issue's simulation: 0.48 +- 0.12);
    guessing raters reach 0; 60% on real-or-synthetic gives 0.04."""
    assert turing_test.expected_kappa(0.8, 0.8, 3) == pytest.approx((0.64 + 0.04 / 2 - 1 / 3) / (2 / 3))
    assert turing_test.expected_kappa(0.8, 0.8, 3) == pytest.approx(0.49, abs=0.005)
    assert turing_test.expected_kappa(1 / 3, 1 / 3, 3) == pytest.approx(0.0)
    assert turing_test.expected_kappa(0.6, 0.6, 2) == pytest.approx(0.04)
    assert turing_test.expected_kappa(1.0, 1.0, 2) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 30_000)
    calls = [np.where(rng.random(30_000) < 0.8, truth, (truth + rng.integers(1, 3, 30_000)) % 3) for _ in (0, 1)]
    observed = cohen_kappa_score(calls[0], calls[1])
    assert observed == pytest.approx(turing_test.expected_kappa(0.8, 0.8, 3), abs=0.02)
    with pytest.raises(LiverkitError, match="at least 2 possible answers"):
        turing_test.expected_kappa(0.5, 0.5, 1)
