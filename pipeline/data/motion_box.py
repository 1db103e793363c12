"""Where a video moves: the square window that the "motion" frame fit crops each of its frames to.

A small actor in a wide static or hand-held shot covers a few percent of the frame: fitted whole to
the CNN's input it is a handful of pixels, and the ImageNet centre crop may cut it off. The "motion"
fit finds, once per video, the region that moves relative to the camera and crops every frame of that
video to a square around it:

1. `PROBE_PAIRS` pairs of frames `PAIR_SECONDS` apart, spread evenly over the video, decoded small
   (`PROBE_WIDTH` pixels wide) and in grey;
2. for each pair, dense optical flow (Farneback) minus the camera's own motion: a similarity
   transform (shift, rotation, zoom) fitted to the flow with RANSAC, so that pan and shake cancel and
   what moves in the scene is left;
3. that residual motion averaged over the pairs, its floor removed; the window spans the central
   `1 - 2 * TAIL` of what remains along x and along y, grown by `MARGIN`, made square, at least
   `MIN_FRACTION` of the frame's shorter side and at most all of it, moved inside the frame.

Where nothing moves (a still video, fewer frames than one pair needs), the window is the centred
square of the shorter side. The window depends only on the file, never on the clip sampled, so
training, the feature cache and inference crop a video alike. It is kept as fractions of the frame's
width and height, so frames decoded at any size crop to the same picture (transforms.cut_motion_box
resamples it at sub-pixel positions). Decoders that count a different number of frames (one more at
the end of some AVIs) place the pairs a frame apart, which can move the window. Changing what it finds
means bumping `FIT_VERSIONS["motion"]` (models/preprocessing.py), which refills feature caches.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import cv2
import numpy as np

PROBE_PAIRS = 16
PAIR_SECONDS = 0.08  # two frames at 25 fps: limbs move a few pixels, the camera little
PROBE_WIDTH = 160
MARGIN = 1.6  # the moving parts (limbs) span less than the body; the margin brings the rest in
MIN_FRACTION = 0.5  # of the shorter side: never zoom in more than 2x on a few moving pixels
TAIL = 0.03
_FLOW_WINDOW = 15  # Farneback's averaging window, pixels at PROBE_WIDTH
_FLOW_FLOOR = 0.5  # pixels per pair (at PROBE_WIDTH) below which residual motion is noise


@dataclass(frozen=True)
class MotionBox:
    """A square window as fractions of the frame: `left`, `width` of its width; `top`, `height` of its
    height (width * frame width == height * frame height, the square's side in pixels)."""

    left: float
    top: float
    width: float
    height: float

    @classmethod
    def centred(cls, height: int, width: int) -> MotionBox:
        """The centred square of the shorter side of a `height` x `width` frame."""
        side = min(height, width)
        return cls((width - side) / 2 / width, (height - side) / 2 / height, side / width, side / height)

    def pixels(self, height: int, width: int) -> Tuple[int, int, int]:
        """(top, left, side) in a `height` x `width` frame, inside it."""
        side = max(1, min(height, width, int(round(min(self.width * width, self.height * height)))))
        top = min(max(0, int(round(self.top * height))), height - side)
        left = min(max(0, int(round(self.left * width))), width - side)
        return top, left, side


def _probe_size(height: int, width: int) -> Tuple[int, int]:
    if width <= PROBE_WIDTH:
        return height, width
    return max(1, int(round(height * PROBE_WIDTH / width))), PROBE_WIDTH


class ProbeFrames:
    """A picklable reader transform: frames at most `PROBE_WIDTH` wide, grey, uint8 [T,h,w]. It has no
    `scaled_size` on purpose: every decoder hands it full frames and this one resampler shrinks them,
    because the flow reacts to the small differences between decoders' scalers."""

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        out = []
        for frame in frames:
            h, w = _probe_size(*frame.shape[:2])
            if (h, w) != frame.shape[:2]:
                frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
            out.append(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
        return np.stack(out) if out else np.empty((0, 1, 1), dtype=np.uint8)


def probe_pairs(num_frames: int, fps: float) -> np.ndarray:
    """int64 [P,2]: the (first, second) frame of each probed pair; empty when the video is too short."""
    gap = max(1, int(round((fps if fps > 0 else 25.0) * PAIR_SECONDS)))
    if num_frames <= gap:
        return np.empty((0, 2), dtype=np.int64)
    starts = np.linspace(0, num_frames - 1 - gap, min(PROBE_PAIRS, num_frames - gap)).round()
    starts = np.unique(starts).astype(np.int64)
    return np.stack([starts, starts + gap], axis=1)


def _residual_motion(first: np.ndarray, second: np.ndarray) -> Optional[np.ndarray]:
    """float32 [h,w]: how far each pixel moved between two grey frames beyond the camera's motion."""
    flow = cv2.calcOpticalFlowFarneback(first, second, None, 0.5, 3, _FLOW_WINDOW, 3, 5, 1.2, 0)
    h, w = first.shape
    step = max(2, min(h, w) // 24)
    ys, xs = np.mgrid[step // 2:h:step, step // 2:w:step]
    points = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
    if len(points) < 3:  # a frame a few pixels tall: no camera motion can be fitted
        return None
    moved = points + flow[ys.ravel(), xs.ravel()]
    camera, _ = cv2.estimateAffinePartial2D(points, moved, method=cv2.RANSAC, ransacReprojThreshold=1.0)
    if camera is None:
        return None
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    camera_dx = camera[0, 0] * grid_x + camera[0, 1] * grid_y + camera[0, 2] - grid_x
    camera_dy = camera[1, 0] * grid_x + camera[1, 1] * grid_y + camera[1, 2] - grid_y
    return np.hypot(flow[..., 0] - camera_dx, flow[..., 1] - camera_dy)


def _span(mass: np.ndarray) -> Tuple[float, float]:
    """The (start, end) index range holding the central 1 - 2 * TAIL of `mass` (1-D, sum > 0)."""
    cumulative = np.cumsum(mass) / mass.sum()
    return float(np.searchsorted(cumulative, TAIL)), float(np.searchsorted(cumulative, 1 - TAIL) + 1)


def find_motion_box(pairs: np.ndarray, height: int, width: int) -> MotionBox:
    """The window of a `height` x `width` video from its probed pairs, grey uint8 [P,2,h,w] at any
    size of the same aspect (see the module's docstring)."""
    energy: Optional[np.ndarray] = None
    used = 0
    for first, second in pairs:
        residual = _residual_motion(first, second)
        if residual is not None:
            energy = residual if energy is None else energy + residual
            used += 1
    if energy is None:
        return MotionBox.centred(height, width)
    energy = energy / used
    h, w = energy.shape
    border = _FLOW_WINDOW // 2 + 1  # flow near the frame's edge sees half a window, and the pan brings new picture in
    energy[:border], energy[-border:], energy[:, :border], energy[:, -border:] = 0, 0, 0, 0
    energy = np.clip(energy - max(_FLOW_FLOOR, 2 * float(np.median(energy))), 0, None)
    if energy.sum() <= 0:
        return MotionBox.centred(height, width)
    x0, x1 = _span(energy.sum(axis=0))
    y0, y1 = _span(energy.sum(axis=1))
    scale_x, scale_y = width / w, height / h
    shorter = min(height, width)
    side = max((x1 - x0) * scale_x, (y1 - y0) * scale_y) * MARGIN
    side = float(np.clip(side, MIN_FRACTION * shorter, shorter))
    centre_x, centre_y = (x0 + x1) / 2 * scale_x, (y0 + y1) / 2 * scale_y
    left = float(np.clip(centre_x - side / 2, 0, width - side))
    top = float(np.clip(centre_y - side / 2, 0, height - side))
    return MotionBox(left / width, top / height, side / width, side / height)


_FOUND: Dict[Tuple[str, int, int], MotionBox] = {}


def motion_box(reader: Any) -> MotionBox:
    """The window of the video open in `reader` (a `VideoReader`), probed once per file and process."""
    meta = reader.meta
    try:
        stat = os.stat(meta.path)
        key = (os.path.abspath(meta.path), stat.st_size, stat.st_mtime_ns)
    except OSError:
        key = None
    if key is not None and key in _FOUND:
        return _FOUND[key]
    pairs = probe_pairs(meta.num_frames, meta.fps)
    if len(pairs) == 0:
        box = MotionBox.centred(meta.height, meta.width)
    else:
        unique, inverse = np.unique(pairs, return_inverse=True)
        frames = reader.get_frames(unique.tolist(), ProbeFrames())
        box = find_motion_box(frames[inverse.reshape(-1)].reshape(len(pairs), 2, *frames.shape[1:]),
                              meta.height, meta.width)
    if key is not None:
        _FOUND[key] = box
    return box
