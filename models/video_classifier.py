"""The composed many-to-one video classifier: a per-frame backbone followed by a temporal head."""
from __future__ import annotations

import torch
from torch import nn

from models.backbones import Backbone


class VideoClassifier(nn.Module):
    """Backbone per frame, then a temporal head over the sequence: frames [B,T,3,h,w] -> logits [B,C]."""

    def __init__(self, backbone: Backbone, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """frames: float [B,T,3,h,w], normalised -> features [B,T,D]."""
        b, t = frames.shape[:2]
        return self.backbone(frames.flatten(0, 1)).view(b, t, -1)

    def classify_features(self, features: torch.Tensor) -> torch.Tensor:
        """features [B,T,D] -> logits [B,C]."""
        return self.head(features)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames: float [B,T,3,h,w], normalised -> logits [B,C]."""
        return self.classify_features(self.embed(frames))
