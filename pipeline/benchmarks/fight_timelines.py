"""Long footage with real event times, rebuilt from the cut clips of the fight-detection-surv-dataset.

The public set (seymanurakti/fight-detection-surv-dataset: `fight/fi*.mp4`, `noFight/nofi*.mp4`, 1-5 s
H.264 clips) ships a `videos.txt` naming each source video (a YouTube URL, or a line such as
``nofi062 - nofi076 : CamNet Dataset``) and the clips cut from it with their times in the source
(``fi001: 0.13.50 - 0.15.60``: minutes.seconds.hundredths). `parse_videos_txt` reads it; every line it
cannot read is returned as a note, never dropped in silence.

Clips are grouped by source as docs/accuracy.md groups them: a clip listed under two sources joins them
into one group (44 groups on the real list). `build_fight_timelines` writes ONE H.264 mp4 per group: the
group's sources in the order videos.txt lists them, each source's clips in the order of their times in
the source (clips without a time after the timed ones, in name order; a clip listed twice comes once, at
its first place), every decoded frame of each clip, one after the other. The pixels are the clips' own
(scaled to a common size), but **the joins are cuts**: the footage between two clips of the source is
not there, neighbouring clips may overlap in the source, and a merged group cuts from one source video
to another. Each `fight` clip's span in the joined video, [start, end) in seconds, is an event `fight`;
the `noFight` clips are the footage around the events, and a group without a fight clip is written all
the same, as event-free footage.

A joined video has one frame rate: the clips' own where they agree (rates within 0.1% count as one:
29.97 = 30000/1001), else the rate most of the group's clips have, the others resampled to it by
repeating or dropping frames (each such clip is named in the notes). Every frame is scaled to fit
`size` (480x360) with its aspect ratio kept, and padded with black where the aspect differs. Event times
count frames: a clip starts at (frames before it) / fps.

Written into the output folder: `videos/<group>.mp4`; `events.csv` (``video,label,start,end,group``, one
row per fight event, a row with empty label and times for a video without one: the CSV format of
pipeline/data/annotations/events.py); `sources.csv` (each clip's place in its joined video and in its
source); `fights.csv`, the same events with touching fight clips joined into one fight (the clips of one fight
in the source, cut in pieces). A joined video already written from the same clips, frame rate and size (as
`sources.csv` recorded them) is kept, so a rerun writes nothing new and a stopped build goes on where it
stopped.
"""
from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import av
import numpy as np

from pipeline.atomic_io import write_csv_atomic
from pipeline.demo.video_writer import write_video

FIGHT, NO_FIGHT = "fight", "noFight"
CLASS_FOLDERS = {FIGHT: "fight", NO_FIGHT: "noFight"}
EVENT_LABEL = "fight"
DEFAULT_SIZE = (480, 360)  # width, height
RATE_TOLERANCE = 1e-3  # relative: frame rates closer than this count as the same rate (29.97 vs 30000/1001)
SPAN_TOLERANCE = 1.0  # seconds: a listed span this far from the clip's own duration is worth a note
EVENT_COLUMNS = ("video", "label", "start", "end", "group")
SOURCE_COLUMNS = ("group", "video", "clip", "class", "start", "end", "frames", "fps", "source",
                  "source_start", "source_end")

_CLIP = r"(n?o?fi\d+)"
_URL_RE = re.compile(r"^(https?://\S+)$")
_TIMED_RE = re.compile(rf"^{_CLIP}\s*:\s*(\S+)\s*-\s*(\S+)$", re.IGNORECASE)
_RANGE_RE = re.compile(rf"^{_CLIP}\s*-\s*{_CLIP}\s*:\s*(.+)$", re.IGNORECASE)
_TIME_RE = re.compile(r"^(\d+)\.(\d{1,2})\.(\d+)$")  # minutes.seconds.hundredths: 0.13.50, 11.01.40, 1.0.18


@dataclass(frozen=True)
class ListedClip:
    """A clip as videos.txt lists it: its name, class and span in its source (None: not given)."""

    name: str
    label: str
    source_start: Optional[float]
    source_end: Optional[float]


@dataclass
class Source:
    """A source video (a URL or a named data set) and its clips in the order listed."""

    name: str
    clips: List[ListedClip] = field(default_factory=list)


def clip_label(name: str) -> str:
    """`fight` for fiNNN, `noFight` for nofiNNN."""
    return NO_FIGHT if name.lower().startswith("nofi") else FIGHT


def parse_source_time(text: str) -> Optional[float]:
    """Seconds of a videos.txt time, minutes.seconds.hundredths (``0.13.50`` -> 13.5, ``1.0.18`` -> 60.18);
    None if it is not one."""
    match = _TIME_RE.match(text.strip())
    if match is None or int(match.group(2)) >= 60:
        return None
    minutes, seconds, fraction = match.groups()
    return int(minutes) * 60 + int(seconds) + float("0." + fraction)


def _clip_range(first: str, last: str) -> List[str]:
    """The names from `first` to `last` (``nofi062 - nofi076``), inclusive, with the same prefix and width."""
    prefix, start = re.match(r"([a-z]+)(\d+)", first).groups()
    last_prefix, stop = re.match(r"([a-z]+)(\d+)", last).groups()
    if last_prefix != prefix or int(stop) < int(start):
        raise ValueError(f"not a range: {first} - {last}")
    return [f"{prefix}{i:0{len(start)}d}" for i in range(int(start), int(stop) + 1)]


def parse_videos_txt(text: str) -> Tuple[List[Source], List[str]]:
    """The sources of a videos.txt and notes on every line not read in full (line number and text).

    Lines: a URL starts a source; ``fi001: 0.13.50 - 0.15.60`` lists a clip of it with its span; a range
    ``nofi062 - nofi076 : CamNet Dataset`` is a source of its own, its clips without times; blank lines
    are skipped. A clip line whose times do not read is kept without a time, with a note."""
    sources: List[Source] = []
    notes: List[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if _URL_RE.match(line):
            sources.append(Source(line))
            continue
        ranged = _RANGE_RE.match(line)
        if ranged:
            first, last, name = ranged.group(1).lower(), ranged.group(2).lower(), ranged.group(3).strip()
            try:
                names = _clip_range(first, last)
            except ValueError as exc:
                notes.append(f"line {number}: {line!r}: {exc}; skipped")
                continue
            sources.append(Source(name, [ListedClip(n, clip_label(n), None, None) for n in names]))
            continue
        timed = _TIMED_RE.match(line)
        if timed is None:
            notes.append(f"line {number}: {line!r}: not a URL, a clip line or a clip range; skipped")
            continue
        if not sources:
            notes.append(f"line {number}: {line!r}: a clip before any source; skipped")
            continue
        name = timed.group(1).lower()
        start, end = parse_source_time(timed.group(2)), parse_source_time(timed.group(3))
        if start is None or end is None:
            notes.append(f"line {number}: {line!r}: a time does not read as minutes.seconds.hundredths; "
                         f"the clip is kept{' without a time' if start is None else ''}")
        elif end <= start:
            notes.append(f"line {number}: {line!r}: ends before it starts; ordered by its start")
        sources[-1].clips.append(ListedClip(name, clip_label(name), start, end))
    return sources, notes


def group_sources(sources: Sequence[Source]) -> List[List[Source]]:
    """Sources joined into groups by the clips they share, in the order of each group's first source."""
    parent = list(range(len(sources)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_source: Dict[str, int] = {}
    for index, source in enumerate(sources):
        for clip in source.clips:
            other = first_source.setdefault(clip.name, index)
            a, b = root(other), root(index)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: Dict[int, List[Source]] = {}
    for index, source in enumerate(sources):
        groups.setdefault(root(index), []).append(source)
    return list(groups.values())


def order_group_clips(group: Sequence[Source]) -> List[ListedClip]:
    """The group's clips in joining order: sources as listed, each by time in its source (untimed ones
    after, by name); a clip listed twice keeps its first place."""
    placed: Dict[str, ListedClip] = {}
    for source in group:
        timed = sorted((c for c in source.clips if c.source_start is not None), key=lambda c: (c.source_start, c.name))
        untimed = sorted((c for c in source.clips if c.source_start is None), key=lambda c: c.name)
        for clip in timed + untimed:
            placed.setdefault(clip.name, clip)
    return list(placed.values())


@dataclass(frozen=True)
class ClipInfo:
    """A clip file's frame rate and size, from its header."""

    path: Path
    fps: Fraction
    width: int
    height: int


def probe_clip(path: Path) -> ClipInfo:
    """A clip's frame rate (the stream's average rate) and size."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise ValueError(f"{path}: no frame rate in its header")
        return ClipInfo(path, Fraction(rate), stream.codec_context.width, stream.codec_context.height)


def same_rate(a: Fraction, b: Fraction) -> bool:
    """Whether two frame rates count as one (within RATE_TOLERANCE)."""
    return abs(a - b) <= RATE_TOLERANCE * b


def group_rate(rates: Sequence[Fraction]) -> Fraction:
    """The rate most clips agree with; among the rates that agree with it, the commonest exact value."""
    counts = Counter(rates)
    best = max(counts, key=lambda r: (sum(n for o, n in counts.items() if same_rate(o, r)), counts[r], r))
    return Fraction(best).limit_denominator(1001)


def resampled_count(frames: int, clip_fps: Fraction, fps: Fraction) -> int:
    """Frames a clip of `frames` at `clip_fps` gives at `fps` (the same where the rates agree)."""
    if same_rate(clip_fps, fps):
        return frames
    return max(1, round(frames * fps / clip_fps))


def fit_frame(frame: av.VideoFrame, size: Tuple[int, int]) -> np.ndarray:
    """The frame as uint8 RGB of `size` (width, height): scaled to fit, aspect kept, black bars centred."""
    width, height = size
    scale = min(width / frame.width, height / frame.height)
    new_w = min(width, max(2, round(frame.width * scale)))
    new_h = min(height, max(2, round(frame.height * scale)))
    if (new_w, new_h) == (frame.width, frame.height):
        picture = frame.to_ndarray(format="rgb24")
    else:
        picture = frame.reformat(width=new_w, height=new_h, format="rgb24", interpolation="AREA").to_ndarray()
    if (new_w, new_h) == (width, height):
        return picture
    out = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    out[top:top + new_h, left:left + new_w] = picture
    return out


def clip_frames(info: ClipInfo, fps: Fraction, size: Tuple[int, int], counts: List[int]) -> Iterator[np.ndarray]:
    """Every decoded frame of a clip, fitted to `size`; at another rate than `fps`, output frame k shows the
    clip's frame at time (k + 0.5) / fps (frames repeated or dropped). Appends the frames yielded to `counts`."""
    with av.open(str(info.path)) as container:
        frames = [fit_frame(frame, size) for frame in container.decode(video=0)]
    if not frames:
        raise ValueError(f"{info.path}: no frames decoded")
    count = resampled_count(len(frames), info.fps, fps)
    counts.append(count)
    if count == len(frames):
        yield from frames
        return
    for k in range(count):
        yield frames[min(len(frames) - 1, int((k + Fraction(1, 2)) * info.fps / fps))]


def _read_rows(path: Path) -> List[Dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _video_matches(path: Path, fps: Fraction, size: Tuple[int, int], frames: int) -> bool:
    """Whether `path` is a video of `size`, `fps` and `frames` frames (as its header says)."""
    if not path.is_file():
        return False
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            return ((stream.codec_context.width, stream.codec_context.height) == tuple(size)
                    and stream.average_rate is not None and same_rate(Fraction(stream.average_rate), fps)
                    and stream.frames == frames)
    except (av.error.FFmpegError, IndexError):
        return False


def _fmt(seconds: Optional[float]) -> str:
    return "" if seconds is None else f"{seconds:.3f}"


def _list_clips(dataset_dir: Path) -> Tuple[List[Source], Dict[str, Path], List[str]]:
    """videos.txt's sources, the clip files by name, and notes (lines not read, clips missing or unlisted).
    A clip file videos.txt does not list is a source of its own."""
    sources, notes = parse_videos_txt((dataset_dir / "videos.txt").read_text(encoding="utf-8-sig"))
    listed = {clip.name for source in sources for clip in source.clips}
    on_disk = {p.stem.lower(): p for folder in CLASS_FOLDERS.values()
               for p in sorted((dataset_dir / folder).glob("*.mp4"))}
    for name in sorted(set(on_disk) - listed):
        notes.append(f"{name}: not in videos.txt; a group of its own")
        sources.append(Source(f"(unlisted {name})", [ListedClip(name, clip_label(name), None, None)]))
    missing = sorted(listed - set(on_disk))
    if missing:
        notes.append(f"listed in videos.txt but not found, left out: {', '.join(missing)}")
    return sources, on_disk, notes


def merge_touching(events: List[Tuple[str, str, str, str, str]]) -> List[Tuple[str, str, str, str, str]]:
    """The events with each run of touching fight clips of a video (one clip ending where the next starts:
    one fight in the source, cut into clips) as one event, as a person marking the fights would."""
    merged: List[List[str]] = []
    for video, label, start, end, group in events:
        last = merged[-1] if merged else None
        if label and last and last[0] == video and last[1] == label and abs(float(start) - float(last[3])) < 1e-6:
            last[3] = end
        else:
            merged.append([video, label, start, end, group])
    return [tuple(row) for row in merged]  # type: ignore[misc]


def build_fight_timelines(dataset_dir: Path, out_dir: Path, size: Tuple[int, int] = DEFAULT_SIZE,
                          log: Optional[Callable[[str], None]] = None) -> dict:
    """Write the joined videos, events.csv and sources.csv of the set in `dataset_dir` (its videos.txt,
    fight/ and noFight/) into `out_dir` (see the module docstring). Returns the counts (videos, minutes,
    events, fight_seconds, fight_minutes, event_free, written, kept) and `notes`: the lines of videos.txt
    not read in full, clips listed but missing or present but unlisted, resampled clips, listed spans
    that disagree with a clip's duration. `log`, if given, is called with a line per video as it is done."""
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    sources, on_disk, notes = _list_clips(dataset_dir)
    previous: Dict[str, List[Dict[str, str]]] = {}
    for row in _read_rows(out_dir / "sources.csv"):
        previous.setdefault(row["video"], []).append(row)
    done: Dict[str, List[Dict[str, str]]] = {}
    events: List[Tuple[str, str, str, str, str]] = []
    counts: Counter = Counter()

    def save_sources(rows_by_video: Dict[str, List[Dict[str, str]]]) -> None:
        write_csv_atomic(out_dir / "sources.csv", SOURCE_COLUMNS,
                         ([r[c] for c in SOURCE_COLUMNS] for v in sorted(rows_by_video) for r in rows_by_video[v]))

    for index, group in enumerate(group_sources(sources)):
        clips = [clip for clip in order_group_clips(group) if clip.name in on_disk]
        if not clips:
            continue
        name, source_of = f"s{index:02d}", {}
        video = f"videos/{name}.mp4"
        for source in group:
            for clip in source.clips:
                source_of.setdefault(clip.name, source.name)
        infos = [probe_clip(on_disk[clip.name]) for clip in clips]
        fps = group_rate([info.fps for info in infos])
        before = previous.get(video, [])
        kept = ([r["clip"] for r in before] == [c.name for c in clips] and all(r["fps"] == str(fps) for r in before)
                and _video_matches(out_dir / video, fps, size, sum(int(r["frames"]) for r in before)))
        if kept:
            frames = [int(r["frames"]) for r in before]
        else:
            frames = []
            write_video(out_dir / video, (f for info in infos for f in clip_frames(info, fps, size, frames)), fps=fps)
        counts["kept" if kept else "written"] += 1
        rows, position = [], 0
        for clip, info, count in zip(clips, infos, frames):
            start, end = position / fps, (position + count) / fps
            position += count
            if not same_rate(info.fps, fps):
                notes.append(f"{name}: {clip.name} at {float(info.fps):.3f} fps resampled to {float(fps):.3f} fps "
                             f"(frames {'repeated' if info.fps < fps else 'dropped'})")
            if clip.source_start is not None and clip.source_end is not None and clip.source_end > clip.source_start:
                listed_span = clip.source_end - clip.source_start
                if abs(listed_span - float(end - start)) > SPAN_TOLERANCE:
                    notes.append(f"{clip.name}: listed as {listed_span:.2f} s of its source, the clip is "
                                 f"{float(end - start):.2f} s")
            rows.append({"group": name, "video": video, "clip": clip.name, "class": clip.label,
                         "start": _fmt(float(start)), "end": _fmt(float(end)), "frames": str(count),
                         "fps": str(fps), "source": source_of[clip.name],
                         "source_start": _fmt(clip.source_start), "source_end": _fmt(clip.source_end)})
        done[video] = rows
        save_sources({**previous, **done})  # a stopped build keeps the record of what it wrote
        fights = [r for r in rows if r["class"] == FIGHT]
        events.extend((video, EVENT_LABEL, r["start"], r["end"], name) for r in fights)
        if not fights:
            events.append((video, "", "", "", name))
            counts["event_free"] += 1
        counts["videos"] += 1
        counts["events"] += len(fights)
        counts["fight_seconds"] += sum(float(r["end"]) - float(r["start"]) for r in fights)
        counts["seconds"] += float(position / fps)
        if log is not None:
            log(f"{video}: {len(clips)} clips, {len(fights)} fights, {float(position / fps):.1f} s at "
                f"{float(fps):.3f} fps ({'kept' if kept else 'written'})")
    save_sources(done)
    write_csv_atomic(out_dir / "events.csv", EVENT_COLUMNS, events)
    write_csv_atomic(out_dir / "fights.csv", EVENT_COLUMNS, merge_touching(events))
    return {"videos": counts["videos"], "minutes": round(counts["seconds"] / 60, 2), "events": counts["events"],
            "fight_seconds": round(counts["fight_seconds"], 2), "fight_minutes": round(counts["fight_seconds"] / 60, 2),
            "event_free": counts["event_free"], "written": counts["written"], "kept": counts["kept"], "notes": notes}
