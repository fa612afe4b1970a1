"""DCGAN and ACGAN networks: shapes, output ranges, the paper's parameter counts, initialisation."""

import pytest
import torch
from torch import nn

from liverkit import LiverkitError
from liverkit.nets import ACGANDiscriminator, ACGANGenerator, DCGANDiscriminator, DCGANGenerator
from liverkit.nets.acgan import ThresholdDropout


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _generator_count(z_dim: int, w: int) -> int:
    """From the layer specs: FC to 4x4xw (no bias) + BN, three 5x5 up-convolutions (no bias) + BN, output up-conv."""
    fc = z_dim * w * 16 + 2 * w
    ups = sum(c * (c // 2) * 25 + 2 * (c // 2) for c in (w, w // 2, w // 4))
    return fc + ups + (w // 8) * 1 * 25 + 1


def _dcgan_discriminator_count(w: int) -> int:
    """Four 5x5 convolutions 1 -> w -> 2w -> 4w -> 8w (bias on the first, BN on the rest), FC 8w*16 -> 1."""
    first = 1 * w * 25 + w
    rest = sum(c * 2 * c * 25 + 2 * (2 * c) for c in (w, 2 * w, 4 * w))
    return first + rest + 8 * w * 16 + 1


def _acgan_discriminator_count(w: int, n_classes: int) -> int:
    """Six 3x3 convolutions 1 -> w -> ... -> 32w (bias on the first, BN on the rest); two heads on 32w x 8 x 8."""
    widths = [1, w, 2 * w, 4 * w, 8 * w, 16 * w, 32 * w]
    first = 1 * w * 9 + w
    rest = sum(c_in * c_out * 9 + 2 * c_out for c_in, c_out in zip(widths[1:-1], widths[2:], strict=True))
    features = 32 * w * 8 * 8
    return first + rest + (features + 1) + (features * n_classes + n_classes)


def test_paper_parameter_counts_follow_from_the_layer_specs():
    assert _count(DCGANGenerator()) == _generator_count(100, 1024) == 18_848_641
    assert _count(DCGANDiscriminator()) == _dcgan_discriminator_count(64) == 4_312_449
    assert _count(ACGANGenerator(3)) == _generator_count(100, 1024) + 3 * 100
    assert _count(ACGANDiscriminator(3)) == _acgan_discriminator_count(16, 3) == 1_704_548


@pytest.mark.parametrize(("z_dim", "width", "n"), [(100, 32, 1), (100, 64, 5), (16, 8, 3)])
def test_dcgan_shapes_and_ranges(z_dim, width, n):
    generator, discriminator = DCGANGenerator(z_dim, width).eval(), DCGANDiscriminator(width // 4)
    images = generator(torch.rand(n, z_dim) * 2 - 1)
    assert images.shape == (n, 1, 64, 64)
    assert images.abs().max() <= 1
    assert discriminator.eval()(images).shape == (n,)


@pytest.mark.parametrize("n_classes", [2, 3, 11])
def test_acgan_shapes_ranges_and_conditioning(n_classes):
    generator, discriminator = ACGANGenerator(n_classes, 100, 32).eval(), ACGANDiscriminator(n_classes, 4).eval()
    z = torch.rand(6, 100) * 2 - 1
    labels = torch.arange(6) % n_classes
    images = generator(z, labels)
    assert images.shape == (6, 1, 64, 64) and images.abs().max() <= 1
    source, classes = discriminator(images)
    assert source.shape == (6,) and classes.shape == (6, n_classes)
    assert not torch.equal(
        generator(z, torch.zeros(6, dtype=torch.long)), generator(z, torch.ones(6, dtype=torch.long))
    )


def test_tanh_output_saturates_within_bounds():
    generator = DCGANGenerator(100, 32)  # training mode: batch statistics
    with torch.no_grad():
        generator.upsample[-2].weight.mul_(1e3)  # the output convolution: push tanh into saturation
        images = generator(torch.rand(4, 100) * 2 - 1)
    assert images.min() >= -1 and images.max() <= 1 and images.abs().max() > 0.999


def test_acgan_discriminator_layout():
    discriminator = ACGANDiscriminator(3, width=16)
    convs = [m for m in discriminator.features if isinstance(m, nn.Conv2d)]
    assert [c.stride[0] for c in convs] == [2, 1, 2, 1, 2, 1]
    assert [c.kernel_size for c in convs] == [(3, 3)] * 6
    assert [c.out_channels for c in convs] == [16, 32, 64, 128, 256, 512]
    assert sum(isinstance(m, ThresholdDropout) for m in discriminator.features) == 6
    assert sum(isinstance(m, nn.BatchNorm2d) for m in discriminator.features) == 5


def test_initialisation_statistics():
    torch.manual_seed(0)
    generator, discriminator = DCGANGenerator(), DCGANDiscriminator()
    big = generator.upsample[0].weight  # 1024 x 512 x 5 x 5
    assert abs(big.std().item() - 0.02) < 2e-4 and abs(big.mean().item()) < 2e-4
    assert abs(generator.project[0].weight.std().item() - 0.02) < 2e-4
    assert abs(discriminator.features[2].weight.std().item() - 0.02) < 5e-4
    bn = generator.project[2]
    assert abs(bn.weight.mean().item() - 1) < 5e-3 and abs(bn.weight.std().item() - 0.02) < 5e-3
    assert torch.all(bn.bias == 0) and torch.all(discriminator.head.bias == 0)
    embed = ACGANGenerator(3).embed.weight  # left at N(0, 1) so z * embedding keeps z's scale
    assert 0.8 < embed.std().item() < 1.2


def test_generator_width_must_be_a_multiple_of_8():
    with pytest.raises(LiverkitError, match="multiple of 8"):
        DCGANGenerator(width=20)


def test_threshold_dropout_keeps_1_minus_p_scaled_and_is_seeded():
    x = torch.rand(64, 8, 32, 32).contiguous(memory_format=torch.channels_last) + 0.5  # no zeros
    dropout = ThresholdDropout(0.5)
    torch.manual_seed(1)
    a = dropout(x)
    torch.manual_seed(1)
    b = dropout(x)
    assert torch.equal(a, b) and a.is_contiguous(memory_format=torch.channels_last)
    kept = a != 0
    assert abs(kept.float().mean().item() - 0.5) < 0.01  # 524,288 draws: sd 0.0007
    assert torch.equal(a[kept], 2 * x[kept])
    assert torch.equal(dropout.eval()(x), x) and torch.equal(ThresholdDropout(0.0)(x), x)
    assert abs(ThresholdDropout(0.25).train()(x).mean().item() / x.mean().item() - 1) < 0.01
