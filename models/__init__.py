"""Plain PyTorch models: pretrained backbones, recurrent temporal heads, the composed recognizer.

- preprocessing.py: `Preprocessing`, the resize, crop, mean and std a backbone's weights expect.
- backbones.py: the registry of pretrained image CNNs and `create_backbone(name, ...)`, which
  returns a `Backbone` (frames [N,3,h,w] -> features [N,D], frozen or trainable).
- temporal_heads.py: `RecurrentHead` (RNN / LSTM / GRU, many-to-one), the `MeanPoolHead`
  baseline, `build_temporal_head` and `HEAD_DEFAULTS`, the one place the head's defaults live.
- recognizer.py: `VideoRecognizer`, backbone then head: frames [B,T,3,h,w] -> logits [B,C].

Nothing here imports the data pipeline or Lightning.
"""
from models.backbones import (
    Backbone,
    BackboneWeightsError,
    available_backbones,
    create_backbone,
    create_imagenet_model,
    imagenet_preprocessing,
)
from models.preprocessing import Preprocessing
from models.recognizer import VideoRecognizer
from models.temporal_heads import MeanPoolHead, RecurrentHead, build_temporal_head

__all__ = [
    "Backbone",
    "BackboneWeightsError",
    "MeanPoolHead",
    "Preprocessing",
    "RecurrentHead",
    "VideoRecognizer",
    "available_backbones",
    "build_temporal_head",
    "create_backbone",
    "create_imagenet_model",
    "imagenet_preprocessing",
]
