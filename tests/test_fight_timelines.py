"""Joined fight timelines (pipeline/benchmarks/fight_timelines.py) from a tiny fake fight-detection set."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Dict, List

import av
import pytest
from conftest import decode_index, index_frame

from pipeline.benchmarks.fight_timelines import build_fight_timelines, parse_source_time, parse_videos_txt
from pipeline.demo.video_writer import write_video

SIZE = (96, 64)
# name -> (first index its frames show, frames, fps, scale): every frame of every clip shows its own number
CLIPS = {
    "fi001": (100, 5, 25, 1), "fi002": (200, 4, 25, 1), "fi003": (300, 6, 25, 2),
    "nofi001": (400, 3, 25, 1), "nofi002": (500, 4, 25, 1), "nofi003": (600, 3, 12.5, 1),
    "nofi004": (700, 3, 25, 1), "nofi005": (800, 2, 25, 1),
}
# The real list's forms: CRLF, a URL with a trailing space, m.ss.ff and m.s.ff times, a clip under two
# sources (nofi002: joins B and C), a named range without times, and a line that is none of these.
VIDEOS_TXT = "\r\n".join([
    "https://www.youtube.com/watch?v=AAA ",
    "fi002: 0.20.00 - 0.22.00",
    "nofi001: 0.05.00 - 0.07.00",
    "fi001: 1.0.18 - 1.02.18",
    "https://www.youtube.com/watch?v=BBB",
    "fi003: 0.30.00 - 0.32.00",
    "nofi002: 0.10.00 - 0.12.00",
    "https://www.youtube.com/watch?v=CCC",
    "nofi003: 0.01.00 - 0.03.00",
    "nofi002: 0.40.00 - 0.42.00",
    "",
    "nofi004 - nofi005 : Some Dataset",
    "see the README",
]) + "\r\n"


def _make_dataset(root: Path) -> Path:
    for name, (first, frames, fps, scale) in CLIPS.items():
        folder = root / ("noFight" if name.startswith("nofi") else "fight")
        folder.mkdir(parents=True, exist_ok=True)
        h, w = SIZE[1] * scale, SIZE[0] * scale
        write_video(folder / f"{name}.mp4", (index_frame(first + i, h, w) for i in range(frames)), fps=fps)
    (root / "videos.txt").write_bytes(VIDEOS_TXT.encode())
    return root


def _indices(path: Path) -> List[int]:
    with av.open(str(path)) as container:
        return [decode_index(frame.to_ndarray(format="rgb24")) for frame in container.decode(video=0)]


def _rows(path: Path) -> List[Dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _clip(name: str) -> List[int]:
    first, frames = CLIPS[name][:2]
    return list(range(first, first + frames))


def test_source_times_and_lines() -> None:
    assert parse_source_time("0.13.50") == pytest.approx(13.5)
    assert parse_source_time("1.0.18") == pytest.approx(60.18)
    assert parse_source_time("11.01.40") == pytest.approx(661.4)
    assert parse_source_time("0.0.50") == pytest.approx(0.5)
    assert parse_source_time("0:13") is None and parse_source_time("0.75.00") is None
    sources, notes = parse_videos_txt(VIDEOS_TXT)
    assert [s.name for s in sources] == ["https://www.youtube.com/watch?v=AAA", "https://www.youtube.com/watch?v=BBB",
                                         "https://www.youtube.com/watch?v=CCC", "Some Dataset"]
    assert [c.source_start for c in sources[3].clips] == [None, None]
    assert len(notes) == 1 and "see the README" in notes[0]


def test_joined_timelines(tmp_path: Path) -> None:
    dataset, out = _make_dataset(tmp_path / "set"), tmp_path / "out"
    counts = build_fight_timelines(dataset, out, size=SIZE)
    assert (counts["videos"], counts["events"], counts["event_free"], counts["written"]) == (3, 3, 1, 3)
    assert any("see the README" in note for note in counts["notes"])
    assert any("nofi003" in note and "resampled" in note for note in counts["notes"])

    # Clips in the order of their times in the source, every frame of each, one after the other.
    assert _indices(out / "videos/s00.mp4") == _clip("nofi001") + _clip("fi002") + _clip("fi001")
    # B and C share nofi002: one video, B's clips by time, then C's new one (12.5 fps: each frame twice;
    # fi003, at twice the size, scaled down to fit).
    repeated = [i for i in _clip("nofi003") for _ in range(2)]
    assert _indices(out / "videos/s01.mp4") == _clip("nofi002") + _clip("fi003") + repeated
    assert _indices(out / "videos/s02.mp4") == _clip("nofi004") + _clip("nofi005")

    events = _rows(out / "events.csv")
    assert [(e["video"], e["label"], e["start"], e["end"], e["group"]) for e in events] == [
        ("videos/s00.mp4", "fight", f"{3 / 25:.3f}", f"{7 / 25:.3f}", "s00"),  # after nofi001's 3 frames
        ("videos/s00.mp4", "fight", f"{7 / 25:.3f}", f"{12 / 25:.3f}", "s00"),
        ("videos/s01.mp4", "fight", f"{4 / 25:.3f}", f"{10 / 25:.3f}", "s01"),
        ("videos/s02.mp4", "", "", "", "s02"),
    ]
    # An event starts on the first frame of its clip: the sum of the clips' frames before it.
    s00 = _indices(out / "videos/s00.mp4")
    assert s00[round(float(events[0]["start"]) * 25)] == CLIPS["fi002"][0]
    assert s00[round(float(events[1]["start"]) * 25)] == CLIPS["fi001"][0]
    sources = {r["clip"]: r for r in _rows(out / "sources.csv")}
    assert sources["fi001"]["source_start"] == "60.180" and sources["nofi002"]["group"] == "s01"
    assert sources["nofi003"]["source"].endswith("CCC") and sources["nofi002"]["source"].endswith("BBB")

    # Idempotent: nothing rewritten; a changed clip list rewrites that video only.
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "videos").iterdir()}
    again = build_fight_timelines(dataset, out, size=SIZE)
    assert (again["written"], again["kept"]) == (0, 3)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "videos").iterdir()} == stamps
    assert _rows(out / "events.csv") == events
    (dataset / "videos.txt").write_text(VIDEOS_TXT.replace("nofi001: 0.05.00 - 0.07.00\r\n", ""))
    changed = build_fight_timelines(dataset, out, size=SIZE)
    assert (changed["written"], changed["kept"]) == (2, 2)  # s00 without nofi001, and nofi001 (now unlisted)
    assert _indices(out / "videos/s00.mp4") == _clip("fi002") + _clip("fi001")  # on its own, after the others
    assert _indices(out / "videos/s03.mp4") == _clip("nofi001")


def test_touching_fight_clips_are_one_fight():
    from pipeline.benchmarks.fight_timelines import merge_touching

    events = [("a.mp4", "fight", "0.000", "2.400", "s0"), ("a.mp4", "fight", "2.400", "4.800", "s0"),
              ("a.mp4", "fight", "7.000", "9.000", "s0"), ("b.mp4", "fight", "9.000", "10.000", "s1"),
              ("c.mp4", "", "", "", "s2")]
    assert merge_touching(events) == [("a.mp4", "fight", "0.000", "4.800", "s0"),
                                      ("a.mp4", "fight", "7.000", "9.000", "s0"),
                                      ("b.mp4", "fight", "9.000", "10.000", "s1"), ("c.mp4", "", "", "", "s2")]
