"""Spatial views: fixed, deterministic variants of a decoded frame, the augmentation that survives the
feature cache.

A frozen backbone's features are cached once per video, so random crops drawn anew each epoch are
impossible there; instead each frame is embedded under a few fixed views and training draws one view
per clip per epoch (`data.cache_views`). A view is cut from the decoded uint8 frame BEFORE the
preprocessing's fit (crop, pad or stretch; under the window fits "motion" and "spotlight", from the
video's motion window), so it means the same picture under every fit:

    plain   the frame as it is (what validation, test and inference always see)
    flip    mirrored left-right
    zoom    the centre 80% of the frame (height and width)
    left    the left 80% of the frame's width, full height
    right   the right 80% of the frame's width, full height

Views are cut from the frame as the decoder delivers it, which is the size the plain view is decoded to
(the preprocessing's resize size, where the decoder resizes), so `plain` is exactly today's frame and
the cropping views are upsampled by at most 1 / 0.8.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from models.preprocessing import WINDOW_FITS, Preprocessing
from pipeline.data.motion_box import MotionBox, motion_box
from pipeline.data.transforms import cut_motion_box, resize_crop, scaled_size

PLAIN = "plain"
DEFAULT_VIEWS: Tuple[str, ...] = (PLAIN,)  # the one place the default of `data.cache_views` lives
VIEW_FRACTION = 0.8  # the share of the frame's side that zoom, left and right keep


def _keep(size: int) -> int:
    return max(1, int(round(size * VIEW_FRACTION)))


def _plain(frames: np.ndarray) -> np.ndarray:
    return frames


def _flip(frames: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frames[:, :, ::-1])


def _zoom(frames: np.ndarray) -> np.ndarray:
    h, w = frames.shape[1:3]
    top, left = (h - _keep(h)) // 2, (w - _keep(w)) // 2
    return np.ascontiguousarray(frames[:, top:top + _keep(h), left:left + _keep(w)])


def _left(frames: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frames[:, :, :_keep(frames.shape[2])])


def _right(frames: np.ndarray) -> np.ndarray:
    w = frames.shape[2]
    return np.ascontiguousarray(frames[:, :, w - _keep(w):])


VIEWS: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    PLAIN: _plain,
    "flip": _flip,
    "zoom": _zoom,
    "left": _left,
    "right": _right,
}


def check_views(views: Sequence[str]) -> Tuple[str, ...]:
    """`views` as a tuple of distinct known names, in their order; a ValueError names what is wrong."""
    if isinstance(views, str):
        views = [views]
    names = tuple(dict.fromkeys(str(v) for v in views))
    unknown = [v for v in names if v not in VIEWS]
    if unknown or not names:
        problem = f"unknown view {', '.join(map(repr, unknown))}" if unknown else "no view given"
        raise ValueError(f"cache_views: {problem}; choose among {', '.join(VIEWS)}")
    return names


def apply_view(frames: np.ndarray, view: str) -> np.ndarray:
    """frames: uint8 [T,H,W,3] -> the `view` of each, uint8 [T,h,w,3] (before any resize)."""
    return VIEWS[view](frames)


class ViewsResizeCrop:
    """Each of `views` of each frame, fitted by the preprocessing: uint8 [T,H,W,3] -> uint8 [T,V,c,c,3].

    A picklable frame transform for the readers: its `scaled_size` is the plain view's, so frames are
    decoded once, at the size the plain view needs, and every view is cut from them.
    """

    def __init__(self, preprocessing: Preprocessing, views: Sequence[str] = DEFAULT_VIEWS,
                 box: Optional[MotionBox] = None) -> None:
        self.preprocessing = preprocessing
        self.views = check_views(views)
        self.box = box

    def for_video(self, reader: Any) -> ViewsResizeCrop:
        """This transform for the video open in `reader`: with its motion window under a window fit
        ("motion", "spotlight")."""
        if self.preprocessing.fit not in WINDOW_FITS:
            return self
        return ViewsResizeCrop(self.preprocessing, self.views, motion_box(reader))

    def scaled_size(self, height: int, width: int) -> Tuple[int, int]:
        """(new_h, new_w) the decoder may deliver a `height` x `width` frame at (the plain view's)."""
        return scaled_size(height, width, self.preprocessing, self.box)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """frames: uint8 [T,H,W,3] -> uint8 [T,V,c,c,3]."""
        frames, preprocessing = cut_motion_box(frames, self.preprocessing, self.box)
        return np.stack([resize_crop(apply_view(frames, view), preprocessing) for view in self.views], axis=1)

    def __repr__(self) -> str:
        return f"ViewsResizeCrop({self.preprocessing!r}, views={self.views!r}, box={self.box!r})"
