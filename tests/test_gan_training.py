"""GAN training: diagnostics, checkpoints and bitwise resume, fold safety, small classes, divergence, sampling."""

import contextlib
from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import make_set

from liverkit import LiverkitError
from liverkit.data import LesionSet, make_phantom
from liverkit.data.folds import patient_folds, split
from liverkit.evaluate.quality import collapse_ratio
from liverkit.experiment.synthesis import sample
from liverkit.nets import ACGANGenerator, DCGANGenerator
from liverkit.train import gan
from liverkit.train.checkpoints import (
    GENERATOR_FILE,
    SAMPLES_FILE,
    load_dcgans,
    load_generator,
    save_generator,
)
from liverkit.train.gan import GANDiverged, class_folders, train_acgan, train_dcgan, train_dcgans
from liverkit.train.gan_config import GANConfig, TrainOptions
from liverkit.train.gan_records import CHECKPOINT_FILE

TINY = GANConfig(g_width=32, d_width=8, batch_size=8, epochs=2, checkpoint_every=1, sample_grid=2, collapse_samples=8)
TINY_AC = GANConfig.paper_acgan(
    g_width=32, d_width=4, batch_size=8, epochs=2, checkpoint_every=1, sample_grid=2, collapse_samples=8
)
QUIET = TrainOptions(progress=False)


def _config(kind="dcgan", **changes):
    """The tiny config of ``kind`` with some fields changed."""
    return replace(TINY_AC if kind == "acgan" else TINY, **changes)


def _lesions(per_class=16, seed=0):
    """Random images, ``per_class`` of each of the classes a, b, c; one patient per lesion."""
    return make_set(np.arange(3 * per_class) % 3, seed=seed)


def _train(kind, out_dir, lesions=None, config=None, seed=0, **options):
    """Train the tiny GAN of ``kind``; ``options`` are TrainOptions fields (progress off unless given)."""
    lesions = _lesions() if lesions is None else lesions
    options = TrainOptions(**{"progress": False, **options})
    if kind == "acgan":
        return train_acgan(lesions, config or TINY_AC, out_dir=out_dir, seed=seed, options=options)
    return train_dcgan(lesions, "a", config or TINY, out_dir=out_dir, seed=seed, options=options)


def _states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def dcgans(tmp_path_factory):
    """One tiny DCGAN per class, trained once for the sampling and loading tests."""
    out_dir = tmp_path_factory.mktemp("dcgans")
    return out_dir, train_dcgans(_lesions(), TINY, out_dir=out_dir, seed=0, options=QUIET)


# ---------------------------------------------------------------------------------------------- config
def test_paper_configs():
    assert GANConfig() == GANConfig.paper_dcgan()
    dc, ac = GANConfig.paper_dcgan(), GANConfig.paper_acgan()
    assert (dc.kind, dc.g_width, dc.d_width, dc.lr, dc.epochs, dc.z_dim) == ("dcgan", 1024, 64, 2e-4, 70, 100)
    assert (ac.kind, ac.g_width, ac.d_width, ac.lr, ac.epochs, ac.batch_size) == ("acgan", 1024, 16, 1e-4, 50, 64)
    assert GANConfig.paper_acgan(epochs=3).epochs == 3
    assert GANConfig.from_dict(ac.to_dict()) == ac


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", "wgan"),
        ("g_width", 20),
        ("lr", 0.0),
        ("betas", (0.5,)),
        ("batch_size", 0),
        ("max_steps", 0),
        ("collapse_samples", 1),
        ("bf16", 1),
        ("dropout", 1.0),
    ],
)
def test_config_names_a_bad_field(field, value):
    with pytest.raises(LiverkitError, match=f"GANConfig.{field} must be"):
        GANConfig(**{field: value})


def test_steps_drop_the_last_batch_and_respect_the_cap():
    config = GANConfig(epochs=10)
    assert config.steps_per_epoch(130) == 2 and config.steps_per_epoch(10) == 1
    assert config.total_steps(130) == 20 and GANConfig(epochs=10, max_steps=7).total_steps(130) == 7


def test_wrong_kind_is_refused(tmp_path):
    with pytest.raises(LiverkitError, match="train_dcgan trains a DCGAN but the config has kind='acgan'"):
        train_dcgan(_lesions(), "a", TINY_AC, out_dir=tmp_path, seed=0)


# ---------------------------------------------------------------------------------------------- training
@pytest.mark.parametrize("kind", ["dcgan", "acgan"])
def test_training_records_diagnostics_and_files(kind, tmp_path):
    torch.manual_seed(123)
    expected_global = torch.rand(3)
    torch.manual_seed(123)
    trained = _train(kind, tmp_path)
    assert torch.equal(torch.rand(3), expected_global)  # the global RNG is left alone
    n_classes = 3 if kind == "acgan" else 1
    steps = 2 * (6 if kind == "acgan" else 2)
    history = trained.history
    assert list(history.columns[:6]) == ["epoch", "step", "loss_d", "loss_g", "d_real", "d_fake"]
    assert len(history) == steps and history.step.tolist() == list(range(1, steps + 1))
    assert np.isfinite(history.drop(columns=["epoch", "step"]).to_numpy()).all()
    assert history.d_real.between(0, 1).all() and history.d_fake.between(0, 1).all()
    assert trained.epoch_samples.shape == (2, n_classes * 2, 64, 64)
    assert trained.epoch_samples.min() >= 0 and trained.epoch_samples.max() <= 1
    assert trained.collapse.shape == (2, n_classes) and (trained.collapse > 0).all().all()
    assert not trained.generator.training and not trained.discriminator.training
    assert trained.source == kind and trained.images_per_second > 0 and trained.epochs_trained == 2
    assert {p.name for p in tmp_path.iterdir()} == {CHECKPOINT_FILE, SAMPLES_FILE, GENERATOR_FILE, "history.csv"}
    assert np.array_equal(np.load(tmp_path / SAMPLES_FILE, allow_pickle=False), trained.epoch_samples)


def test_same_seed_same_weights(tmp_path):
    a = _train("dcgan", tmp_path / "a").generator.state_dict()
    b = _train("dcgan", tmp_path / "b").generator.state_dict()
    c = _train("dcgan", tmp_path / "c", seed=1).generator.state_dict()
    assert _states_equal(a, b) and not _states_equal(a, c)


def _full_state(trained):
    state = torch.load(trained.out_dir / CHECKPOINT_FILE, weights_only=True)
    return state["generator"], state["discriminator"], state["opt_g"]["state"], state["opt_d"]["state"]


@pytest.mark.parametrize("kind", ["dcgan", "acgan"])
def test_interrupted_and_resumed_equals_uninterrupted(kind, tmp_path):
    config = _config(kind, epochs=4)
    straight = _train(kind, tmp_path / "straight", config=config)
    _train(kind, tmp_path / "interrupted", config=config, stop_after=2)
    resumed = _train(kind, tmp_path / "interrupted", config=config, resume=True)
    assert _states_equal(straight.generator.state_dict(), resumed.generator.state_dict())
    assert _states_equal(straight.discriminator.state_dict(), resumed.discriminator.state_dict())
    for a, b in zip(_full_state(straight)[2:], _full_state(resumed)[2:], strict=True):  # Adam moments
        assert all(_states_equal(a[k], b[k]) for k in a)
    assert straight.history.equals(resumed.history) and straight.collapse.equals(resumed.collapse)
    assert np.array_equal(straight.epoch_samples, resumed.epoch_samples)


def test_a_finished_run_can_be_extended(tmp_path):
    straight = _train("dcgan", tmp_path / "straight", config=_config(epochs=3))
    _train("dcgan", tmp_path / "extended")
    extended = _train("dcgan", tmp_path / "extended", config=_config(epochs=3), resume=True)
    assert _states_equal(straight.generator.state_dict(), extended.generator.state_dict())
    assert extended.epochs_trained == 3


@pytest.mark.parametrize("kind", ["dcgan", "acgan"])
def test_freezing_d_during_the_g_update_changes_no_number(kind, tmp_path, monkeypatch):
    """D needs no weight gradients while G updates: the same seed trains the same weights with and without."""
    fast = _train(kind, tmp_path / "frozen")
    monkeypatch.setattr(gan, "frozen", lambda module: contextlib.nullcontext())
    slow = _train(kind, tmp_path / "plain")
    assert _states_equal(fast.generator.state_dict(), slow.generator.state_dict())
    assert _states_equal(fast.discriminator.state_dict(), slow.discriminator.state_dict())
    assert fast.history.equals(slow.history)


def test_frozen_restores_the_gradients_after_an_error():
    d = torch.nn.Linear(2, 1)
    with pytest.raises(RuntimeError), gan.frozen(d):
        assert not any(p.requires_grad for p in d.parameters())
        raise RuntimeError("stop")
    assert all(p.requires_grad for p in d.parameters())


def test_resume_without_a_checkpoint_starts_fresh(tmp_path):
    fresh = _train("dcgan", tmp_path / "a")
    resumed = _train("dcgan", tmp_path / "b", resume=True)
    assert _states_equal(fresh.generator.state_dict(), resumed.generator.state_dict())


def test_resume_with_other_settings_names_the_fields(tmp_path):
    _train("dcgan", tmp_path, stop_after=1)
    other = _config(lr=1e-3)
    with pytest.raises(LiverkitError, match=r"checkpoint\.pt.*lr: checkpoint 0\.0002, now 0\.001") as caught:
        _train("dcgan", tmp_path, config=other, resume=True)
    assert str(tmp_path) in str(caught.value)
    with pytest.raises(LiverkitError, match="seed: checkpoint 0, now 1"):
        _train("dcgan", tmp_path, resume=True, seed=1)


def test_resume_on_other_data_names_the_checkpoint(tmp_path):
    _train("dcgan", tmp_path, stop_after=1)
    with pytest.raises(LiverkitError, match="other data") as caught:
        _train("dcgan", tmp_path, lesions=_lesions(seed=1), resume=True)
    assert str(tmp_path / CHECKPOINT_FILE) in str(caught.value)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_checkpoint_names_the_file(damage, tmp_path):
    _train("dcgan", tmp_path, stop_after=1)
    path = tmp_path / CHECKPOINT_FILE
    content = {"garbage": b"not a checkpoint", "truncated": path.read_bytes()[:300], "empty": b""}[damage]
    path.write_bytes(content)
    with pytest.raises(LiverkitError, match="could not read the GAN checkpoint") as caught:
        _train("dcgan", tmp_path, resume=True)
    assert str(path) in str(caught.value)


# ---------------------------------------------------------------------------------------------- data checks
@pytest.mark.parametrize("kind", ["dcgan", "acgan"])
def test_only_training_fold_patients_reach_the_gan(kind, tmp_path):
    lesions = make_phantom(n_cyst=10, n_metastasis=10, n_hemangioma=10, seed=0)
    train, test = split(lesions, patient_folds(lesions, k=3, seed=0), test_fold=0)
    config = _config(kind, epochs=1)
    if kind == "acgan":
        train_acgan(train, config, out_dir=tmp_path, seed=0, options=QUIET)
        reached = train
    else:
        with pytest.warns(UserWarning, match="fewer than one batch"):
            train_dcgan(train, "cyst", config, out_dir=tmp_path, seed=0, options=QUIET)
        reached = train.by_class("cyst")
    record = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)["data"]
    assert set(record["patient_ids"]).isdisjoint(test.patients.tolist())
    assert record["patient_ids"] == reached.patients.tolist()
    assert record["fingerprint"] == reached.fingerprint() and record["n_images"] == len(reached)
    assert load_generator(tmp_path / GENERATOR_FILE).data == record


def test_a_class_smaller_than_one_batch_warns_and_trains(tmp_path):
    lesions = make_set([0] * 5 + [1] * 10)
    with pytest.warns(UserWarning, match="class 'a' has only 5 training images, fewer than one batch \\(8\\)"):
        trained = train_dcgan(lesions, "a", TINY, out_dir=tmp_path, seed=0, options=QUIET)
    assert len(trained.history) == TINY.epochs  # one step of all 5 images per epoch


@pytest.mark.parametrize("kind", ["dcgan", "acgan"])
def test_a_class_with_one_image_is_refused(kind, tmp_path):
    lesions = make_set([0] + [1] * 10 + [2] * 10)
    with pytest.raises(LiverkitError, match="class 'a' has 1 training image"):
        _train(kind, tmp_path, lesions=lesions)


# ---------------------------------------------------------------------------------------------- divergence, bf16
def test_non_finite_loss_raises_gan_diverged(tmp_path):
    config = _config(lr=1e30)
    with pytest.raises(GANDiverged, match=r"diverged in epoch 1: loss_[dg] became nan at step \d") as caught:
        _train("dcgan", tmp_path, config=config)
    assert isinstance(caught.value, LiverkitError) and caught.value.checkpoint is None
    assert all(torch.isfinite(t).all() for t in caught.value.generator.state_dict().values() if t.is_floating_point())


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real_step, calls = gan._dcgan_step, []

    def failing_step(run, real, z):
        calls.append(1)
        stats = real_step(run, real, z)
        return stats if len(calls) <= 4 else stats * float("nan")  # epochs 1-2 fine, epoch 3 not

    monkeypatch.setattr(gan, "_dcgan_step", failing_step)
    config = _config(epochs=4)
    with pytest.raises(GANDiverged, match=r"epoch 3: loss_d became nan at step 5.*epoch 2\) is kept") as caught:
        _train("dcgan", tmp_path, config=config)
    saved = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    assert saved["epoch"] == 2 and caught.value.checkpoint == tmp_path / CHECKPOINT_FILE
    assert _states_equal(saved["generator"], caught.value.generator.state_dict())


@pytest.mark.parametrize("kind", ["dcgan", "acgan"])
def test_bf16_and_channels_last_train(kind, tmp_path):
    config = _config(kind, epochs=1, bf16=True, channels_last=True)
    trained = _train(kind, tmp_path, config=config)
    assert np.isfinite(trained.history[["loss_d", "loss_g"]].to_numpy()).all()


# ---------------------------------------------------------------------------------------------- sampling
def test_sample_gives_a_valid_lesionset_in_the_real_class_order():
    real = _lesions()
    torch.manual_seed(0)
    gans = {"c": DCGANGenerator(100, 32), "a": DCGANGenerator(100, 32)}
    synthetic = sample(gans, {"c": 3, "a": 5}, seed=0, class_names=real.class_names)
    assert isinstance(synthetic, LesionSet) and synthetic.class_names == real.class_names
    assert synthetic.class_counts() == {"a": 5, "b": 0, "c": 3}
    assert synthetic.images.min() >= 0 and synthetic.images.max() <= 1
    assert set(synthetic.sources) == {"dcgan"} and np.isnan(synthetic.diameters_mm).all()
    assert set(synthetic.ids).isdisjoint(real.ids) and set(synthetic.patient_ids).isdisjoint(real.patient_ids)
    assert len(LesionSet.concat([real, synthetic])) == len(real) + 8
    assert gans["a"].training  # the generator's mode is restored


def test_sample_is_deterministic_per_seed(dcgans):
    _, trained = dcgans
    a = sample(trained, 4, seed=3, class_names=("a", "b", "c"))
    b = sample(trained, 4, seed=3, class_names=("a", "b", "c"), batch_size=3)
    c = sample(trained, 4, seed=4, class_names=("a", "b", "c"))
    assert np.allclose(a.images, b.images, atol=1e-6) and a.ids.tolist() == b.ids.tolist()
    assert not np.allclose(a.images, c.images)
    assert set(a.ids).isdisjoint(c.ids)  # draws with different seeds can be concatenated


def test_sample_refuses_unknown_classes(dcgans):
    _, trained = dcgans
    with pytest.raises(
        LiverkitError, match=r"no generator for class\(es\) \['x'\]; the generators know \['a', 'b', 'c'\]"
    ):
        sample(trained, {"x": 2}, seed=0)
    with pytest.raises(LiverkitError, match=r"classes \['c'\] are not in class_names"):
        sample(trained, 2, seed=0, class_names=("a", "b"))
    with pytest.raises(LiverkitError, match="trained on class"):
        sample({"b": trained["a"]}, 2, seed=0)


def test_sample_from_an_acgan(tmp_path):
    trained = _train("acgan", tmp_path, config=_config("acgan", epochs=1))
    synthetic = sample(trained, {"b": 3, "c": 2}, seed=0, class_names=("a", "b", "c"))
    assert synthetic.labels.tolist() == [1, 1, 1, 2, 2] and set(synthetic.sources) == {"acgan"}
    assert synthetic.ids[0] == "synthetic-acgan-b-s0-00000"
    with pytest.raises(LiverkitError, match="needs class_names"):
        sample(ACGANGenerator(3, 100, 32), 2, seed=0)
    assert len(sample(ACGANGenerator(3, 100, 32), 2, seed=0, class_names=("a", "b", "c"))) == 6


def test_generators_round_trip_through_files(dcgans, tmp_path):
    out_dir, trained = dcgans
    assert sorted(p.name for p in out_dir.iterdir()) == ["a", "b", "c"]
    loaded = load_dcgans(out_dir)
    assert list(loaded) == ["a", "b", "c"] and loaded["a"].config == TINY and loaded["a"].epochs_trained == 2
    assert np.array_equal(sample(loaded, 3, seed=1).images, sample(trained, 3, seed=1).images)
    copy = load_generator(save_generator(loaded["b"], tmp_path / "copy.pt"))
    assert _states_equal(copy.generator.state_dict(), trained["b"].generator.state_dict())
    (tmp_path / "bad.pt").write_bytes(b"junk")
    with pytest.raises(LiverkitError, match="bad.pt"):
        load_generator(tmp_path / "bad.pt")


@pytest.mark.parametrize("damage", ["truncated", "classifier file", "checkpoint", "version 2", "no version"])
def test_generator_file_policy(damage, dcgans, tmp_path):
    """A truncated generator file, another liverkit format or another version (or none: generator files always
    had one) is a LiverkitError naming the file and the remedy."""
    out_dir, _ = dcgans
    good = out_dir / "a" / GENERATOR_FILE
    payload = torch.load(good, weights_only=True)
    assert payload["format"] == "liverkit-gan-generator" and payload["version"] == 1
    path = tmp_path / GENERATOR_FILE
    remedy = r"delete it and train the GAN again \(notebook 03 or 04\)"
    if damage == "truncated":
        path.write_bytes(good.read_bytes()[:300])
        expected = rf"could not read the generator file '.*generator.pt' .*{remedy}"
    elif damage in ("classifier file", "checkpoint"):
        fmt = {"classifier file": "liverkit-classifier", "checkpoint": "liverkit-gan-checkpoint"}[damage]
        torch.save({**payload, "format": fmt}, path)
        expected = rf"'.*generator.pt' is not a liverkit generator file .*'{fmt}'.*{remedy}"
    else:
        version = 2 if damage == "version 2" else None
        torch.save({k: v for k, v in payload.items() if k != "version"} | ({"version": 2} if version else {}), path)
        expected = rf"generator file '.*generator.pt' has format version {version}, and this liverkit reads version 1"
    with pytest.raises(LiverkitError, match=expected):
        load_generator(path)


def test_train_options_are_checked():
    with pytest.raises(LiverkitError, match="stop_after must be None or an epoch number >= 1, got 0"):
        TrainOptions(stop_after=0)
    with pytest.raises(LiverkitError, match="options must be a TrainOptions"):
        train_dcgan(_lesions(), "a", TINY, out_dir="unused", seed=0, options={"progress": False})


# ---------------------------------------------------------------------------------------------- collapse
def test_collapse_ratio():
    rng = np.random.default_rng(0)
    real = rng.random((20, 1, 64, 64), dtype=np.float32)
    assert collapse_ratio(real, real) == pytest.approx(1.0)
    assert collapse_ratio(np.repeat(real[:1], 10, axis=0), real) == 0.0
    assert 0 < collapse_ratio(real[:10] * 0.5 + 0.25, real) < 1
    with pytest.raises(LiverkitError, match="at least 2 fake_images"):
        collapse_ratio(real[:1], real)


def test_larger_draws_extend_smaller_ones(dcgans):
    _, trained = dcgans
    small, large = sample(trained, 3, seed=0), sample(trained, 7, seed=0)
    for name in ("a", "b", "c"):
        assert np.allclose(small.by_class(name).images, large.by_class(name).images[:3], atol=1e-6)


def test_class_folders_are_safe_and_never_shared():
    assert class_folders(("cyst", "métastase", "FNH/adenoma")) == {
        "cyst": "cyst",
        "métastase": "m_tastase",
        "FNH/adenoma": "FNH_adenoma",
    }
    clashing = class_folders(("a b", "a_b", ".hidden"))
    assert clashing == {"a b": "00_a_b", "a_b": "01_a_b", ".hidden": "02_hidden"}
