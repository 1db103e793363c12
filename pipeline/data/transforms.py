"""The backbone's own preprocessing, in two halves that share one spec (`Preprocessing`).

1. `resize_crop` (uint8, on the CPU, inside DataLoader workers and decoding children, numpy and OpenCV
   only): shorter side to `resize_size`,
   centre crop to `crop_size` (or the whole frame, padded or stretched to the square; or the square
   window where the video moves, `motion_box.py`: the preprocessing's `fit`). It makes clips from
   videos of any size stackable into one batch and keeps the tensors that cross to the device small.
   `ResizeCrop` is the same as a picklable callable that also says (`scaled_size`) what size it
   shrinks frames to, so that a reader can have the decoder output that size and skip the
   full-resolution RGB frame.
2. `normalize` (float, on the device, for a whole batch): scale to [0, 1], subtract the mean,
   divide by the std, channels first.

With the motion stream (`Preprocessing.rgb_diff`), `difference_image` makes each fitted frame's
difference from the fitted frame before it into one more uint8 picture, mid-grey where nothing moved;
`with_previous` says which frames that needs.

Training, feature caching and inference all call these two functions and nothing else.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Optional, Tuple

import cv2
import numpy as np

from models.preprocessing import WINDOW_FITS, Preprocessing
from pipeline.data.motion_box import MotionBox, motion_box

if TYPE_CHECKING:
    import torch

_CV2_INTERPOLATION = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
}


def scaled_size(height: int, width: int, preprocessing: Preprocessing,
                box: Optional[MotionBox] = None) -> Tuple[int, int]:
    """(new_h, new_w): a `height` x `width` frame's size after `resize_crop`'s resize, before its crop or
    pad (for the window fits, "motion" and "spotlight": the size at which `box`'s side is about
    `crop_size`, never larger than the frame)."""
    crop = preprocessing.crop_size
    if preprocessing.fit in WINDOW_FITS:
        side = (box or MotionBox.centred(height, width)).pixels(height, width)[2]
        if side <= crop * 1.05:  # already about the size (and so stable when asked again at it)
            return height, width
        scale = crop / side
        return max(1, int(np.ceil(height * scale))), max(1, int(np.ceil(width * scale)))
    if preprocessing.fit == "stretch":
        return crop, crop
    if preprocessing.fit == "pad":
        scale = crop / max(height, width)
        return max(1, min(crop, round(height * scale))), max(1, min(crop, round(width * scale)))
    scale = preprocessing.resize_size / min(height, width)
    return max(crop, round(height * scale)), max(crop, round(width * scale))


def cut_motion_box(frames: np.ndarray, preprocessing: Preprocessing,
                   box: Optional[MotionBox]) -> Tuple[np.ndarray, Preprocessing]:
    """For the window fits ("motion", "spotlight"): each frame's `box` (default: its centred square) as a
    `crop_size` square, and the recipe that leaves it as it is (the spotlight also fades what never moves).
    Other fits: the frames and recipe as given.

    Frames larger than `scaled_size` are first shrunk to it (area averaging), as a decoder that
    resizes delivers them; the window is then resampled at its exact, fractional place (bilinear), so
    frames decoded at full size and at the smaller size give the same picture."""
    if preprocessing.fit not in WINDOW_FITS:
        return frames, preprocessing
    t, h, w = frames.shape[:3]
    box = box or MotionBox.centred(h, w)
    target_h, target_w = scaled_size(h, w, preprocessing, box)
    if (target_h, target_w) != (h, w):
        frames = np.stack([cv2.resize(f, (target_w, target_h), interpolation=cv2.INTER_AREA) for f in frames])
        h, w = target_h, target_w
    crop = preprocessing.crop_size
    to_input = _window_matrix(box, h, w, crop)
    window = np.empty((t, crop, crop, 3), dtype=np.uint8)
    for i in range(t):
        window[i] = cv2.warpAffine(frames[i], to_input, (crop, crop), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_REPLICATE)
    if preprocessing.fit == "spotlight" and box.focus is not None:
        window = _spotlight(window, box, preprocessing)
    return window, replace(preprocessing, fit="crop", resize_size=crop)


def _window_matrix(box: MotionBox, height: int, width: int, crop: int) -> np.ndarray:
    """float32 [2,3]: output pixel -> pixel of a `height` x `width` picture, for `box` cut to a `crop` square."""
    step_x, step_y = box.width * width / crop, box.height * height / crop  # input pixels per output pixel
    # Output pixel u (centre u + 0.5) samples the input at left + (u + 0.5) * step, in pixel-centre terms.
    return np.float32([[step_x, 0, box.left * width + 0.5 * step_x - 0.5],
                       [0, step_y, box.top * height + 0.5 * step_y - 0.5]])


def _spotlight(window: np.ndarray, box: MotionBox, preprocessing: Preprocessing) -> np.ndarray:
    """uint8 [T,crop,crop,3]: the window with each pixel drawn toward the mean colour as much as the
    video's focus map (`box.focus`, a whole-frame map at any size) says it is still."""
    crop = window.shape[1]
    focus = box.focus.astype(np.float32) / 255.0
    weight = cv2.warpAffine(focus, _window_matrix(box, *focus.shape, crop), (crop, crop),
                            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    weight = weight[None, :, :, None]
    mean = _pad_colour(preprocessing).astype(np.float32)
    return np.clip(window * weight + mean * (1.0 - weight) + 0.5, 0, 255).astype(np.uint8)


def _pad_colour(preprocessing: Preprocessing) -> np.ndarray:
    """The mean colour as uint8 RGB: padding that normalises to (about) zero."""
    return np.clip(np.round(np.asarray(preprocessing.mean) * 255), 0, 255).astype(np.uint8)


def resize_crop(frames: np.ndarray, preprocessing: Preprocessing, box: Optional[MotionBox] = None) -> np.ndarray:
    """frames: uint8 [T,H,W,3] -> uint8 [T,crop,crop,3] (resized, then centre-cropped or padded; for the
    window fits "motion" and "spotlight", `box` cut first)."""
    frames, preprocessing = cut_motion_box(frames, preprocessing, box)
    t, h, w = frames.shape[:3]
    crop = preprocessing.crop_size
    new_h, new_w = scaled_size(h, w, preprocessing)
    # Area averaging when shrinking plays the part of torchvision's antialiasing.
    shrink = preprocessing.resize_size < min(h, w) if preprocessing.fit == "crop" else new_h * new_w < h * w
    interp = cv2.INTER_AREA if shrink else _CV2_INTERPOLATION.get(preprocessing.interpolation, cv2.INTER_LINEAR)
    out = np.empty((t, crop, crop, 3), dtype=np.uint8)
    if preprocessing.fit == "pad":
        out[:] = _pad_colour(preprocessing)
    pad_top, pad_left = (crop - new_h) // 2, (crop - new_w) // 2
    top, left = (new_h - crop) // 2, (new_w - crop) // 2
    for i in range(t):
        resized = frames[i] if (new_h, new_w) == (h, w) else cv2.resize(frames[i], (new_w, new_h), interpolation=interp)
        if preprocessing.fit == "pad":
            out[i, pad_top:pad_top + new_h, pad_left:pad_left + new_w] = resized
        else:
            out[i] = resized[top:top + crop, left:left + crop]
    return out


class ResizeCrop:
    """`resize_crop` with its spec bound: a picklable frame transform that knows its resize size.

    Readers call `scaled_size` to have the decoder output frames at that size; frames that arrive
    at that size are only cropped. For the window fits ("motion", "spotlight"), `for_video` binds the video's window.
    """

    def __init__(self, preprocessing: Preprocessing, box: Optional[MotionBox] = None) -> None:
        self.preprocessing = preprocessing
        self.box = box

    def for_video(self, reader: Any) -> ResizeCrop:
        """This transform for the video open in `reader`: with its motion window under a window fit
        ("motion", "spotlight")."""
        if self.preprocessing.fit not in WINDOW_FITS:
            return self
        return ResizeCrop(self.preprocessing, motion_box(reader))

    def scaled_size(self, height: int, width: int) -> Tuple[int, int]:
        """(new_h, new_w) a `height` x `width` frame is resized to before the centre crop."""
        return scaled_size(height, width, self.preprocessing, self.box)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """frames: uint8 [T,H,W,3] -> uint8 [T,crop,crop,3]."""
        return resize_crop(frames, self.preprocessing, self.box)

    def __repr__(self) -> str:
        return f"ResizeCrop({self.preprocessing!r}, box={self.box!r})"


RGB_DIFF_GAIN = 2  # the motion stream's contrast: a change of 64 levels already reaches black or white


def difference_image(current: Any, previous: Any) -> Any:
    """uint8 frames [...,h,w,3] (numpy or torch) and the frames just before them -> uint8 pictures of the
    change, 128 + RGB_DIFF_GAIN x (current - previous), clipped: the motion stream's input (TSN's RGB
    difference), mid-grey where nothing changed."""
    if isinstance(current, np.ndarray):
        change = current.astype(np.int16) - np.asarray(previous).astype(np.int16)
        return np.clip(128 + RGB_DIFF_GAIN * change, 0, 255).astype(np.uint8)
    import torch

    change = current.to(torch.int16) - previous.to(torch.int16)
    return (128 + RGB_DIFF_GAIN * change).clamp_(0, 255).to(torch.uint8)


def previous_indices(indices: np.ndarray) -> np.ndarray:
    """The frame before each frame index (frame 0 is its own: no change), same shape."""
    return np.maximum(np.asarray(indices, dtype=np.int64) - 1, 0)


def with_previous(indices: np.ndarray) -> np.ndarray:
    """The sorted distinct frames that `indices` and the frames before them need (the motion stream)."""
    return np.unique(np.concatenate([np.ravel(indices), np.ravel(previous_indices(indices))]))


def normalize(frames: torch.Tensor, preprocessing: Preprocessing) -> torch.Tensor:
    """frames: uint8 [...,h,w,3] on any device -> float [...,3,h,w] normalised, same device."""
    import torch  # here, not at the top: the decoding child resizes with this module and stays torch-free

    mean = torch.tensor(preprocessing.mean, device=frames.device, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(preprocessing.std, device=frames.device, dtype=torch.float32).view(3, 1, 1)
    x = frames.movedim(-1, -3).float().div_(255.0)
    return (x - mean) / std
