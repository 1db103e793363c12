"""Where a video moves: the square window that the "motion" frame fit crops each of its frames to.

A small actor in a wide static or hand-held shot covers a few percent of the frame: fitted whole to
the CNN's input it is a handful of pixels, and the ImageNet centre crop may cut it off. The "motion"
fit finds, once per video, the region that moves relative to the camera and crops every frame of that
video to a square around it:

1. `PROBE_PAIRS` pairs of frames `PAIR_SECONDS` apart, spread evenly over the video, decoded small
   (`PROBE_WIDTH` pixels wide) and in grey;
2. for each pair, the camera's own motion (a similarity transform: shift, rotation, zoom) fitted with
   RANSAC to dense optical flow (Farneback), the first frame warped by it onto the second, and their
   absolute grey difference taken (both slightly blurred), where the unwarped frames differ too: pan
   and shake cancel, and so does what is fixed to the frame rather than the scene (letterbox bars,
   logos, scores); what moved in the scene is left. Version 2 read the camera's motion out of the
   flow itself, whose errors over textured backgrounds outweighed small actors: on the generated
   motion set over real-video backgrounds it missed more than half of the actor in 17% of clips, this
   one in 3% (scripts/window_coverage.py);
3. those differences averaged over the pairs, their floor (`DIFF_FLOOR` grey levels, or twice the
   median) removed; the window's side spans the central `1 - 2 * TAIL` of what remains along x and
   along y, grown by `MARGIN`, made square, at least `MIN_FRACTION` of the frame's shorter side and
   at most all of it; it is placed where it holds the most of that motion, inside the frame;
4. the same motion, blurred and scaled, is the video's focus map (`MotionBox.focus`), by which the
   "spotlight" fit fades what never moves toward the mean colour (transforms.cut_motion_box).

Where nothing moves (a still video, fewer frames than one pair needs), the window is the centred
square of the shorter side. The window depends only on the file, never on the clip sampled, so
training, the feature cache and inference crop a video alike. It is kept as fractions of the frame's
width and height, so frames decoded at any size crop to the same picture (transforms.cut_motion_box
resamples it at sub-pixel positions). Decoders that count a different number of frames (one more at
the end of some AVIs) place the pairs a frame apart, which can move the window. Changing what it finds
means bumping `MOTION_WINDOW_VERSION` (models/preprocessing.py), which refills feature caches.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
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
DIFF_FLOOR = 4.0  # grey levels (0-255) of aligned difference below which it is noise (sensor, compression)
_BLUR = 1.0  # Gaussian sigma, probe pixels: sub-pixel misalignment and noise weigh less
_BORDER = 2  # probe pixels at the frame's edge where the warp repeats the edge: no evidence there
FOCUS_BLUR = 0.08  # of the probe's shorter side: the focus map spreads from the moving parts to the body
FOCUS_FULL = 0.25  # of the map's peak: where motion reaches it, the spotlight keeps the picture whole


@dataclass(frozen=True)
class MotionBox:
    """A square window as fractions of the frame: `left`, `width` of its width; `top`, `height` of its
    height (width * frame width == height * frame height, the square's side in pixels)."""

    left: float
    top: float
    width: float
    height: float
    # uint8 [h,w] over the whole frame (any size of its aspect): 255 where the video moves, fading to 0
    # where it never does; what the "spotlight" fit dims the still scene by. None: nothing to dim.
    focus: Optional[np.ndarray] = field(default=None, compare=False, repr=False)

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


def _camera_motion(first: np.ndarray, second: np.ndarray) -> Optional[np.ndarray]:
    """float [2,3]: the similarity transform taking `first`'s pixels to `second`'s, fitted to the
    dense flow between the two grey frames; None where it cannot be fitted."""
    flow = cv2.calcOpticalFlowFarneback(first, second, None, 0.5, 3, _FLOW_WINDOW, 3, 5, 1.2, 0)
    h, w = first.shape
    step = max(2, min(h, w) // 24)
    ys, xs = np.mgrid[step // 2:h:step, step // 2:w:step]
    points = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
    if len(points) < 3:  # a frame a few pixels tall: no camera motion can be fitted
        return None
    moved = points + flow[ys.ravel(), xs.ravel()]
    camera, _ = cv2.estimateAffinePartial2D(points, moved, method=cv2.RANSAC, ransacReprojThreshold=1.0)
    return camera


def _residual_change(first: np.ndarray, second: np.ndarray) -> Optional[np.ndarray]:
    """float32 [h,w]: how much each pixel of `second` changed since `first` beyond the camera's motion
    (grey levels), or None where the camera's motion cannot be fitted."""
    camera = _camera_motion(first, second)
    if camera is None:
        return None
    h, w = first.shape
    before = cv2.GaussianBlur(first.astype(np.float32), (0, 0), _BLUR)
    after = cv2.GaussianBlur(second.astype(np.float32), (0, 0), _BLUR)
    aligned = cv2.warpAffine(before, camera, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # What is fixed to the frame, not the scene (letterbox bars, logos, scores, timestamps), does not
    # change without alignment: a pixel counts as changed only where it changed both ways.
    return np.minimum(np.abs(after - aligned), np.abs(after - before))


def _most_inside(energy: np.ndarray, side_h: int, side_w: int, near: Tuple[float, float]) -> Tuple[int, int]:
    """(top, left) of the `side_h` x `side_w` box holding the most `energy` (of those, the one nearest
    `near`, a (top, left) in the same pixels)."""
    h, w = energy.shape
    side_h, side_w = min(max(side_h, 1), h), min(max(side_w, 1), w)
    total = cv2.integral(energy.astype(np.float64))
    held = total[side_h:, side_w:] - total[:-side_h, side_w:] - total[side_h:, :-side_w] + total[:-side_h, :-side_w]
    tops, lefts = np.nonzero(held >= held.max() * (1 - 1e-6))
    best = np.argmin((tops - near[0]) ** 2 + (lefts - near[1]) ** 2)
    return int(tops[best]), int(lefts[best])


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
        change = _residual_change(first, second)
        if change is not None:
            energy = change if energy is None else energy + change
            used += 1
    if energy is None:
        return MotionBox.centred(height, width)
    energy = energy / used
    h, w = energy.shape
    b = _BORDER
    energy[:b], energy[-b:], energy[:, :b], energy[:, -b:] = 0, 0, 0, 0
    energy = np.clip(energy - max(DIFF_FLOOR, 2 * float(np.median(energy))), 0, None)
    if energy.sum() <= 0:
        return MotionBox.centred(height, width)
    x0, x1 = _span(energy.sum(axis=0))
    y0, y1 = _span(energy.sum(axis=1))
    scale_x, scale_y = width / w, height / h
    shorter = min(height, width)
    side = max((x1 - x0) * scale_x, (y1 - y0) * scale_y) * MARGIN
    side = float(np.clip(side, MIN_FRACTION * shorter, shorter))
    # Where motion lies in more than one place (a second mover, noise over texture), the span's centre
    # can fall between them; the square that holds the most motion does not.
    side_h, side_w = int(round(side / scale_y)), int(round(side / scale_x))
    top, left = _most_inside(energy, side_h, side_w, ((y0 + y1 - side_h) / 2, (x0 + x1 - side_w) / 2))
    left_px = float(np.clip(left * scale_x, 0, width - side))
    top_px = float(np.clip(top * scale_y, 0, height - side))
    return MotionBox(left_px / width, top_px / height, side / width, side / height, _focus_map(energy))


def _focus_map(energy: np.ndarray) -> np.ndarray:
    """uint8 [h,w]: `energy` (motion above its floor) blurred and scaled so that FOCUS_FULL of its peak
    and more reads 255."""
    blurred = cv2.GaussianBlur(energy.astype(np.float32), (0, 0), FOCUS_BLUR * min(energy.shape))
    level = FOCUS_FULL * float(blurred.max())
    return np.clip(np.round(blurred / level * 255), 0, 255).astype(np.uint8)


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
    box = probe_motion_box(reader)
    if key is not None:
        _FOUND[key] = box
    return box


def probe_motion_box(reader: Any) -> MotionBox:
    """The window of the video open in `reader`, probed now (`motion_box` remembers it)."""
    meta = reader.meta
    pairs = probe_pairs(meta.num_frames, meta.fps)
    if len(pairs) == 0:
        return MotionBox.centred(meta.height, meta.width)
    unique, inverse = np.unique(pairs, return_inverse=True)
    frames = reader.get_frames(unique.tolist(), ProbeFrames())
    return find_motion_box(frames[inverse.reshape(-1)].reshape(len(pairs), 2, *frames.shape[1:]),
                           meta.height, meta.width)
