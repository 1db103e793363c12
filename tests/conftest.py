"""Shared test fixtures: small real H.264 videos whose frames encode their own index."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.data.readers.fallbacks import stop_recording_fallbacks
from pipeline.demo.video_writer import write_video

REAL_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-videos"

INDEX_GRID = 4  # 4x4 blocks -> 16 bits of frame index


def index_frame(index: int, height: int = 64, width: int = 96) -> np.ndarray:
    """A uint8 [H,W,3] frame whose 4x4 block pattern spells `index` in binary.

    The left 64x64 square carries the bits; the rest is a colour ramp that changes
    with the index so neighbouring frames also differ in content.
    """
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    block = height // INDEX_GRID
    for bit in range(INDEX_GRID * INDEX_GRID):
        if (index >> bit) & 1:
            r, c = divmod(bit, INDEX_GRID)
            frame[r * block:(r + 1) * block, c * block:(c + 1) * block] = 255
    frame[:, INDEX_GRID * block:, 0] = (index * 7) % 256
    frame[:, INDEX_GRID * block:, 2] = np.linspace(0, 255, width - INDEX_GRID * block, dtype=np.uint8)
    return frame


def decode_index(frame: np.ndarray) -> int:
    """Read back the index written by `index_frame` (robust to compression noise)."""
    height = frame.shape[0]
    block = height // INDEX_GRID
    value = 0
    for bit in range(INDEX_GRID * INDEX_GRID):
        r, c = divmod(bit, INDEX_GRID)
        patch = frame[r * block + 2:(r + 1) * block - 2, c * block + 2:(c + 1) * block - 2]
        if patch.mean() > 128:
            value |= 1 << bit
    return value


def make_index_video(path: Path, num_frames: int, fps: float = 25.0, height: int = 64, width: int = 96) -> Path:
    """Encode an H.264 mp4 (with B-frames) whose frame i shows the number i."""
    return write_video(path, (index_frame(i, height, width) for i in range(num_frames)), fps=fps)


def faststart_copy(source: Path, target: Path) -> Path:
    """The same H.264 packets with the mp4 index (moov) first, as phones and web encoders write."""
    with av.open(str(source)) as src, av.open(str(target), "w", options={"movflags": "faststart"}) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    return target


def frames_pyav_decodes(path: Path) -> int:
    """Frames PyAV's own decode loop yields before a damaged file stops it: the honest count."""
    count = 0
    try:
        with av.open(str(path)) as container:
            for _ in container.decode(video=0):
                count += 1
    except av.error.FFmpegError:
        pass
    return count


@pytest.fixture(autouse=True)
def fresh_fallback_log():
    """Each test starts with no run list of decoder fallbacks and says its first fallback again."""
    stop_recording_fallbacks()
    yield
    stop_recording_fallbacks()


@pytest.fixture(scope="session")
def index_video(tmp_path_factory) -> Path:
    """A 50-frame, 25 fps H.264 mp4 whose frames carry their own index."""
    return make_index_video(tmp_path_factory.mktemp("videos") / "index.mp4", 50)


@pytest.fixture
def real_videos() -> Path:
    """The shared folder of third-party clips; the test is skipped when it is absent."""
    if not REAL_VIDEOS.is_dir():
        pytest.skip("../shared/data/real-videos is not present (a user's fresh clone lacks it)")
    return REAL_VIDEOS
