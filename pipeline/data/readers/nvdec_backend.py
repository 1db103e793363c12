"""The NVDEC backend: NVIDIA's hardware decoder through torchcodec's CUDA decoder (optional extra `gpu`).

Frames are decoded on the GPU into uint8 tensors. When the transform handed to `get_frames` says
the size it shrinks frames to (`scaled_size`, as `transforms.ResizeCrop` has; base.py's
`decode_size`), frames are resized there on the GPU (bilinear with antialiasing, in batches) and
only that size is copied back to the CPU, where the transform is left to crop.

Anything this reader cannot do raises `VideoReadError(kind="unreadable")`, so that
`read_with_fallback` hands the file to a CPU decoder: torchcodec missing, no CUDA device, a forked
DataLoader worker (CUDA cannot start there), a codec NVDEC refuses, or a file whose timestamps are
not presentation times (checked with PyAV's packet scan, so a file is demuxed twice on opening).

Why torchcodec rather than PyNvVideoCodec or DALI: its "exact" seek mode builds a frame index from
a demux scan, so frame i is the i-th frame in presentation order, the project's own definition, and
the same index code serves its CPU and CUDA decoders, so the indexing half of this reader is tested
on machines without a GPU (tests/test_nvdec.py). It returns torch tensors, needs no other Python
package and says when NVDEC refused a stream (`cpu_fallback`).

Not verified on a GPU when this was written (no GPU was available): the CUDA decode itself, the
`cpu_fallback` check, the pixel agreement of NVDEC's colour conversion with the CPU decoders, and
any speed. tests/test_nvdec.py runs those checks where CUDA and torchcodec are present.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from pipeline.data.readers.base import (
    PathLike,
    VideoReader,
    VideoReadError,
    decodable_count,
    timestamps_trustworthy,
)

RESIZE_BATCH = 32  # frames resized at once on the GPU: bounds the float copy of full-size frames


def _device(path: str, wanted: str) -> str:
    """`wanted` ("cuda" means this process's GPU), or an "unreadable" error saying why CUDA cannot be used."""
    import torch

    if not wanted.startswith("cuda"):
        return wanted  # "cpu": torchcodec's CPU decoder, used by the tests to check the indexing here
    if torch.cuda._is_in_bad_fork():
        raise VideoReadError(
            path, "nvdec cannot use CUDA in a forked process (a DataLoader worker); decode isolated instead"
        )
    if not torch.cuda.is_available():
        raise VideoReadError(path, "nvdec needs a CUDA GPU and torch sees none")
    if wanted == "cuda" and "LOCAL_RANK" in os.environ:  # one GPU per DDP rank (not checked on several GPUs)
        return f"cuda:{int(os.environ['LOCAL_RANK']) % torch.cuda.device_count()}"
    return wanted


def _video_decoder_class(path: str) -> Any:
    try:
        from torchcodec.decoders import VideoDecoder
    except Exception as exc:  # not installed, or its FFmpeg libraries are missing
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise VideoReadError(
            path, f'nvdec needs torchcodec (pip install -e ".[gpu]") and it does not import: {message}'
        ) from exc
    return VideoDecoder


def torchcodec_importable() -> bool:
    """Whether torchcodec (the `gpu` extra) imports here; says nothing about CUDA or NVDEC."""
    try:
        _video_decoder_class("")
    except VideoReadError:
        return False
    return True


class NvdecReader(VideoReader):
    """torchcodec's CUDA decoder (NVDEC), exact seeking, optional resize on the GPU before the copy back."""

    name = "nvdec"
    resizes = True  # to `decode_size`, on the GPU after decoding
    device = "cuda"  # a subclass with "cpu" runs the same code on torchcodec's CPU decoder

    def __init__(self, path: PathLike) -> None:
        super().__init__(path)
        self._decoder = None
        device = _device(self.path, self.device)
        VideoDecoder = _video_decoder_class(self.path)
        try:
            self._decoder = VideoDecoder(
                self.path, device=device, dimension_order="NHWC", seek_mode="exact", num_ffmpeg_threads=1
            )
        except Exception as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            kind = "no_video_stream" if "video stream" in message.lower() else "unreadable"
            raise VideoReadError(self.path, f"nvdec (torchcodec) cannot open it: {message}", kind) from exc
        if device.startswith("cuda") and self._decoder.cpu_fallback:
            raise VideoReadError(self.path, f"NVDEC refuses this stream: {self._decoder.cpu_fallback}")
        if not timestamps_trustworthy(self.path):
            # exact seeking finds frame i by the i-th smallest pts, which is another picture in such files
            raise VideoReadError(self.path, "nvdec seeks by timestamp and this file's are not presentation times")
        metadata = self._decoder.metadata
        fps = metadata.average_fps_from_header or metadata.average_fps  # the header's, as the other backends
        count = decodable_count(len(self._decoder), self._decodes)  # a damaged tail has packets that do not decode
        self._meta = self._make_meta(count, fps, metadata.width, metadata.height, metadata.num_frames_from_header)

    def _decodes(self, index: int) -> bool:
        try:
            self._decoder.get_frame_at(index)
            return True
        except Exception:
            return False

    def _read_sorted(self, indices: list[int]) -> np.ndarray:
        frames = self._decoder.get_frames_at(indices).data  # uint8 [T,H,W,3] on the decoder's device
        if self.decode_size is not None:  # set by get_frames for a transform that shrinks frames
            frames = _resize(frames, self.decode_size)
        return frames.cpu().numpy()

    def close(self) -> None:
        self._decoder = None


def _resize(frames: Any, size: tuple[int, int]) -> Any:
    """uint8 [T,H,W,3] tensor -> uint8 [T,h,w,3] on the same device, bilinear with antialiasing."""
    import torch
    import torch.nn.functional as F

    out = torch.empty((frames.shape[0], *size, 3), dtype=torch.uint8, device=frames.device)
    for start in range(0, frames.shape[0], RESIZE_BATCH):
        chunk = frames[start : start + RESIZE_BATCH].permute(0, 3, 1, 2).float()
        chunk = F.interpolate(chunk, size=size, mode="bilinear", antialias=True, align_corners=False)
        out[start : start + RESIZE_BATCH] = chunk.round_().clamp_(0, 255).permute(0, 2, 3, 1).to(torch.uint8)
    return out
