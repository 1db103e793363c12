"""Plain PyTorch models: pretrained backbones, recurrent temporal heads, the composed recognizer.

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
