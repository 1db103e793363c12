"""The NVDEC backend (torchcodec's CUDA decoder): frame-exact like the others, and a file it cannot
read goes to a CPU decoder.

Three levels, so that each machine runs what it can:
- everywhere: without CUDA or torchcodec, asking for nvdec gives an "unreadable" error and
  `read_with_fallback` reads the file with a CPU decoder;
- where torchcodec imports: the reader's own logic (exact indices, honest counts, refusing files whose
  timestamps are not presentation times, resizing to the transform's `scaled_size`) on torchcodec's
  CPU decoder, which shares the CUDA decoder's frame index;
- where a CUDA GPU is present as well (marked `gpu`): the same checks on NVDEC itself, and its pixels
  against PyAV's.
"""
from __future__ import annotations

import logging
import sys

import av
import cv2
import numpy as np
import pytest
import torch
from conftest import decode_index, frames_pyav_decodes
from test_video_reader import write_index_avi, write_index_mp4

from pipeline.data.readers import (
    VideoMeta,
    VideoReadError,
    available_backends,
    nvdec_backend,
    open_video,
    read_with_fallback,
)
from pipeline.data.readers.nvdec_backend import NvdecReader

NVDEC = "pipeline.data.readers.nvdec_backend:NvdecReader"
HAVE_TORCHCODEC = nvdec_backend.torchcodec_importable()
HAVE_CUDA = torch.cuda.is_available()


class CpuNvdecReader(NvdecReader):
    """The nvdec reader on torchcodec's CPU decoder: its indexing, counting and resizing, without a GPU."""

    device = "cpu"


DEVICES = [
    pytest.param("cpu", marks=pytest.mark.skipif(not HAVE_TORCHCODEC, reason="torchcodec is not installed")),
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.gpu,
            pytest.mark.skipif(not (HAVE_TORCHCODEC and HAVE_CUDA), reason="needs torchcodec and a CUDA GPU"),
        ],
    ),
]


@pytest.fixture(params=DEVICES)
def reader_class(request) -> type[NvdecReader]:
    return CpuNvdecReader if request.param == "cpu" else NvdecReader


@pytest.fixture(scope="module")
def gop_video(tmp_path_factory):
    """120 index frames, a keyframe every 12 and B-frames, so the seeking paths run."""
    return write_index_mp4(tmp_path_factory.mktemp("nvdec") / "gop.mp4", 120)


# -- everywhere: the absent GPU decoder is a clear error, and the file is read by a CPU decoder --------


def _without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def _without_torchcodec(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "_is_in_bad_fork", lambda: False)
    monkeypatch.setitem(sys.modules, "torchcodec", None)  # `import torchcodec...` now raises ImportError
    monkeypatch.setitem(sys.modules, "torchcodec.decoders", None)


@pytest.mark.parametrize("missing, says", [(_without_cuda, "CUDA GPU"), (_without_torchcodec, '".[gpu]"')])
def test_missing_gpu_decoder_is_unreadable_and_a_cpu_decoder_reads_the_file(
    index_video, monkeypatch, caplog, missing, says
):
    missing(monkeypatch)
    with pytest.raises(VideoReadError) as err:
        NvdecReader(index_video)
    assert err.value.kind == "unreadable" and err.value.path == str(index_video) and says in err.value.reason
    with caplog.at_level(logging.WARNING):
        used, got = read_with_fallback(
            index_video, NVDEC, lambda r: (r.meta.backend, [decode_index(f) for f in r.get_frames([49, 0, 7])]),
            isolated=False,
        )
    assert (used, got) == (available_backends()[0], [49, 0, 7])
    assert says in caplog.text and f"read with {used} instead" in caplog.text


@pytest.mark.skipif(HAVE_TORCHCODEC and HAVE_CUDA, reason="this machine can decode with NVDEC")
def test_isolated_fallback_on_a_machine_without_the_gpu_decoder(index_video):
    """The real path of a run here: the decoding child finds no CUDA or no torchcodec, a CPU decoder reads."""
    used, got = read_with_fallback(index_video, NVDEC, lambda r: (r.meta.backend, decode_index(r.get_frames([9])[0])))
    assert (used, got) == (available_backends()[0], 9)


# -- where torchcodec imports (CPU decoder) and where a GPU is present (NVDEC) -------------------------


def test_index_video_frames_are_exact(index_video, reader_class):
    requests = [[0], [49], [0, 1, 2, 3], [49, 0, 25, 3, 3, 17], list(range(50)), [40, 41, 5, 5, 49, 0], []]
    with reader_class(index_video) as reader:
        assert reader.meta == VideoMeta(str(index_video), 50, 25.0, 2.0, 96, 64, "nvdec", 50)
        for request in requests:
            frames = reader.get_frames(request)
            assert frames.dtype == np.uint8 and frames.shape == (len(request), 64, 96, 3)
            assert [decode_index(f) for f in frames] == request


def test_seeking_across_keyframes_is_exact(gop_video, reader_class):
    with reader_class(gop_video) as reader:
        assert reader.meta.num_frames == 120
        for request in ([119, 3, 60, 61, 100, 12, 11, 13], [0, 50, 119], [118, 24, 5]):
            assert [decode_index(f) for f in reader.get_frames(request)] == request
        chunks = list(reader.iter_frames(range(0, 120, 7), chunk_size=4))
        assert [decode_index(f) for f in np.concatenate(chunks)] == list(range(0, 120, 7))


def test_b_frame_avi_is_refused_and_read_by_a_cpu_decoder(tmp_path, reader_class):
    """AVI keeps no presentation times: seeking by timestamp would return other pictures (torchcodec's
    exact mode does), so the reader refuses the file and the fallback reads it forward, exactly."""
    path = write_index_avi(tmp_path / "bframes.avi", 60)
    with pytest.raises(VideoReadError) as err:
        reader_class(path)
    assert err.value.kind == "unreadable" and "presentation times" in err.value.reason
    request = [59, 3, 30, 31, 0, 12, 11, 45, 3]
    name = f"{__name__}:CpuNvdecReader" if reader_class is CpuNvdecReader else NVDEC
    used, got = read_with_fallback(
        path, name, lambda r: (r.meta.backend, [decode_index(f) for f in r.get_frames(request)]), isolated=False
    )
    assert (used, got) == (available_backends()[0], request)


def test_truncated_mp4_counts_only_frames_that_decode(tmp_path, reader_class):
    full = write_index_mp4(tmp_path / "full.mp4", 80, faststart=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    try:
        reader = reader_class(cut)
    except VideoReadError as err:  # refusing is honest too; the CPU decoders then take the file
        assert err.kind == "unreadable"
        return
    with reader:
        n = reader.meta.num_frames
        assert 0 < n < 80 and n == frames_pyav_decodes(cut)
        assert [decode_index(f) for f in reader.get_frames([n - 1, 0, n // 2])] == [n - 1, 0, n // 2]


def test_text_audio_and_missing_files(tmp_path, reader_class):
    text, tone = tmp_path / "text.mp4", tmp_path / "tone.wav"
    text.write_text("this is not a video\n" * 50)
    with av.open(str(tone), mode="w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    for path, kind in ((text, "unreadable"), (tone, "no_video_stream"), (tmp_path / "missing.mp4", "not_found")):
        with pytest.raises(VideoReadError) as err:
            reader_class(path)
        assert (err.value.kind, err.value.path) == (kind, str(path))


class ShrinkThenCrop:
    """Like ResizeCrop: says the size it shrinks frames to (shorter side 32) and then crops them."""

    def scaled_size(self, height: int, width: int) -> tuple[int, int]:
        scale = 32 / min(height, width)
        return round(height * scale), round(width * scale)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        self.given = frames.shape
        size = self.scaled_size(*frames.shape[1:3])
        if frames.shape[1:3] != size:  # a reader that does not resize hands over full-size frames
            frames = np.stack([cv2.resize(f, size[::-1], interpolation=cv2.INTER_AREA) for f in frames])
        return frames[:, :, :40]


def test_frames_are_scaled_on_the_decoder_device_before_the_copy(gop_video, reader_class):
    request = [5, 100, 5, 61]
    transform = ShrinkThenCrop()
    with reader_class(gop_video) as reader:
        small = reader.get_frames(request, transform)
        full = reader.get_frames(request)
    assert transform.given == (3, 32, 48, 3)  # the distinct frames, already at scaled_size
    assert small.shape == (4, 32, 40, 3) and [decode_index(f) for f in small] == request
    # the documented filter: bilinear with antialiasing, as torch computes it from the full-size frames
    full = torch.from_numpy(full).permute(0, 3, 1, 2).float()
    shrunk = torch.nn.functional.interpolate(full, size=(32, 48), mode="bilinear", antialias=True)
    expected = shrunk.round().clamp(0, 255).permute(0, 2, 3, 1)[:, :, :40].numpy()
    assert np.abs(small - expected).max() <= 1
    # and the same picture as the CPU path's area averaging (hard synthetic edges at 2x: about 3 on
    # average; 0.3-1 on real clips shrunk 2.8-5x)
    cpu = ShrinkThenCrop()(full.permute(0, 2, 3, 1).to(torch.uint8).numpy()).astype(np.int16)
    assert np.abs(small.astype(np.int16) - cpu).mean() < 4


@pytest.mark.gpu
@pytest.mark.skipif(not (HAVE_TORCHCODEC and HAVE_CUDA), reason="needs torchcodec and a CUDA GPU")
def test_nvdec_pixels_agree_with_pyav(gop_video):
    request = [0, 7, 36, 37, 90, 119]
    with NvdecReader(gop_video) as reader, open_video(gop_video, "pyav") as cpu:
        diff = np.abs(reader.get_frames(request).astype(np.int16) - cpu.get_frames(request).astype(np.int16))
    assert diff.mean() < 3.0
