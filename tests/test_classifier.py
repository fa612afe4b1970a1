"""The classifier CNN and its training loop: shapes, determinism, learning, divergence, class mismatches."""

import dataclasses

import numpy as np
import pytest
import torch

from liverkit import LiverkitError
from liverkit.data import LesionSet, make_phantom
from liverkit.nets import LesionCNN
from liverkit.train import classifier
from liverkit.train.checkpoints import load_classifier, save_classifier
from liverkit.train.classifier import (
    ClassifierConfig,
    TrainingDiverged,
    embed_lesions,
    epoch_orders,
    predict,
    predict_proba,
    train_classifier,
)

TINY = ClassifierConfig(channels=(4, 8, 8), hidden=16, epochs=4, batch_size=16)


def _two_blobs(n=48, seed=0, class_names=("dark", "bright")):
    """Class 0: dark square, class 1: bright square, on a noisy background (easy to learn)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = 0.5 + 0.05 * rng.standard_normal((n, 1, 64, 64))
    images[:, 0, 24:40, 24:40] += np.where(labels == 1, 0.3, -0.3)[:, None, None]
    return LesionSet(
        images=np.clip(images, 0, 1).astype(np.float32),
        labels=labels,
        class_names=class_names,
        patient_ids=[f"p{i}" for i in range(n)],
        diameters_mm=np.full(n, 20.0),
        ids=[f"b{i}" for i in range(n)],
        sources="test",
    )


@pytest.mark.parametrize("n_classes", [2, 3, 11])
def test_cnn_shapes(n_classes):
    model = LesionCNN(n_classes=n_classes)
    x = torch.rand(5, 1, 64, 64)
    assert model(x).shape == (5, n_classes)
    assert model.embed(x).shape == (5, 256)


def test_cnn_parameter_count_of_the_default_widths():
    model = LesionCNN(n_classes=3)
    convs = (1 * 32 * 25 + 32) + (32 * 64 * 25 + 64) + (64 * 128 * 9 + 128)
    fcs = (128 * 64 * 256 + 256) + (256 * 3 + 3)
    assert sum(p.numel() for p in model.parameters()) == convs + fcs == 2_224_131


def test_steps_follow_epochs_with_no_cap():
    assert ClassifierConfig(epochs=150).steps_for(121) == 300
    assert ClassifierConfig(epochs=150).steps_for(5000) == 150 * 79


def test_budget_rule_adding_data_never_takes_passes_from_the_shared_images():
    """Every image of the training set is visited exactly `epochs` times, however many images are added."""
    config = ClassifierConfig(epochs=7, batch_size=64)
    for added in (0, 100, 2000):
        orders = epoch_orders(121 + added, config, seed=3)
        visits = torch.bincount(torch.cat(orders), minlength=121 + added)
        assert (visits[:121] == 7).all() and (visits == 7).all()
        assert sum(len(o) for o in orders) == 7 * (121 + added)


def test_training_counts_every_image_epochs_times(monkeypatch):
    """The loop itself: the batches drawn over a run cover each image `epochs` times."""
    drawn = []
    original = classifier._run_epoch

    def spy(model, optimiser, images, labels, order, n_steps, config, *rest):
        drawn.append(order[: n_steps * config.batch_size].clone())
        return original(model, optimiser, images, labels, order, n_steps, config, *rest)

    monkeypatch.setattr(classifier, "_run_epoch", spy)
    lesions = make_phantom(seed=0, n_cyst=6, n_metastasis=6, n_hemangioma=6)
    trained = train_classifier(lesions, ClassifierConfig(channels=(2, 4, 4), hidden=8, epochs=3, batch_size=8), 0)
    visits = torch.bincount(torch.cat(drawn), minlength=len(lesions))
    assert (visits == 3).all() and trained.n_images == len(lesions)
    assert trained.history.steps.iloc[-1] == 3 * 3  # ceil(18 / 8) = 3 batches per epoch


def test_learns_an_easy_problem_and_keeps_a_history():
    config = ClassifierConfig(channels=(4, 8, 8), hidden=16, epochs=20, batch_size=16)
    trained = train_classifier(_two_blobs(), config, seed=0, val=_two_blobs(seed=1))
    assert len(trained.history) == 20 and trained.history.steps.iloc[-1] == 60
    assert trained.history.loss.iloc[-1] < trained.history.loss.iloc[0]
    assert (predict(trained.model, _two_blobs(seed=2)) == _two_blobs(seed=2).labels).mean() >= 0.9
    probabilities = predict_proba(trained.model, _two_blobs(seed=2))
    assert probabilities.shape == (48, 2) and np.allclose(probabilities.sum(1), 1, atol=1e-5)


def test_same_seed_same_weights_on_cpu():
    a = train_classifier(_two_blobs(), TINY, seed=3).model.state_dict()
    b = train_classifier(_two_blobs(), TINY, seed=3).model.state_dict()
    c = train_classifier(_two_blobs(), TINY, seed=4).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_channels_last_changes_only_float_rounding():
    fast = train_classifier(_two_blobs(), TINY, seed=3)
    nchw = train_classifier(_two_blobs(), dataclasses.replace(TINY, channels_last=False), seed=3)
    assert fast.model.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(fast.history["loss"], nchw.history["loss"], rtol=1e-4)
    for name, value in nchw.model.state_dict().items():
        torch.testing.assert_close(fast.model.state_dict()[name], value, rtol=1e-4, atol=1e-5)


def test_pooling_before_relu_gives_the_textbook_block_exactly():
    """The CNN pools before its ReLU (faster); the outputs and every gradient equal conv -> ReLU -> pool's."""
    torch.manual_seed(0)
    model = LesionCNN(3, (4, 8, 8), hidden=16)
    f = model.features
    textbook = torch.nn.Sequential(
        *(torch.nn.Sequential(f[i], torch.nn.ReLU(), torch.nn.MaxPool2d(2)) for i in (0, 3, 6)), torch.nn.Flatten()
    )
    x = torch.randn(5, 1, 64, 64)
    ours, reference = f(x), textbook(x)  # 5 x 8*64
    assert torch.equal(ours, reference)
    weights = [f[i].weight for i in (0, 3, 6)]
    probe = torch.randn_like(ours)
    grads_ours = torch.autograd.grad(ours, weights, probe)
    grads_reference = torch.autograd.grad(reference, weights, probe)
    assert all(torch.equal(a, b) for a, b in zip(grads_ours, grads_reference, strict=True))
    assert any(bool(g.abs().sum() > 0) for g in grads_ours)


def test_training_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_classifier(_two_blobs(), TINY, seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_divergence_stops_with_last_good_state():
    config = ClassifierConfig(channels=(4, 8, 8), hidden=16, epochs=50, batch_size=16, lr=1e6)
    with pytest.raises(TrainingDiverged, match=r"loss became (nan|inf) during epoch \d+") as caught:
        train_classifier(_two_blobs(), config, seed=0)
    assert isinstance(caught.value, LiverkitError)
    assert all(torch.isfinite(p).all() for p in caught.value.model.parameters())


def test_missing_class_in_training_fold():
    data = _two_blobs()
    only_dark = data.subset(data.labels == 0)
    with pytest.raises(LiverkitError, match=r"classes \['bright'\] have no training lesions"):
        train_classifier(only_dark, TINY, seed=0)


def test_model_and_data_class_counts_must_match():
    trained = train_classifier(_two_blobs(), TINY, seed=0)
    three = LesionSet(**{**_two_blobs().__dict__, "class_names": ("a", "b", "c")})
    with pytest.raises(LiverkitError, match=r"the model predicts 2 classes but the data has 3"):
        predict(trained.model, three)


def test_embeddings_are_the_last_hidden_layer():
    trained = train_classifier(_two_blobs(), TINY, seed=0)
    lesions = _two_blobs()
    features = embed_lesions(trained.model, lesions)
    assert features.shape == (len(lesions), 16) and features.dtype == np.float32
    assert (features >= 0).all()  # after the ReLU
    expected = trained.model.embed(torch.from_numpy(lesions.images[:3])).detach().numpy()
    np.testing.assert_allclose(features[:3], expected, rtol=1e-5, atol=1e-6)
    assert embed_lesions(trained.model, lesions.subset(np.arange(0))).shape == (0, 16)


def test_saved_classifier_reads_back_identical(tmp_path):
    trained = train_classifier(_two_blobs(), TINY, seed=0)
    path = save_classifier(trained.model, TINY, ("dark", "bright"), tmp_path / "cnn.pt")
    model, config, class_names = load_classifier(path)
    assert config == TINY and class_names == ("dark", "bright")
    lesions = _two_blobs()
    np.testing.assert_array_equal(predict_proba(model, lesions), predict_proba(trained.model, lesions))
    with pytest.raises(LiverkitError, match="does not exist"):
        load_classifier(tmp_path / "missing.pt")
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(LiverkitError, match="not a liverkit classifier"):
        load_classifier(tmp_path / "other.pt")


@pytest.mark.parametrize("damage", ["truncated", "generator file", "version 2", "no version"])
def test_classifier_file_policy(damage, tmp_path):
    """A truncated file, another liverkit format or another version is a LiverkitError naming the file and the
    remedy; a file from before the version field (the same layout) still reads, as version 1."""
    trained = train_classifier(_two_blobs(), dataclasses.replace(TINY, epochs=1), seed=0)
    good = save_classifier(trained.model, TINY, ("dark", "bright"), tmp_path / "good.pt")
    payload = torch.load(good, weights_only=True)
    assert payload["format"] == "liverkit-classifier" and payload["version"] == 1
    path = tmp_path / "cnn.pt"
    remedy = r"delete it and rerun the notebook that trains it \(05\)"
    if damage == "truncated":
        path.write_bytes(good.read_bytes()[:500])
        expected = rf"could not read the classifier file '.*cnn.pt' .*{remedy}"
    elif damage == "generator file":
        torch.save({**payload, "format": "liverkit-gan-generator"}, path)
        expected = rf"'.*cnn.pt' is not a liverkit classifier file .*'liverkit-gan-generator'.*{remedy}"
    elif damage == "version 2":
        torch.save({**payload, "version": 2}, path)
        expected = rf"classifier file '.*cnn.pt' has format version 2, and this liverkit reads version 1 only: {remedy}"
    else:
        torch.save({k: v for k, v in payload.items() if k != "version"}, path)
        model, _, _ = load_classifier(path)
        assert all(torch.equal(v, trained.model.state_dict()[k]) for k, v in model.state_dict().items())
        return
    with pytest.raises(LiverkitError, match=expected):
        load_classifier(path)
