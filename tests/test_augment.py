"""Classic augmentation: counts, determinism, shift and scale bounds, no black corners, nested groups."""

import numpy as np
import pytest
import torch
from helpers import make_set

from liverkit import LiverkitError, augment
from liverkit.augment import AugmentConfig
from liverkit.data import LesionSet


def _blob_set(n=4, diameters=(10.0, 20.0, 50.0, 100.0)):
    """ROIs with a bright off-centre square on a mid-grey background (min 0.3: a black pixel would be an artefact)."""
    images = np.full((n, 1, 64, 64), 0.3, np.float32)
    images[:, 0, 20:30, 36:46] = 0.9
    return LesionSet(
        images=images, labels=np.arange(n) % 3, class_names=("a", "b", "c"), patient_ids=[f"p{i}" for i in range(n)],
        diameters_mm=np.asarray(diameters[:n]), ids=[f"x{i}" for i in range(n)], sources="test",
    )  # fmt: skip


def test_paper_counts():
    config = AugmentConfig()
    assert config.per_roi == 480
    plan = augment.plan_pool(_blob_set(), config, np.random.default_rng(0))
    assert len(plan) == 4 * 480
    per_parent = np.bincount(plan.parent)
    assert per_parent.tolist() == [480] * 4
    kinds = np.bincount(plan.kind[plan.parent == 0])
    assert kinds.tolist() == [30, 90, 210, 150]  # rotated, flips, translations, scales
    angles = np.unique(plan.angle_deg[plan.parent == 0])
    assert len(angles) == 30 and angles.min() >= 0 and angles.max() <= 180


def test_shift_bound_follows_diameter():
    config = AugmentConfig()
    p = augment.shift_bound_px(np.array([7.0, 14.0, 28.0, 100.0, np.nan]), config)
    assert p == pytest.approx([1.0, 2.0, 4.0, 4.0, 4.0])  # 0.1 x (d / 0.7 mm), capped at 4
    plan = augment.plan_pool(_blob_set(), config, np.random.default_rng(1))
    for i, d in enumerate((10.0, 20.0, 50.0, 100.0)):
        shifts = np.abs(plan.shift_px[(plan.parent == i) & (plan.kind == 2)])
        bound = min(4.0, 0.1 * d / 0.7)
        assert shifts.max() < bound and shifts.max() > 0.8 * bound
        assert np.all(plan.shift_px[(plan.parent == i) & (plan.kind != 2)] == 0)


def test_scale_bound_follows_diameter():
    config = AugmentConfig()
    q = augment.scale_bound(np.array([10.0, 100.0, np.nan]), config)
    assert q == pytest.approx([0.2, 0.056, 0.2])  # 2p/d: 2 x 0.1 while p = 0.1 d; 2 x 4/142.9; cap when unknown
    plan = augment.plan_pool(_blob_set(), config, np.random.default_rng(2))
    large = plan.scale[(plan.parent == 3) & (plan.kind == 3)]
    assert np.all(np.abs(large - 1) <= 0.056 + 1e-9) and np.abs(large - 1).max() > 0.04


def test_same_seed_same_pool_other_seed_differs():
    s = _blob_set()
    a = augment.render(s, augment.plan_pool(s, AugmentConfig(n_rot=3), np.random.default_rng(5)))
    b = augment.render(s, augment.plan_pool(s, AugmentConfig(n_rot=3), np.random.default_rng(5)))
    c = augment.render(s, augment.plan_pool(s, AugmentConfig(n_rot=3), np.random.default_rng(6)))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_rendered_variants_shapes_ranges_and_no_black_corners():
    s = _blob_set()
    pool = augment.render(s, augment.plan_pool(s, AugmentConfig(n_rot=4), np.random.default_rng(0)))
    assert pool.shape == (4 * 4 * 16, 1, 64, 64)
    assert pool.min() >= 0.3 - 1e-6 and pool.max() <= 0.9 + 1e-6  # reflection: no zero padding anywhere
    assert torch.allclose(pool.mean(dim=(1, 2, 3)), torch.full((len(pool),), 0.3 + 0.6 * 100 / 4096), atol=0.02)


def test_flip_and_rotation_geometry():
    s = _blob_set(1, (100.0,))
    plan = augment.plan_pool(
        s, AugmentConfig(n_rot=1, rot_range_deg=(90.0, 90.0), n_trans=0, n_scale=0), np.random.default_rng(0)
    )
    rotated, flip_lr, flip_ud, both = augment.render(s, plan)[:, 0]
    assert torch.allclose(flip_lr, torch.flip(rotated, [1]), atol=1e-5)
    assert torch.allclose(flip_ud, torch.flip(rotated, [0]), atol=1e-5)
    assert torch.allclose(both, torch.flip(rotated, [0, 1]), atol=1e-5)
    original = torch.from_numpy(s.images[0, 0])
    assert torch.allclose(rotated, torch.rot90(original, 1, [0, 1]), atol=1e-4) or torch.allclose(
        rotated, torch.rot90(original, -1, [0, 1]), atol=1e-4
    )


def test_nested_groups_and_metadata():
    s = make_set([0, 1, 2, 0, 1, 2])
    plan = augment.plan_pool(s, AugmentConfig(n_rot=2), np.random.default_rng(0))
    order = augment.nested_order(plan, np.random.default_rng(1))
    small = augment.make_group(s, plan, order, 20)
    large = augment.make_group(s, plan, order, 60)
    assert len(small) == 20 and len(large) == 60
    assert set(small.ids) <= set(large.ids)
    assert np.array_equal(large.images[:20], small.images)
    assert set(large.patient_ids) <= set(s.patient_ids)
    parent = plan.parent[order[:60]]
    assert np.array_equal(large.labels, s.labels[parent])
    assert set(large.sources) == {"test+classic"}
    assert augment.make_group(s, plan, order, 0) is s


def test_group_larger_than_pool_is_refused():
    s = make_set([0, 1, 2])
    plan = augment.plan_pool(s, AugmentConfig(n_rot=1), np.random.default_rng(0))
    with pytest.raises(LiverkitError, match=r"group size 100 is larger than the augmentation pool \(48 = 3 ROIs x 16"):
        augment.make_group(s, plan, augment.nested_order(plan, np.random.default_rng(0)), 100)
    assert augment.groups_for(48) == (0,)
    assert augment.groups_for(57600) == augment.PAPER_GROUPS


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [("n_flip", 4, "n_flip must be 0-3"), ("n_rot", 0, "n_rot must be >= 1"), ("n_trans", -1, "n_trans must be >= 0")],
)
def test_bad_config(field, value, match):
    with pytest.raises(LiverkitError, match=match):
        AugmentConfig(**{field: value})


def test_pool_of_a_120_lesion_fold_is_fast():
    import time

    rng = np.random.default_rng(0)
    s = make_set(np.arange(120) % 3)
    start = time.perf_counter()
    pool = augment.render(s, augment.plan_pool(s, AugmentConfig(), rng))
    assert pool.shape == (57600, 1, 64, 64)
    assert time.perf_counter() - start < 20  # the bar is 10 s on 2 idle cores; CI may share them
