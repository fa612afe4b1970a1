"""Fused GAN training (liverkit.train.fused_gan): K models as one network give the one-by-one trainer's models.

On CPU at fp32 the fused path computes the same functions with other kernels (grouped convolutions, batched matrix
products) that sum in another order, so results agree up to float rounding, not bitwise. Adam turns rounding noise
in near-zero gradients into updates of about the learning rate, so weight differences grow to a small multiple of
``lr`` (the DCGANs here train at lr 2e-4, the ACGANs at 1e-4). The tolerances below are about 10x what was measured
(torch 2.14, one thread, 2-core Intel Xeon with AVX-512 and AMX); the measured values are in the comment next to each.
"""

import time
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from liverkit import LiverkitError
from liverkit.augment.classic import AugmentConfig
from liverkit.data import make_phantom
from liverkit.data.folds import patient_folds
from liverkit.experiment import synthesis
from liverkit.experiment.run_folder import RunFolder
from liverkit.nets import fused_gan
from liverkit.nets.acgan import ACGANDiscriminator, ACGANGenerator
from liverkit.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from liverkit.train.checkpoints import load_dcgans, load_generator
from liverkit.train.fused_gan import GANJob, train_acgans_fused, train_dcgans_fused
from liverkit.train.gan import train_acgan, train_dcgan
from liverkit.train.gan_config import GANConfig, TrainOptions

TINY = dict(g_width=16, batch_size=4, sample_grid=2, collapse_samples=8, checkpoint_every=2)
DCGAN = GANConfig.paper_dcgan(d_width=4, epochs=3, **TINY)
ACGAN = GANConfig.paper_acgan(d_width=8, epochs=2, **TINY)
CPU = TrainOptions(device="cpu", progress=False)
FUSED_CPU = replace(CPU, resume=True)  # the fused trainers' default resume

# Tolerances, about 10x the largest value measured over this file's scenarios (in the comments), except where that
# would reach what a real bug gives (training a DCGAN with a wrong data order: 3e-2 in the losses from step 1 on).
FIRST_STEP = 1e-5  # the first step's losses and D outputs, before any update: the same forward pass (measured 1.2e-6)
DCGAN_TOLERANCE = {
    "history": 4e-3,  # 4e-4, in a fold model where a LeakyReLU input within rounding of 0 flipped (others: 1.2e-6)
    "weights_mean_lr": 0.5,  # 5.3e-2, same model (others: 5e-5)
    "weights_max_lr": 40.0,  # 4.0, same model
    "samples": 1e-4,  # 1.2e-5
    "collapse": 1e-6,  # 4.2e-8
}
BF16_TOLERANCE = {  # bf16 autocast, 3 steps: rounding is 2**-8 instead of 2**-24
    "history": 3e-2,  # 3.2e-3
    "weights_mean_lr": 0.5,  # 5.0e-2
    "weights_max_lr": 40.0,  # 2.0
    "samples": 3e-4,  # 3.1e-5
    "collapse": 1e-5,  # 9.7e-7
}
ACGAN_TOLERANCE = {
    "history": 0.3,  # 4.6e-2 after 14 steps (ACGAN trajectories drift more: more kinks, lr-sized Adam steps)
    "accuracy": 0.1,  # 8.9e-3 (the mean over steps of |accuracy difference|)
    "weights_mean_lr": 1.0,  # 0.11
    "weights_max_lr": 50.0,  # 4.6
    "samples": 5e-4,  # 4.9e-5
    "collapse": 5e-6,  # 4.7e-7
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Torch on one thread in this module (the machine is shared), restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def lesions():
    """Uneven classes: 20, 13 and 9 images give 5, 3 and 2 steps per epoch at batch 4."""
    return make_phantom(seed=1, n_cyst=20, n_metastasis=13, n_hemangioma=9)


def dcgan_jobs(lesions, root) -> list[GANJob]:
    """One job per class, the smallest first: it finishes first, so the group drops a model that is not its last."""
    names = lesions.class_names[::-1]
    return [GANJob(lesions.by_class(n), (n,), root / n, seed=3 + i) for i, n in enumerate(names)]


def one_by_one(jobs, config, root) -> list:
    """Each job with the one-by-one trainer, into ``root / <its folder name>``."""
    out = []
    for job in jobs:
        common = dict(out_dir=root / job.out_dir.name, seed=job.seed, options=CPU)
        if config.kind == "dcgan":
            out.append(train_dcgan(job.lesions, job.class_names[0], config, **common))
        else:
            out.append(train_acgan(job.lesions, config, **common))
    return out


def differences(a, b) -> dict[str, float]:
    """How far two TrainedGANs are apart: the largest and the mean absolute difference of the weights (both
    networks, batch-norm buffers left out) in units of the learning rate, the largest difference of the
    continuous history columns (losses, mean D outputs), the mean difference of the ACGAN's accuracy columns
    (steps of 1 / batch), and the largest difference of the per-epoch samples and collapse ratios."""
    weights = []
    for net in ("generator", "discriminator"):
        theirs = getattr(b, net).state_dict()
        for key, value in getattr(a, net).state_dict().items():
            if value.is_floating_point() and "running" not in key:
                weights.append((value.double() - theirs[key].double()).abs().flatten())
    weights = torch.cat(weights) / a.config.lr
    assert list(a.history.columns) == list(b.history.columns) and len(a.history) == len(b.history)
    gap = (a.history - b.history).abs()
    accuracy = [c for c in gap.columns if c.startswith("acc_")]
    return {
        "weights_max_lr": weights.max().item(),
        "weights_mean_lr": weights.mean().item(),
        "history": float(gap[["loss_d", "loss_g", "d_real", "d_fake"]].to_numpy().max()),
        "accuracy": float(gap[accuracy].to_numpy().mean()) if accuracy else 0.0,
        "samples": float(np.abs(a.epoch_samples - b.epoch_samples).max()),
        "collapse": float((a.collapse - b.collapse).abs().to_numpy().max()),
    }


def assert_close(fused, alone, tolerance: dict[str, float], first_step: float = FIRST_STEP) -> None:
    for a, b in zip(fused, alone, strict=True):
        assert a.class_names == b.class_names and a.seed == b.seed and a.data == b.data
        assert a.epochs_trained == b.epochs_trained and a.config == b.config and a.source == b.source
        pd.testing.assert_frame_equal(a.history[["epoch", "step"]], b.history[["epoch", "step"]])
        first = (a.history.iloc[0] - b.history.iloc[0]).abs().drop(["epoch", "step", "loss_g"]).max()
        assert first <= first_step, (a.class_names, first)
        found = differences(a, b)
        print("MEASURED", a.config.kind, a.class_names, len(a.history), {k: f"{v:.1e}" for k, v in found.items()})
        assert all(found[name] <= limit for name, limit in tolerance.items()), (a.class_names, found)


@pytest.fixture(scope="module")
def dcgans(lesions, tmp_path_factory):
    """Three DCGANs of 6, 9 and 15 steps (3 epochs), fused and one by one."""
    root = tmp_path_factory.mktemp("dcgans")
    jobs = dcgan_jobs(lesions, root / "fused")
    fused = train_dcgans_fused(jobs, DCGAN, FUSED_CPU)
    return jobs, fused, one_by_one(jobs, DCGAN, root / "alone")


# ---------------------------------------------------------------------------------------------- the networks
@pytest.mark.parametrize("kind", ["dcgan", "acgan"])
def test_fused_networks_hold_each_model_as_a_slice_and_compute_its_outputs(kind):
    torch.manual_seed(0)
    k, n_classes = 3, 2
    if kind == "dcgan":
        singles = [(DCGANGenerator(10, 16), DCGANDiscriminator(4)) for _ in range(k)]
        generator, discriminator = fused_gan.FusedDCGANGenerator(k, 10, 16), fused_gan.FusedDCGANDiscriminator(k, 4)
    else:
        singles = [(ACGANGenerator(n_classes, 10, 16), ACGANDiscriminator(n_classes, 4, 0.0)) for _ in range(k)]
        generator = fused_gan.FusedACGANGenerator(k, n_classes, 10, 16)
        discriminator = fused_gan.FusedACGANDiscriminator(k, n_classes, 4, 0.0)
    for fused, index in ((generator, 0), (discriminator, 1)):
        states = [pair[index].state_dict() for pair in singles]
        assert list(fused.state_dict()) == list(states[0])  # same keys, same order: Adam states line up too
        fused.load_state_dict(fused_gan.stack_states(states))
        for j in range(k):
            sliced = fused_gan.model_state(fused.state_dict(), k, j)
            assert all(torch.equal(sliced[key], states[j][key]) for key in states[j])
    z, labels, images = torch.rand(k, 5, 10) * 2 - 1, torch.randint(n_classes, (k, 5)), torch.rand(5, k, 64, 64)
    fake = generator(z) if kind == "dcgan" else generator(z, labels)  # 5 x K x 64 x 64
    logits = discriminator(images)
    logits = logits if kind == "dcgan" else logits[0]  # K x 5
    for j, (g, d) in enumerate(singles):
        alone = g(z[j]) if kind == "dcgan" else g(z[j], labels[j])
        assert (fake[:, j : j + 1] - alone).abs().max() < 1e-5
        d_alone = d(images[:, j : j + 1])
        d_alone = d_alone if kind == "dcgan" else d_alone[0]
        assert (logits[j] - d_alone).abs().max() < 1e-5


# ---------------------------------------------------------------------------------------------- DCGAN
def test_fused_dcgans_equal_one_by_one_with_uneven_data(dcgans):
    jobs, fused, alone = dcgans
    assert [len(g.history) for g in fused] == [6, 9, 15]  # different steps per epoch, different total steps
    assert_close(fused, alone, DCGAN_TOLERANCE)
    assert [g.out_dir for g in fused] == [job.out_dir for job in jobs]


def test_fused_dcgans_respect_max_steps(lesions, tmp_path):
    config = replace(DCGAN, max_steps=7)  # 2 + 2 + 2, 3 + 3 + 1 and 5 + 2 steps: cut epochs, two finish together
    jobs = dcgan_jobs(lesions, tmp_path / "fused")
    fused = train_dcgans_fused(jobs, config, FUSED_CPU)
    assert [len(g.history) for g in fused] == [6, 7, 7] and [g.epochs_trained for g in fused] == [3, 3, 2]
    assert_close(fused, one_by_one(jobs, config, tmp_path / "alone"), DCGAN_TOLERANCE)


def test_fused_dcgans_in_bf16_stay_close_to_one_by_one(lesions, tmp_path):
    config = replace(DCGAN, bf16=True, max_steps=3)
    jobs = dcgan_jobs(lesions, tmp_path / "fused")
    fused = train_dcgans_fused(jobs, config, FUSED_CPU)
    assert_close(fused, one_by_one(jobs, config, tmp_path / "alone"), BF16_TOLERANCE, first_step=1e-3)  # 0 measured


def test_fused_dcgans_write_the_one_by_one_files(dcgans):
    jobs, fused, _ = dcgans
    for gan in fused:
        assert {p.name for p in gan.out_dir.iterdir()} == {
            "checkpoint.pt",
            "generator.pt",
            "samples.npy",
            "history.csv",
        }
        saved = load_generator(gan.out_dir / "generator.pt")
        assert saved.epochs_trained == 3 and saved.class_names == gan.class_names and saved.data == gan.data
        for key, value in gan.generator.state_dict().items():
            assert torch.equal(saved.generator.state_dict()[key], value)
        np.testing.assert_array_equal(np.load(gan.out_dir / "samples.npy"), gan.epoch_samples)
        pd.testing.assert_frame_equal(pd.read_csv(gan.out_dir / "history.csv"), gan.history, check_dtype=False)
    assert sorted(load_dcgans(jobs[0].out_dir.parent)) == sorted(g.class_names[0] for g in fused)


def test_one_by_one_resume_after_a_fused_run_does_not_retrain(dcgans):
    jobs, fused, _ = dcgans
    for job, gan in zip(jobs, fused, strict=True):
        start = time.perf_counter()
        again = train_dcgan(
            job.lesions,
            job.class_names[0],
            DCGAN,
            out_dir=job.out_dir,
            seed=job.seed,
            options=replace(CPU, resume=True),
        )
        assert time.perf_counter() - start < 2.0 and again.images_per_second == 0  # loaded: no step taken
        assert again.epochs_trained == gan.epochs_trained
        pd.testing.assert_frame_equal(again.history, gan.history)
        for key, value in gan.discriminator.state_dict().items():
            assert torch.equal(again.discriminator.state_dict()[key], value)


def test_a_fused_checkpoint_continues_one_by_one_as_if_never_fused(lesions, dcgans, tmp_path):
    """Two fused epochs, then a third one by one from the fused checkpoints (weights, Adam moments, data-order
    generator): the one-by-one three-epoch models, up to rounding."""
    _, _, alone = dcgans
    jobs = dcgan_jobs(lesions, tmp_path)
    train_dcgans_fused(jobs, replace(DCGAN, epochs=2), FUSED_CPU)
    continued = train_dcgans_fused(jobs, DCGAN, FUSED_CPU)  # checkpoints found: resumed one by one
    assert [g.images_per_second > 0 for g in continued] == [True] * 3  # the third epoch was trained
    assert_close(continued, alone, DCGAN_TOLERANCE)


def test_a_job_with_another_batch_size_trains_one_by_one(lesions, tmp_path):
    few = lesions.by_class("hemangioma").subset([0, 1, 2])  # 3 images: batch 3, not 4
    jobs = [*dcgan_jobs(lesions, tmp_path / "fused")[1:], GANJob(few, ("hemangioma",), tmp_path / "few", seed=5)]
    config = replace(DCGAN, epochs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fewer images than one batch
        fused = train_dcgans_fused(jobs, config, FUSED_CPU)
        alone = train_dcgan(few, "hemangioma", config, out_dir=tmp_path / "alone", seed=5, options=CPU)
    assert set(differences(fused[2], alone).values()) == {0.0}  # the one-by-one trainer's model, bit for bit
    assert len(fused[0].history) == 3 and len(fused[1].history) == 5


def test_bad_jobs_are_refused(lesions, tmp_path):
    job = dcgan_jobs(lesions, tmp_path)[0]
    with pytest.raises(LiverkitError, match="share the out_dir"):
        train_dcgans_fused([job, replace(job, seed=9)], DCGAN, FUSED_CPU)
    with pytest.raises(LiverkitError, match="kind='acgan'"):
        train_dcgans_fused([job], ACGAN, FUSED_CPU)
    with pytest.raises(LiverkitError, match="class_names"):
        train_dcgans_fused([replace(job, class_names=("cyst", "metastasis"))], DCGAN, FUSED_CPU)
    with pytest.raises(LiverkitError, match="seed"):
        train_dcgans_fused([replace(job, seed=-1)], DCGAN, FUSED_CPU)
    with pytest.raises(LiverkitError, match="without stop_after"):
        train_dcgans_fused([job], DCGAN, replace(FUSED_CPU, stop_after=1))


# ---------------------------------------------------------------------------------------------- ACGAN
def test_fused_acgans_equal_one_by_one_with_uneven_data(lesions, tmp_path):
    """Dropout masks come from each model's own generator, as alone; 10, 7 and 7 steps per epoch."""
    sets = [lesions, lesions.subset(np.arange(30)), lesions.subset(np.r_[0:10, 20:40])]
    jobs = [GANJob(s, s.class_names, tmp_path / "fused" / f"m{i}", seed=3 + i) for i, s in enumerate(sets)]
    fused = train_acgans_fused(jobs, ACGAN, FUSED_CPU)
    assert [len(g.history) for g in fused] == [20, 14, 14]
    assert_close(fused, one_by_one(jobs, ACGAN, tmp_path / "alone"), ACGAN_TOLERANCE)
    assert load_generator(jobs[1].out_dir / "generator.pt").source == "acgan"


# ---------------------------------------------------------------------------------------------- train_fold_gans
@pytest.mark.parametrize("kind", ["dcgan", "acgan"])
def test_train_fold_gans_fused_gives_the_one_by_one_models(kind, tmp_path):
    lesions = make_phantom(seed=1, n_cyst=12, n_metastasis=12, n_hemangioma=12)
    fold_of = patient_folds(lesions, k=3, seed=1)
    choice = pd.DataFrame({"repeat": [0, 0, 0], "fold": [0, 1, 2], "group": [0, 48, 32]})
    config = replace(DCGAN if kind == "dcgan" else ACGAN, batch_size=8, epochs=2)
    args = (kind, lesions, fold_of, choice, AugmentConfig(n_rot=1), config)
    trained = {}
    for fused in ("on", "off"):
        run = RunFolder(tmp_path / fused)
        trained[fused] = synthesis.train_fold_gans(*args, run, seed=0, progress=False, fused=fused)
    on, off = trained["on"], trained["off"]
    assert sorted(on) == sorted(off) == [0, 1, 2]
    for fold in on:
        assert list(on[fold]) == list(off[fold]) == list(lesions.class_names)
        assert len({id(g) for g in on[fold].values()}) == (3 if kind == "dcgan" else 1)
        fused_models, alone = synthesis._distinct(on[fold]), synthesis._distinct(off[fold])
        assert_close(fused_models, alone, DCGAN_TOLERANCE if kind == "dcgan" else ACGAN_TOLERANCE)
        for a, b in zip(fused_models, alone, strict=True):
            assert a.out_dir.relative_to(tmp_path / "on") == b.out_dir.relative_to(tmp_path / "off")
            assert (a.out_dir / "generator.pt").is_file()


def test_train_fold_gans_refuses_an_unknown_fused_setting(tmp_path):
    lesions = make_phantom(seed=1, n_cyst=4, n_metastasis=4, n_hemangioma=4)
    choice = pd.DataFrame({"fold": [0], "group": [0]})
    with pytest.raises(LiverkitError, match="fused must be"):
        synthesis.train_fold_gans(
            "dcgan",
            lesions,
            np.zeros(len(lesions), int),
            choice,
            AugmentConfig(n_rot=1),
            DCGAN,
            RunFolder(tmp_path / "run"),
            seed=0,
            fused="sometimes",
        )
