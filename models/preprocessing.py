"""The input a backbone expects: resize, centre crop (or the whole frame, or where it moves), interpolation,
mean and std.

A backbone's weights carry this spec; the pipeline applies it, and checkpoints store it so
training and inference can never disagree.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Dict, Optional, Tuple

FRAME_FITS = ("crop", "pad", "stretch", "motion", "spotlight")
WINDOW_FITS = ("motion", "spotlight")  # the fits that cut each video's motion window (pipeline/data/motion_box.py)
# Bumped when what a fit does changes (the motion window's algorithm: pipeline/data/motion_box.py), so
# that feature caches keyed on the backbone's fingerprint are refilled rather than reused.
MOTION_WINDOW_VERSION = 3
FIT_VERSIONS = {"motion": MOTION_WINDOW_VERSION, "spotlight": f"{MOTION_WINDOW_VERSION}.1"}
FRAME_FIT_DEFAULT = "crop"  # the one place the default lives (docs/accuracy.md says why not "motion")


@dataclass(frozen=True)
class Preprocessing:
    """How a frame becomes the backbone's `crop_size` square, then scaled to [0, 1] and normalised
    with `mean` and `std` (RGB). `fit`:

    - "crop": the shorter side resized to `resize_size`, the centre `crop_size` square kept (the
      ImageNet recipe; it cuts the frame's sides, about 15% each of a 4:3 frame, more of a 16:9 one);
    - "pad": the whole frame, its longer side resized to `crop_size`, centred on a square of the mean
      colour (zero once normalised);
    - "stretch": the whole frame resized to the square, its aspect ratio not kept;
    - "motion": the square window of each video where it moves (found once per video from optical
      flow, the camera's own motion taken out: `pipeline/data/motion_box.py`), resized to the square;
    - "spotlight": the motion window, with what never moves in it faded toward the mean colour (the
      video's motion map, blurred: a static scene behind a small actor weighs less in the features).

    `rgb_diff`: the backbone also sees each frame's difference from the video's previous frame (the
    motion stream, TSN's RGB difference: pipeline/data/transforms.py `difference_image`), fitted the
    same way, and its features go beside the frame's; so every clip frame needs the frame before it.
    """

    resize_size: int
    crop_size: int
    mean: Tuple[float, float, float]
    std: Tuple[float, float, float]
    interpolation: str = "bilinear"
    fit: str = FRAME_FIT_DEFAULT
    # Not in the repr, which keys the feature cache (Backbone.fingerprint): the motion stream's features
    # are cached beside the frames' own, which stay the same entries.
    rgb_diff: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self.fit not in FRAME_FITS:
            raise ValueError(f"unknown frame fit {self.fit!r}; choose one of {', '.join(FRAME_FITS)}")

    def with_input_size(self, crop_size: Optional[int]) -> Preprocessing:
        """The same recipe at another input size, keeping the resize/crop ratio."""
        if crop_size is None or crop_size == self.crop_size:
            return self
        if crop_size < 16:
            raise ValueError(f"input_size must be at least 16 pixels, got {crop_size}")
        resize = int(round(crop_size * self.resize_size / self.crop_size))
        return replace(self, resize_size=resize, crop_size=crop_size)

    def with_fit(self, fit: str) -> Preprocessing:
        """The same recipe fitting frames by `fit` (one of `FRAME_FITS`)."""
        return replace(self, fit=fit)

    def with_rgb_diff(self, rgb_diff: bool) -> Preprocessing:
        """The same recipe, with or without the motion stream (each frame's difference from the one before)."""
        return replace(self, rgb_diff=bool(rgb_diff))

    def to_dict(self) -> Dict[str, Any]:
        """Plain values, as a checkpoint stores them ("fit" only when it is not the default crop and
        "rgb_diff" only when set, so that what earlier versions wrote and read stays the same;
        "fit_version" for a versioned fit)."""
        data = asdict(self)
        if self.fit == FRAME_FIT_DEFAULT:
            del data["fit"]
        if not self.rgb_diff:
            del data["rgb_diff"]
        if self.fit in FIT_VERSIONS:
            data["fit_version"] = str(FIT_VERSIONS[self.fit])
        return data

    @staticmethod
    def stale_fit(data: Dict[str, Any]) -> Optional[str]:
        """For a stored `to_dict`: why frames are now fitted otherwise than when it was written (a fit
        whose algorithm changed since), or None."""
        fit = data.get("fit", FRAME_FIT_DEFAULT)
        if fit not in FIT_VERSIONS:
            return None
        stored, current = data.get("fit_version"), str(FIT_VERSIONS[fit])
        if stored == current:
            return None
        return (f"frames were fitted by the {fit!r} fit's version {stored or 'before 3'}, this version fits them "
                f"by version {current} (README \"Motion window\"): the model sees somewhat different pictures "
                f"than it was trained on; evaluate it again, or train again, before trusting its figures")

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> Preprocessing:
        """The inverse of `to_dict` (lists become tuples; interpolation defaults to bilinear)."""
        return cls(
            resize_size=int(data["resize_size"]),
            crop_size=int(data["crop_size"]),
            mean=tuple(float(v) for v in data["mean"]),
            std=tuple(float(v) for v in data["std"]),
            interpolation=str(data.get("interpolation", "bilinear")),
            fit=str(data.get("fit", FRAME_FIT_DEFAULT)),
            rgb_diff=bool(data.get("rgb_diff", False)),
        )
