"""Backbone precision: bf16 features stay close to fp32 ones on a real clip, channels_last changes nothing,
and the feature-cache key follows the precision (fp32 keys are those of earlier versions).

Documented tolerance for bf16 against fp32 (EfficientNet-Lite0, real frames): every frame's feature
vector within BF16_MAX_REL_L2 relative L2 distance and at least BF16_MIN_COSINE cosine similarity
(measured on basketball.mp4: at most 0.10 and at least 0.995 at 112 px; 0.065 and 0.998 at 224 px).
"""
from __future__ import annotations

import pytest
import torch

from models import create_backbone
from models.backbones import cpu_has_native_bf16, resolve_precision
from pipeline.data.readers import open_video
from pipeline.data.transforms import normalize, resize_crop

BF16_MAX_REL_L2 = 0.15
BF16_MIN_COSINE = 0.99


def _frames(video, backbone, indices):
    with open_video(video) as reader:
        raw = reader.get_frames(indices)
    return normalize(torch.from_numpy(resize_crop(raw, backbone.preprocessing)), backbone.preprocessing)


def test_bf16_features_agree_with_fp32_on_a_real_clip(real_videos):
    backbone = create_backbone("efficientnet_lite0", input_size=112, precision="fp32").eval()
    x = _frames(real_videos / "basketball.mp4", backbone, list(range(0, 320, 40)))
    fp32 = backbone(x)
    backbone.precision = "bf16"
    bf16 = backbone(x)
    assert bf16.dtype == torch.float32, "features come back as float32 whatever the precision"
    assert not torch.equal(bf16, fp32), "bf16 must really run in bf16"
    rel_l2 = (bf16 - fp32).norm(dim=1) / fp32.norm(dim=1)
    cosine = torch.nn.functional.cosine_similarity(bf16, fp32)
    assert float(rel_l2.max()) <= BF16_MAX_REL_L2
    assert float(cosine.min()) >= BF16_MIN_COSINE


def test_channels_last_gives_the_same_fp32_features(index_video):
    backbone = create_backbone("efficientnet_lite0", input_size=64, precision="fp32").eval()
    assert backbone.trunk.conv_stem.weight.is_contiguous(memory_format=torch.channels_last)
    x = _frames(index_video, backbone, list(range(0, 50, 7)))
    features = backbone(x)
    plain = backbone.trunk.to(memory_format=torch.contiguous_format)
    with torch.no_grad():
        reference = plain(x.contiguous())
    torch.testing.assert_close(features, reference, rtol=1e-4, atol=1e-4)


def test_fingerprint_follows_the_precision():
    backbone = create_backbone("efficientnet_lite0", weights="none", input_size=32, precision="fp32")
    fp32 = backbone.fingerprint()
    keys = {"fp32": fp32}
    for precision in ("bf16", "fp16"):
        backbone.precision = precision
        keys[precision] = backbone.fingerprint()
    assert len(set(keys.values())) == 3, "features of different precisions must not share a cache entry"
    backbone.precision = "auto"
    assert resolve_precision("auto", "cpu") == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert backbone.fingerprint("cpu") == keys[resolve_precision("auto", "cpu")], "auto is keyed as what it runs"
    assert backbone.fingerprint("cuda") == keys["fp16"], "the key follows the device the features are made on"
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        create_backbone("efficientnet_lite0", weights="none", input_size=32, precision="half")
