"""Any CNN-like timm model by name ("timm/<model>"), with its pretrained config's preprocessing, weights from
the local cache or a file and never downloaded unless allowed; tested offline without pretrained weights."""
from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from models.backbones import BackboneWeightsError, create_backbone
from pipeline.core.checkpoints import load_classifier_module
from pipeline.core.module import VideoClassifierModule

pytest.importorskip("timm")
SMALL = "timm/mobilenetv3_small_050"


def test_a_timm_model_by_name_embeds_frames_with_its_own_preprocessing():
    backbone = create_backbone(SMALL, weights="none", input_size=64, precision="fp32").eval()
    # timm's pretrained config of this model: 224 px at crop_pct 0.875, bicubic, ImageNet mean/std.
    assert backbone.preprocessing.crop_size == 64 and backbone.preprocessing.interpolation == "bicubic"
    assert create_backbone(SMALL, weights="none").preprocessing.resize_size == 256
    with torch.no_grad():
        features = backbone(torch.randn(3, 3, 64, 64))
    assert features.shape == (3, backbone.feature_dim) and backbone.feature_dim == 288
    grid = create_backbone(SMALL, weights="none", input_size=64, grid=2, precision="fp32")
    assert grid.feature_dim == 4 * 288, "the spatial grid works on timm feature maps too"


def test_timm_weights_are_never_downloaded_unless_allowed(tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(BackboneWeightsError, match="not in the local Hugging Face cache"):
        create_backbone(SMALL, weights="default")
    with pytest.raises(ValueError, match="unknown timm model"):
        create_backbone("timm/no_such_model_xyz", weights="none")
    # A local weights file is used as it is (here: the weights of a randomly initialised copy).
    source = create_backbone(SMALL, weights="none", precision="fp32")
    path = tmp_path / "weights.pt"
    torch.save(source.trunk.body.state_dict(), path)
    loaded = create_backbone(SMALL, weights=str(path), precision="fp32")
    pairs = zip(source.trunk.state_dict().values(), loaded.trunk.state_dict().values())
    assert all(torch.equal(a, b) for a, b in pairs)


def test_a_timm_checkpoint_is_read_back_without_config(tmp_path):
    model = VideoClassifierModule(class_names=["a", "b"], backbone=SMALL, weights="none", input_size=64, hidden_size=16)
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "timm.ckpt")
    loaded = load_classifier_module(str(tmp_path / "timm.ckpt")).eval()
    frames = torch.randint(0, 255, (1, 1, 4, 64, 64, 3), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.allclose(loaded.video_probabilities({"frames": frames}),
                              model.eval().video_probabilities({"frames": frames}), atol=1e-5)


def test_the_backbone_choice_rows_name_each_model_against_the_default():
    from pipeline.benchmarks.backbones import backbone_choice_rows

    rows = backbone_choice_rows([SMALL], [32], torch.device("cpu"), repeats=1)
    assert [r["what"].split()[0] for r in rows] == ["efficientnet_lite0", SMALL]
    assert rows[0]["vs_baseline"] == 1.0 and rows[1]["vs_baseline"] == rows[1]["rate"] / rows[0]["rate"]
    assert "288 features" in rows[1]["what"] and all(r["rate"] > 0 and r["unit"] == "frames/s" for r in rows)
