"""Shapes, strides, gradients and trainability of the 2D pose networks (tiny configs, CPU)."""

from __future__ import annotations

import pytest
import torch

from handpose.models import MODEL_NAMES, NSRM, UNet, build_model
from handpose.models.complexity import count_flops, count_parameters, measure_latency
from handpose.models.mobilenetv2_pose import MobileNetV2Pose, make_divisible
from handpose.skeleton import NUM_JOINTS

#: Small configurations of every model: fast on two shared CPU cores.
TINY_CONFIGS: dict[str, dict] = {
    "mobilenetv2_pose": {"width_mult": 0.25, "head_channels": 16},
    "unet": {"base_channels": 4},
    "cpm": {"width_mult": 0.0625, "num_stages": 3},
    "nsrm": {"width_mult": 0.0625, "num_mask_stages": 2, "num_keypoint_stages": 2},
}
EXPECTED_STRIDES = {"mobilenetv2_pose": 4, "unet": 1, "cpm": 8, "nsrm": 8}
EXPECTED_STAGES = {"mobilenetv2_pose": 1, "unet": 1, "cpm": 3, "nsrm": 2}


pytestmark = pytest.mark.usefixtures("seeded_one_thread_torch")


def test_every_model_has_a_tiny_config() -> None:
    assert set(TINY_CONFIGS) == set(MODEL_NAMES)
    assert MODEL_NAMES[0] == "mobilenetv2_pose"


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("size", [(64, 64), (64, 96)])
def test_output_shapes_and_stride(name: str, size: tuple[int, int]) -> None:
    model = build_model(name, **TINY_CONFIGS[name])
    assert model.stride == EXPECTED_STRIDES[name]
    assert isinstance(model.stride, int) and model.num_joints == NUM_JOINTS
    out = model(torch.randn(2, 3, *size))
    expected = (2, NUM_JOINTS, size[0] // model.stride, size[1] // model.stride)
    assert out["heatmaps"].shape == expected
    assert len(out["stages"]) == EXPECTED_STAGES[name]
    assert all(stage.shape == expected for stage in out["stages"])
    assert out["stages"][-1] is out["heatmaps"]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_gradients_reach_the_first_layer(name: str) -> None:
    model = build_model(name, **TINY_CONFIGS[name])
    out = model(torch.randn(2, 3, 64, 64))
    loss = sum(stage.square().mean() for stage in out["stages"])
    if "limb_masks" in out:
        loss = loss + sum(mask.mean() for mask in out["limb_masks"])
    loss.backward()
    first = next(p for p in model.parameters() if p.dim() == 4)
    assert first.grad is not None and first.grad.abs().sum() > 0
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert not unused, f"parameters outside the graph: {unused}"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_channels_last_layout_gives_the_same_heatmaps(name: str) -> None:
    """build_model lays weights out channels-last for speed; the layout must not change results."""
    model = build_model(name, **TINY_CONFIGS[name]).eval()
    first = next(p for p in model.parameters() if p.dim() == 4)
    assert first.is_contiguous(memory_format=torch.channels_last)
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        fast = model(images)["heatmaps"]
        plain = model.to(memory_format=torch.contiguous_format)(images)["heatmaps"]
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-5)


def test_num_joints_is_configurable() -> None:
    model = build_model("mobilenetv2_pose", num_joints=5, **TINY_CONFIGS["mobilenetv2_pose"])
    assert model(torch.randn(1, 3, 64, 64))["heatmaps"].shape == (1, 5, 16, 16)


@pytest.mark.parametrize("mask_channels", [1, 7])
def test_nsrm_limb_masks(mask_channels: int) -> None:
    model = NSRM(mask_channels=mask_channels, num_mask_stages=3, num_keypoint_stages=2,
                 width_mult=0.0625)
    out = model(torch.randn(2, 3, 64, 64))
    assert len(out["limb_masks"]) == 3
    for masks in out["limb_masks"]:
        assert masks.shape == (2, mask_channels, 8, 8)
        assert masks.min() >= 0 and masks.max() <= 1
    assert len(out["stages"]) == 2


def test_nsrm_rejects_unknown_mask_composition() -> None:
    with pytest.raises(ValueError, match="mask_channels"):
        NSRM(mask_channels=6, width_mult=0.0625)


def test_nsrm_keypoints_depend_on_the_masks() -> None:
    """The last mask stage must feed the keypoint stages (structure regularisation)."""
    model = NSRM(width_mult=0.0625, num_mask_stages=2, num_keypoint_stages=2).eval()
    images = torch.randn(1, 3, 64, 64)
    reference = model(images)["heatmaps"]
    with torch.no_grad():
        model.mask_stages[-1][-1].bias.add_(5.0)
    assert not torch.allclose(model(images)["heatmaps"], reference)


@pytest.mark.parametrize("upsampling", ["bilinear", "transposed"])
def test_unet_outputs_probabilities_at_full_resolution(upsampling: str) -> None:
    model = UNet(base_channels=4, upsampling=upsampling)
    heatmaps = model(torch.randn(2, 3, 64, 64) * 10)["heatmaps"]
    assert heatmaps.shape == (2, NUM_JOINTS, 64, 64)
    assert heatmaps.min() >= 0 and heatmaps.max() <= 1


def test_unet_defaults_follow_the_freihand_reference() -> None:
    model = UNet()
    assert model.input_size == 128
    assert [block[0].out_channels for block in model.down] == [16, 32, 64, 128]


def test_mobilenetv2_width_one_is_the_standard_network() -> None:
    backbone = MobileNetV2Pose(width_mult=1.0).backbone
    assert backbone.stem[0].out_channels == 32
    assert len(backbone.blocks) == 17
    assert backbone.channels_at_stride == {2: 16, 4: 24, 8: 32, 16: 96, 32: 320}
    assert make_divisible(32 * 0.35) == 16 and make_divisible(24 * 0.5) == 16


def test_mobilenetv2_starts_at_the_background_value() -> None:
    model = MobileNetV2Pose(width_mult=0.25, head_channels=16).eval()
    heatmaps = model(torch.randn(2, 3, 64, 64))["heatmaps"]
    assert heatmaps.abs().max() < 0.05


def test_mobilenetv2_head_starts_as_bilinear_upsampling() -> None:
    upsample = MobileNetV2Pose(width_mult=0.25, head_channels=16).head[0].upsample[0]
    x = torch.randn(1, upsample.in_channels, 6, 6)
    expected = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear")
    # Equal away from the border, where the transposed conv sees zero padding.
    assert torch.allclose(upsample(x)[..., 1:-1, 1:-1], expected[..., 1:-1, 1:-1], atol=1e-5)


def test_build_model_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        build_model("hourglass")


def test_tiny_mobilenetv2_overfits_one_batch() -> None:
    """The head trains: two synthetic targets are fitted to a small fraction of the start loss."""
    model = MobileNetV2Pose(width_mult=0.25, head_channels=64)
    images = torch.randn(2, 3, 64, 64)
    grid = torch.arange(16.0)
    centres = torch.randint(2, 14, (2, NUM_JOINTS, 2)).float()
    targets = torch.exp(
        -((grid[None, None, None, :] - centres[..., 0, None, None]) ** 2
          + (grid[None, None, :, None] - centres[..., 1, None, None]) ** 2) / (2 * 1.5**2)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(50):
        loss = (model(images)["heatmaps"] - targets).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10


def test_complexity_figures() -> None:
    model = build_model("mobilenetv2_pose", **TINY_CONFIGS["mobilenetv2_pose"])
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    assert 0 < count_parameters(model, trainable_only=True) < count_parameters(model)
    flops_64 = count_flops(model, 64)
    assert flops_64 > 0
    # Fully convolutional: FLOPs scale with the pixel count.
    assert count_flops(model, (128, 128)) == pytest.approx(4 * flops_64, rel=0.01)
    model.train()
    threads = torch.get_num_threads()
    assert measure_latency(model, 64, threads=2, repeats=3, warmup=1) > 0
    assert model.training and torch.get_num_threads() == threads


def test_count_flops_of_a_single_conv() -> None:
    conv = torch.nn.Conv2d(3, 8, kernel_size=3, padding=1, bias=False)
    # 2 FLOPs per multiply-add: 8 outputs x 27 inputs x 16x16 positions.
    assert count_flops(conv, 16) == 2 * 8 * 27 * 16 * 16
