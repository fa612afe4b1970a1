"""Fused CNN training (many models as one, the GPU path) against one model at a time, on CPU in fp32.

Fused and one-by-one training run the same arithmetic summed in another order (a grouped convolution instead of K
convolutions, a padded last batch with zero weight), so weights agree to float rounding, not to the bit, and SGD
amplifies a rounding difference as it trains. The yardstick is measured, not guessed: the same one-by-one model
trained again after nudging its initial weights by one part in 10^7. Measured here (2-core Intel Xeon, 1 thread,
fp32, tiny CNN, a 140-image set): the fused model's largest weight difference after 1, 2, 4 and 8 epochs was
4.3e-7, 1.5e-5, 3.3e-4, 2.5e-3 and the nudge's 4.5e-7, 1.5e-5, 3.3e-4, 2.5e-3: the same growth. Over 12 models
(3 seeds x 4 uneven sets, 4 epochs) the largest fused difference was 7.4e-4 (tiny) and 1.6e-4 (quick width); a
wrong dropout stream (another generator) gave 2.6e-2 and 2.4e-2. :data:`ROUNDING` sits between.
"""

from dataclasses import replace

import numpy as np
import pytest
import torch

from liverkit import LiverkitError
from liverkit.data import make_phantom
from liverkit.train.classifier import ClassifierConfig, predict, train_classifier
from liverkit.train.fused import train_classifiers_fused

TINY = ClassifierConfig(channels=(4, 8, 8), hidden=16, epochs=4, lr=0.01)
QUICK = ClassifierConfig(channels=(8, 16, 32), hidden=64, epochs=2, lr=0.01)
ROUNDING = 5e-3
"""Largest weight difference allowed between a fused model and the same model trained alone: 7x the largest
measured (7.4e-4, tiny CNN, 4 epochs, 12 models), 5x below what a wrong dropout stream gives (2.4e-2)."""
SAME_MODEL = 1e-4
"""Largest weight difference between two fused runs of one model on the 70-image set (measured: below 1e-7)."""


@pytest.fixture(scope="module")
def lesions():
    return make_phantom(seed=0)


def _uneven_sets(lesions):
    """Three training sets of uneven sizes: 2, 3 and 1 batches per epoch (70 = 64 + 6: a short last batch), so the
    third model finishes its schedule first and the first one's last batch is padded."""
    return [lesions.subset(np.arange(0, 70)), lesions.subset(np.arange(10, 150)), lesions.subset(np.arange(40, 90))]


def _largest_difference(a, b) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return max(float((sa[k] - sb[k]).abs().max()) for k in sa)


@pytest.mark.parametrize("config", [TINY, QUICK], ids=["tiny", "quick"])
def test_fused_models_equal_models_trained_one_by_one(lesions, config):
    sets, seeds = _uneven_sets(lesions), [21, 22, 23]
    fused = train_classifiers_fused(sets, config, seeds, "cpu")
    for joint, train, seed in zip(fused, sets, seeds, strict=True):
        single = train_classifier(train, config, seed)
        assert _largest_difference(single.model, joint.model) < ROUNDING
        assert joint.n_images == len(train) and len(joint.history) == config.epochs
        np.testing.assert_allclose(joint.history.loss, single.history.loss, atol=1e-3)
        np.testing.assert_array_equal(joint.history.steps, single.history.steps)  # its own schedule length
        agree = (predict(joint.model, lesions) == predict(single.model, lesions)).mean()
        assert agree >= 0.98


def test_each_model_keeps_its_own_streams(lesions):
    """Model 0 trained beside others is model 0 trained alone: its data order and dropout are its own."""
    sets = _uneven_sets(lesions)
    alone = train_classifiers_fused(sets[:1], TINY, [11], "cpu")[0]
    together = train_classifiers_fused(sets, TINY, [11, 5, 6], "cpu")[0]
    assert _largest_difference(alone.model, together.model) < SAME_MODEL
    swapped = train_classifiers_fused(sets[:1], TINY, [12], "cpu")[0]
    assert _largest_difference(alone.model, swapped.model) > 1e-3  # another seed: another model


def test_the_same_set_twice_with_two_seeds_gives_two_models(lesions):
    train = lesions.subset(np.arange(60))
    a, b = train_classifiers_fused([train, train], TINY, [1, 2], "cpu")
    assert _largest_difference(a.model, b.model) > 1e-3
    again = train_classifiers_fused([train], TINY, [2], "cpu")[0]
    assert _largest_difference(b.model, again.model) < SAME_MODEL


def test_seconds_add_up_and_bad_calls_are_refused(lesions):
    sets = _uneven_sets(lesions)
    trained = train_classifiers_fused(sets, TINY, [1, 2, 3], "cpu")
    shares = np.array([t.seconds for t in trained])
    np.testing.assert_allclose(shares / shares.sum(), np.array([len(s) for s in sets]) / sum(map(len, sets)))
    with pytest.raises(LiverkitError, match="one seed per training set: 3 sets, 2 seeds"):
        train_classifiers_fused(sets, TINY, [1, 2], "cpu")
    renamed = replace(sets[1], class_names=("a", "b", "c"))
    with pytest.raises(LiverkitError, match="share their classes"):
        train_classifiers_fused([sets[0], renamed], TINY, [1, 2], "cpu")


def test_global_random_state_is_left_alone(lesions):
    torch.manual_seed(99)
    before = torch.get_rng_state()
    train_classifiers_fused(_uneven_sets(lesions)[:2], TINY, [1, 2], "cpu")
    assert torch.equal(torch.get_rng_state(), before)
