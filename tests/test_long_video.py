"""The hour of footage the event-cost benchmark runs on: long videos in turn, cut to a segment, the segment repeated
with its events shifted into place (pipeline/benchmarks/long_video.py)."""
from __future__ import annotations

import csv

import av
import pytest
from conftest import decode_index, index_frame

from pipeline.benchmarks.long_video import make_hour_video
from pipeline.demo import write_video


def test_the_hour_is_the_sources_in_turn_repeated_with_their_events(tmp_path):
    sources = tmp_path / "long"
    write_video(sources / "a.mp4", (index_frame(i) for i in range(40)), fps=10)
    write_video(sources / "b.mp4", (index_frame(100 + i) for i in range(40)), fps=10)
    events = sources / "events.csv"
    events.write_text("video,label,start,end,group\na.mp4,fight,1.0,2.0,a\nb.mp4,fight,1.0,1.5,b\n"
                      "b.mp4,fight,3.0,3.5,b\nb.mp4,,,,b\n")
    paths = make_hour_video(events, tmp_path / "hour", minutes=0.3, segment_seconds=6, size=(96, 64), fps=10)

    with av.open(str(paths["hour"])) as container:
        indices = [decode_index(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    segment = list(range(40)) + list(range(100, 120))  # a whole, then b until the segment's 6 s
    assert indices == segment * 3, "three copies of the segment, frame for frame"

    rows = list(csv.DictReader(open(paths["hour_events"])))
    assert {r["video"] for r in rows} == {"hour.mp4"} and {r["label"] for r in rows} == {"fight"}
    # b's second event starts after the segment ends: left out; the others move with b's place and each copy
    times = sorted(float(r[key]) for r in rows for key in ("start", "end"))
    expected = sorted(t + 6 * k for k in range(3) for t in (1.0, 2.0, 5.0, 5.5))
    assert times == pytest.approx(expected, abs=0.01)
    assert len(list(csv.DictReader(open(paths["segment_events"])))) == 2
    assert make_hour_video(events, tmp_path / "hour", minutes=0.3, segment_seconds=6, size=(96, 64),
                           fps=10) == paths, "kept and reused"
