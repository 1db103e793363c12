"""Plain PyTorch models: pretrained backbones, recurrent temporal heads, the composed video classifier.

- preprocessing.py: `Preprocessing`, the resize, crop, mean and std a backbone's weights expect.
- backbones.py: the registry of pretrained image CNNs and `create_backbone(name, ...)`, which
  returns a `Backbone` (frames [N,3,h,w] -> features [N,D], frozen or trainable).
- temporal_heads.py: `RecurrentHead` (RNN / LSTM / GRU, many-to-one), the `MeanPoolHead`
  baseline, `build_temporal_head` and `HEAD_DEFAULTS`, the one place the head's defaults live.
- video_classifier.py: `VideoClassifier`, backbone then head: frames [B,T,3,h,w] -> logits [B,C].

Nothing here imports the data pipeline or Lightning. The names below are imported on first use, so
that `models.preprocessing` alone stays free of torch: the decoding child (pipeline/data/readers/
isolated.py) unpickles a `Preprocessing` and would otherwise load torch and its 500+ MB for nothing.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Backbone": "models.backbones",
    "BackboneWeightsError": "models.backbones",
    "available_backbones": "models.backbones",
    "create_backbone": "models.backbones",
    "create_imagenet_model": "models.backbones",
    "imagenet_preprocessing": "models.backbones",
    "Preprocessing": "models.preprocessing",
    "MeanPoolHead": "models.temporal_heads",
    "RecurrentHead": "models.temporal_heads",
    "build_temporal_head": "models.temporal_heads",
    "VideoClassifier": "models.video_classifier",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_EXPORTS))
