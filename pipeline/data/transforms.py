"""The backbone's own preprocessing, in two halves that share one spec (`Preprocessing`).

1. `resize_crop` (uint8, on the CPU, inside DataLoader workers): shorter side to `resize_size`,
   centre crop to `crop_size`. It makes clips from videos of any size stackable into one batch
   and keeps the tensors that cross to the device small.
2. `normalize` (float, on the device, for a whole batch): scale to [0, 1], subtract the mean,
   divide by the std, channels first.

Training, feature caching and inference all call these two functions and nothing else.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

from models.preprocessing import Preprocessing

_CV2_INTERPOLATION = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
}


def resize_crop(frames: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    """frames: uint8 [T,H,W,3] -> uint8 [T,crop,crop,3]."""
    t, h, w = frames.shape[:3]
    crop = preprocessing.crop_size
    scale = preprocessing.resize_size / min(h, w)
    new_h, new_w = max(crop, round(h * scale)), max(crop, round(w * scale))
    # Area averaging when shrinking plays the part of torchvision's antialiasing.
    interp = cv2.INTER_AREA if scale < 1 else _CV2_INTERPOLATION.get(preprocessing.interpolation, cv2.INTER_LINEAR)
    top, left = (new_h - crop) // 2, (new_w - crop) // 2
    out = np.empty((t, crop, crop, 3), dtype=np.uint8)
    for i in range(t):
        resized = frames[i] if (new_h, new_w) == (h, w) else cv2.resize(frames[i], (new_w, new_h), interpolation=interp)
        out[i] = resized[top:top + crop, left:left + crop]
    return out


def normalize(frames: torch.Tensor, preprocessing: Preprocessing) -> torch.Tensor:
    """frames: uint8 [...,h,w,3] on any device -> float [...,3,h,w] normalised, same device."""
    mean = torch.tensor(preprocessing.mean, device=frames.device, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(preprocessing.std, device=frames.device, dtype=torch.float32).view(3, 1, 1)
    x = frames.movedim(-1, -3).float().div_(255.0)
    return (x - mean) / std
