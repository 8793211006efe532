"""MixStyle: mixes feature statistics between a batch's crops while training, nothing otherwise."""

import pytest
import torch

from handpose.models.mix_style import MixStyle
from handpose.models.mobilenetv2_pose import MobileNetV2Pose


def test_it_mixes_the_statistics_and_keeps_the_content():
    torch.manual_seed(0)
    content = torch.randn(8, 4, 6, 6)
    styles = torch.arange(8.0)[:, None, None, None]
    x = content * (1 + styles) + 3 * styles  # each crop its own mean and spread
    out = MixStyle(1.0).train()(x)
    standardised = (x - x.mean((2, 3), keepdim=True)) / x.std((2, 3), keepdim=True)
    mixed = (out - out.mean((2, 3), keepdim=True)) / out.std((2, 3), keepdim=True)
    torch.testing.assert_close(mixed, standardised, atol=1e-4, rtol=1e-4)  # the content stays
    assert not torch.allclose(out.mean((2, 3)), x.mean((2, 3)), atol=1e-2)  # the styles move


def test_eval_mode_and_probability_zero_are_the_identity():
    x = torch.randn(4, 3, 5, 5)
    assert MixStyle(1.0).eval()(x) is x
    assert MixStyle(0.0).train()(x) is x


def test_bad_probability_is_named():
    with pytest.raises(ValueError, match="mix_style must be a probability"):
        MixStyle(1.5)


def test_the_network_with_mix_style_has_the_same_weights_and_eval_outputs():
    """No parameters: weights load either way, and in eval mode the outputs are the plain network's."""
    torch.manual_seed(0)
    plain = MobileNetV2Pose(width_mult=0.25, head_channels=24).eval()
    mixing = MobileNetV2Pose(width_mult=0.25, head_channels=24, mix_style=1.0)
    mixing.load_state_dict(plain.state_dict())
    images = torch.randn(4, 3, 64, 64)
    torch.testing.assert_close(mixing.eval()(images)["heatmaps"], plain(images)["heatmaps"])
    mixing.train()
    plain.train()
    assert not torch.allclose(mixing(images)["heatmaps"], plain(images)["heatmaps"])


def test_the_network_mixes_after_the_last_blocks_of_strides_4_and_8():
    backbone = MobileNetV2Pose(width_mult=0.25, mix_style=0.5).backbone
    assert sorted(backbone.stride_of_block[i] for i in backbone.mix_after) == [4, 8]
    assert all(backbone.stride_of_block[i + 1] > backbone.stride_of_block[i] for i in backbone.mix_after)
    with pytest.raises(ValueError, match="mix_style must be a probability"):
        MobileNetV2Pose(mix_style=-0.5)
