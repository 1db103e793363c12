"""Progress counted in frames: plain lines for a log file, with an estimate of what is left."""
from __future__ import annotations

import io

from pipeline.console import FrameProgress


def test_plain_lines_count_frames_and_estimate_the_rest():
    out = io.StringIO()  # not a terminal
    progress = FrameProgress(4, "extracting frame features", stream=out, every_s=0.0)
    progress.start_video(100)
    progress.advance(60)
    progress.advance(40, video_done=True)
    progress.start_video(300)  # a long video: the estimate follows the frames seen, not the video count
    progress.advance(150)
    progress.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()
    assert lines[0].startswith("extracting frame features: 0/4 videos, 60/~400 frames")
    assert lines[-1].startswith("extracting frame features: 1/4 videos, 250/~800 frames")
    assert "left" in lines[-1]


def test_lines_are_spaced_in_time():
    out = io.StringIO()
    progress = FrameProgress(2, "x", stream=out, every_s=3600.0)
    progress.start_video(10)
    for _ in range(10):
        progress.advance(1)
    progress.close()
    assert len(out.getvalue().splitlines()) == 1  # only the closing line within the hour
