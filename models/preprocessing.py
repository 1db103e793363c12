"""The input a backbone expects: resize, centre crop, interpolation, mean and std.

A backbone's weights carry this spec; the pipeline applies it, and checkpoints store it so
training and inference can never disagree.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Dict, Optional, Tuple


@dataclass(frozen=True)
class Preprocessing:
    """Frames are resized so their shorter side is `resize_size`, centre-cropped to a
    `crop_size` square, scaled to [0, 1] and normalised with `mean` and `std` (RGB)."""

    resize_size: int
    crop_size: int
    mean: Tuple[float, float, float]
    std: Tuple[float, float, float]
    interpolation: str = "bilinear"

    def with_input_size(self, crop_size: Optional[int]) -> Preprocessing:
        """The same recipe at another input size, keeping the resize/crop ratio."""
        if crop_size is None or crop_size == self.crop_size:
            return self
        if crop_size < 16:
            raise ValueError(f"input_size must be at least 16 pixels, got {crop_size}")
        resize = int(round(crop_size * self.resize_size / self.crop_size))
        return replace(self, resize_size=resize, crop_size=crop_size)

    def to_dict(self) -> Dict[str, Any]:
        """Plain values, as a checkpoint stores them."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> Preprocessing:
        """The inverse of `to_dict` (lists become tuples; interpolation defaults to bilinear)."""
        return cls(
            resize_size=int(data["resize_size"]),
            crop_size=int(data["crop_size"]),
            mean=tuple(float(v) for v in data["mean"]),
            std=tuple(float(v) for v in data["std"]),
            interpolation=str(data.get("interpolation", "bilinear")),
        )
