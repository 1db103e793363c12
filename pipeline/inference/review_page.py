"""review.html: one page to review what a timeline found in many long videos, opened from disk (no server).

`predict.py --timeline` writes it beside events.csv, `evaluate.py --events` beside report.html; both build a
`ReviewVideo` per video and call `write_review_page`. The page lists the videos (with their event counts)
and shows the selected one: the video in an HTML5 player, the probability of each event class over time
with its threshold (drawn on a canvas by a small inline script, min/max per pixel column when there are
more windows than pixels), the events as marks under the curve and as rows of a table; a click on a row or
a mark plays the video from the event's start (again: pauses). With true events (evaluate.py), the true
and the found events lie in two lanes, and the table marks misses and false alarms.

What the page holds, and why:

- The videos are linked by their path relative to the page (`media_url`), so the folder can be moved or
  zipped with its videos as long as they keep their places relative to each other; a video that no
  relative path reaches (another drive) is linked by its absolute file:// address, and the page says so.
- A video a browser cannot play (raw AVI, MPEG-4 part 2, HEVC...: pipeline.inference.review_media's
  rule) gets a small H.264 proxy with the same timing in `review_media/` beside the page, or, when no
  proxy can be made, a strip of its frames; the page says which and why. A proxy made by an earlier run,
  newer than its video, is reused.
- Nothing is loaded that is not shown: each video's data is embedded as compact JSON in its own
  `<script type="application/json">` and parsed when the video is picked; only that video's player
  exists (`preload="metadata"`), and a strip is an image of the picked video only.
- One self-contained file: inline CSS (the evaluation report's, pipeline.evaluation.report_html.STYLE)
  and script, no external resource, no web font. Names are escaped for HTML, and the JSON inside
  `<script>` has `<`, `>` and `&` written as \\u escapes, so no `</script>` or `<!--` can appear in it.
"""
from __future__ import annotations

import json
import logging
import math
import os
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from pipeline.atomic_io import write_text_atomic
from pipeline.errors import OutputError
from pipeline.evaluation.report_html import STYLE
from pipeline.inference.review_media import (
    PROXY_HEIGHT,
    MediaError,
    browser_plays,
    is_fresh,
    probe_media,
    proxy_suffix,
    write_proxy,
    write_strip,
)

log = logging.getLogger(__name__)

PAGE_NAME = "review.html"
MEDIA_DIR = "review_media"  # proxies and frame strips, beside the page
TRUE_LANE, FOUND_LANE = 0, 1
MATCHED, MISSED, FALSE_ALARM = "matched", "missed", "false alarm"


@dataclass(frozen=True)
class ReviewEvent:
    """An event on the page: a found one (with its peak) or a true one; `result` says, where true events are
    known, whether it was matched, missed (a true event) or a false alarm (a found one)."""

    label: str
    start: float  # seconds
    end: float  # seconds; == start for a spot
    peak_time: Optional[float] = None
    peak_probability: Optional[float] = None
    result: Optional[str] = None  # MATCHED, MISSED, FALSE_ALARM or None


@dataclass
class ReviewVideo:
    """One video of the page: its file, its timeline (window times [W,2] and probabilities [W,C] over
    `class_names`), the classes whose curves are drawn and their thresholds, its found events and, when
    known, its true events; or `error`, why it could not be read (it is listed, with no player)."""

    path: str  # the video file
    stem: str  # a name unique on the page, for its proxy or strip file
    class_names: Sequence[str] = ()
    times: Optional[np.ndarray] = None
    probs: Optional[np.ndarray] = None
    classes: Sequence[str] = ()  # drawn; default: every class
    thresholds: Mapping[str, Optional[float]] = field(default_factory=dict)
    detected: Sequence[ReviewEvent] = ()
    truth: Optional[Sequence[ReviewEvent]] = None  # None: no true events known (predict.py)
    duration: Optional[float] = None  # seconds
    error: Optional[str] = None


@dataclass
class ReviewPage:
    """What `write_review_page` wrote: the page and how each video is shown."""

    path: Path
    videos: int
    shown: Counter  # "original", "proxy", "strip", "none" (nothing to play), "unreadable"

    def describe(self) -> str:
        """One line for a script's summary."""
        parts = [f"{self.videos} videos"]
        if self.shown.get("proxy"):
            parts.append(f"{self.shown['proxy']} through a proxy a browser plays")
        if self.shown.get("strip"):
            parts.append(f"{self.shown['strip']} as a strip of frames (no proxy could be made)")
        if self.shown.get("none"):
            parts.append(f"{self.shown['none']} with nothing to play")
        if self.shown.get("unreadable"):
            parts.append(f"{self.shown['unreadable']} unreadable, listed")
        return f"{self.path} ({', '.join(parts)}; open it in a browser)"


# ------------------------------------------------------------------------------------------------- writing

def write_review_page(page: os.PathLike, videos: Sequence[ReviewVideo], title: str, meta: Sequence[str] = (),
                      backend: str = "auto") -> ReviewPage:
    """Write the review page `page` (atomically) and, in `review_media/` beside it, the proxies and strips
    of the videos a browser cannot play. A video that cannot be probed, proxied or drawn costs that video's
    player only (the page says why); OutputError naming the page when it cannot be written."""
    page = Path(page)
    media = page.parent / MEDIA_DIR
    shown: Counter = Counter()
    entries = []
    for video in videos:
        entry = video_entry(video, page.parent, media, backend)
        shown[entry["media"]["kind"] if not video.error else "unreadable"] += 1
        entries.append(entry)
    html = render_review_page(entries, title, meta)
    try:
        write_text_atomic(page, html)
    except OSError as exc:
        raise OutputError(f"{page}: the review page cannot be written: {exc.strerror or exc}") from exc
    return ReviewPage(page, len(entries), shown)


def media_url(target: os.PathLike, page_dir: os.PathLike) -> Tuple[str, bool]:
    """(address, relative?) of `target` for a page in `page_dir`: its path relative to the page, as a URL
    (each part percent-encoded), or, where no relative path reaches it (another drive), its file:// URI."""
    absolute = os.path.abspath(target)
    try:
        relative = os.path.relpath(absolute, os.path.abspath(page_dir))
    except ValueError:  # Windows: another drive
        return Path(absolute).as_uri(), False
    return urllib.parse.quote(relative.replace(os.sep, "/"), safe="/"), True


def video_entry(video: ReviewVideo, page_dir: Path, media: Path, backend: str = "auto") -> Dict[str, Any]:
    """The JSON the page's script draws one video from (names as they are: the page escapes them)."""
    notes: List[str] = []
    entry: Dict[str, Any] = {"name": Path(video.path).name, "path": str(video.path), "notes": notes,
                             "error": video.error, "truth": video.truth is not None}
    entry["media"] = {"kind": "none"} if video.error else _media(video, page_dir, media, notes, backend)
    labels = list(video.classes or video.class_names)
    events = [(TRUE_LANE, e) for e in (video.truth or ())] + [(FOUND_LANE, e) for e in video.detected]
    for _, event in events:
        if event.label not in labels:
            labels.append(event.label)
    entry["labels"] = labels
    end = 0.0
    if video.times is not None and video.probs is not None and len(video.times):
        times = np.asarray(video.times, dtype=np.float64)
        probs = np.nan_to_num(np.asarray(video.probs, dtype=np.float64), nan=0.0)
        entry["t"] = compact_times(times.mean(axis=1))
        entry["curves"] = []
        for name in video.classes or video.class_names:
            if name not in video.class_names:
                continue
            column = probs[:, list(video.class_names).index(name)]
            entry["curves"].append({"l": labels.index(name), "thr": _number(video.thresholds.get(name), 4),
                                    "p": np.rint(np.clip(column, 0, 1) * 1000).astype(int).tolist()})
        end = float(times[-1, 1])
    ordered = sorted(events, key=lambda item: (item[1].start, item[0], item[1].end))
    entry["events"] = [[lane, labels.index(e.label), _time(e.start), _time(e.end), _time(e.peak_time),
                        _number(e.peak_probability, 4), e.result] for lane, e in ordered]
    ends = [v for v in (end, video.duration, *(e.end for _, e in events)) if _time(v) is not None]
    entry["duration"] = _time(max(ends)) or None
    return entry


def _media(video: ReviewVideo, page_dir: Path, media: Path, notes: List[str], backend: str) -> Dict[str, Any]:
    """How the page shows the video: the file itself, a proxy, a strip of frames, or nothing (and why)."""
    path = Path(video.path)
    try:
        info = probe_media(path)
    except MediaError as exc:
        notes.append(f"Nothing to play: {exc}.")
        return {"kind": "none"}
    if browser_plays(path, info):
        src, relative = media_url(path, page_dir)
        if not relative:
            notes.append(f"Linked by its absolute address ({src}): no relative path from this page reaches it "
                         "(another drive), so moving the page's folder elsewhere keeps the link only on this "
                         "machine.")
        return {"kind": "original", "src": src}
    why = f"a browser cannot play this file ({info.describe()})"
    suffix = proxy_suffix() or ".mp4"
    proxy = media / f"{video.stem}.proxy{suffix}"
    try:
        if not is_fresh(proxy, [path]):
            write_proxy(path, proxy, backend)
        kind = "H.264" if suffix == ".mp4" else "VP8"
        notes.append(f"Playing a proxy: {why}, so {MEDIA_DIR}/{proxy.name} holds its frames at most "
                     f"{PROXY_HEIGHT} pixels high ({kind}), each at the time it has in the file.")
        return {"kind": "proxy", "src": media_url(proxy, page_dir)[0]}
    except Exception as exc:  # a proxy that cannot be made costs the player only
        reason = _one_line(exc)
        log.warning("%s: no proxy for the review page: %s", path, reason)
    strip = media / f"{video.stem}.strip.png"
    try:
        times = write_strip(path, strip, backend)
    except Exception as exc:
        notes.append(f"Nothing to play: {why}, and neither a proxy ({reason}) nor a strip of its frames "
                     f"({_one_line(exc)}) could be made.")
        return {"kind": "none"}
    notes.append(f"A strip of frames instead of a player: {why}, and no proxy could be made ({reason}). "
                 f"{MEDIA_DIR}/{strip.name} shows {len(times)} frames spread over it.")
    return {"kind": "strip", "src": media_url(strip, page_dir)[0], "times": times}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _number(value: Optional[float], digits: int) -> Optional[float]:
    """`value` rounded for the page's JSON; None for None, nan and infinities (JSON has no such numbers)."""
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def _time(seconds: Optional[float]) -> Optional[float]:
    return _number(seconds, 3)


def compact_times(centres: np.ndarray) -> Dict[str, Any]:
    """Window centres [W] (seconds) as {"t0", "dt", "n", "more"}: the first n on the grid t0 + i dt (within
    half a millisecond: the windows every stride), then the rest (a tail window) listed, to the millisecond."""
    centres = np.asarray(centres, dtype=np.float64)
    if len(centres) < 2:
        return {"t0": _time(centres[0]) if len(centres) else 0.0, "dt": 0.0, "n": len(centres), "more": []}
    t0, dt = float(centres[0]), float(centres[1] - centres[0])
    on_grid = np.abs(centres - (t0 + dt * np.arange(len(centres)))) <= 5e-4
    n = len(centres) if on_grid.all() else int(np.argmin(on_grid))
    return {"t0": round(t0, 6), "dt": round(dt, 9), "n": n, "more": [round(float(v), 3) for v in centres[n:]]}


# ---------------------------------------------------------------------------------------------------- HTML

def script_json(value: Any) -> str:
    """JSON that is safe inside `<script type="application/json">`: no `<`, `>` or `&` (so no `</script>`
    and no `<!--`), nor the line separators some parsers choke on."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("\u2028", "\\u2028"),
                          ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def _counts(entry: Dict[str, Any]) -> str:
    """The list's summary of a video: its events (true, found, missed, false alarms), or why it is unreadable."""
    if entry["error"]:
        return "unreadable"
    lanes = Counter(e[0] for e in entry["events"])
    results = Counter(e[6] for e in entry["events"])
    if not entry["truth"]:
        found = lanes[FOUND_LANE]
        return f"{found} event{'s' if found != 1 else ''}"
    parts = [f"{lanes[TRUE_LANE]} true", f"{lanes[FOUND_LANE]} found"]
    if results[MISSED]:
        parts.append(f"{results[MISSED]} missed")
    if results[FALSE_ALARM]:
        parts.append(f"{results[FALSE_ALARM]} false")
    return ", ".join(parts)


def render_review_page(entries: Sequence[Dict[str, Any]], title: str, meta: Sequence[str] = ()) -> str:
    """The page for the entries of `video_entry`."""
    items = []
    for i, entry in enumerate(entries):
        kind = entry["media"]["kind"]
        tag = {"proxy": "proxy", "strip": "strip", "none": "no player"}.get(kind) if not entry["error"] else None
        shown = ' class="unreadable"' if entry["error"] else ""
        tagged = f' <span class="tag">{tag}</span>' if tag else ""
        items.append(f'<li{shown}><button type="button" data-i="{i}"><span class="name">{escape(entry["name"])}</span>'
                     f'<span class="counts">{escape(_counts(entry))}{tagged}</span></button></li>')
    data = [f'<script type="application/json" id="review-video-{i}">{script_json(entry)}</script>'
            for i, entry in enumerate(entries)]
    lines = "<br>".join(escape(line) for line in meta)
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{STYLE}{REVIEW_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">{lines}</p>' if lines else "",
        '<p class="meta">Pick a video. A click on an event (a row of its table, or its mark under the curve) plays '
        "the video from the event's start; a second click pauses it. A click elsewhere on the curve goes to that "
        "time. The videos are linked by their place relative to this page: move or zip the folder together "
        "with them.</p>",
        '<noscript><p class="error">This page draws its players and curves with its own inline script: allow '
        "scripts for this file to see them.</p></noscript>",
        '<div id="review"><nav id="videos" aria-label="videos">',
        f'<input id="filter" type="search" placeholder="filter {len(entries)} videos" aria-label="filter videos">',
        f'<p class="meta" id="listed">{len(entries)} videos</p>',
        f'<ol id="video-list">{"".join(items)}</ol></nav>',
        '<main id="viewer"><p>No video.</p></main></div>' if not entries else
        '<main id="viewer"><p>Pick a video from the list.</p></main></div>',
        *data,
        f"<script>{REVIEW_SCRIPT}</script>",
        "</body></html>",
    ])


REVIEW_STYLE = """
body { max-width: none; margin: 1em 1.5em; }
#review { display: grid; grid-template-columns: minmax(12em, 20em) minmax(0, 1fr); gap: 1.5em; align-items: start; }
#videos { position: sticky; top: 0.5em; max-height: calc(100vh - 1em); display: flex; flex-direction: column; }
#filter { font: inherit; padding: 0.2em 0.4em; }
#video-list { list-style: none; margin: 0.3em 0 0; padding: 0; overflow-y: auto; border: 1px solid #ddd; }
#video-list button { display: block; width: 100%; text-align: left; border: 0; border-bottom: 1px solid #eee;
  background: none; padding: 0.35em 0.5em; cursor: pointer; font: inherit; color: inherit; }
#video-list button:hover { background: #f3f6fa; } #video-list button.active { background: #dde8f6; }
#video-list .name { display: block; overflow-wrap: anywhere; } #video-list .counts { color: #555; font-size: 0.85em; }
#video-list .unreadable .name { color: #888; }
.tag { background: #eee; border-radius: 0.3em; padding: 0 0.3em; font-size: 0.85em; }
#viewer h2 { margin-top: 0; overflow-wrap: anywhere; } #viewer .meta { overflow-wrap: anywhere; }
#viewer video { width: 100%; max-height: 45vh; background: #000; display: block; }
.curve { position: relative; margin-top: 0.6em; }
.curve canvas { width: 100%; display: block; cursor: pointer; }
.playhead { position: absolute; top: 0; width: 0; border-left: 2px solid #222; pointer-events: none; display: none; }
.legend .item { margin-right: 1.2em; white-space: nowrap; } .legend { color: #444; }
.swatch { display: inline-block; width: 1.1em; height: 0.6em; margin-right: 0.3em; vertical-align: middle; }
.note { background: #fff8e1; border-left: 3px solid #f0b400; padding: 0.3em 0.6em; }
.error { background: #fdecea; border-left: 3px solid #c62828; padding: 0.3em 0.6em; }
table.events tbody tr { cursor: pointer; } table.events tbody tr:hover { background: #f3f6fa; }
table.events tr.active { background: #dde8f6; } table.events tr.missed td.result,
table.events tr.false td.result { color: #c62828; font-weight: bold; }
figure.strip img { max-width: 100%; }
@media (max-width: 50em) { #review { grid-template-columns: 1fr; } #videos { position: static; max-height: 40vh; } }
"""

# The page's script: plain JavaScript and the DOM, no library. Every name reaches the page through textContent.
REVIEW_SCRIPT = r"""
(function () {
  "use strict";
  var COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
                "#7f7f7f", "#d62728"];
  var LANES = ["true", "found"], MISSED = "missed", FALSE_ALARM = "false alarm";
  var PAD_L = 46, PAD_R = 12, PAD_T = 10, PLOT_H = 150, ROW_H = 6, AXIS_H = 24;
  var viewer = document.getElementById("viewer");
  var buttons = Array.prototype.slice.call(document.querySelectorAll("#video-list button"));
  var view = null;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) { for (var key in attrs) { node.setAttribute(key, attrs[key]); } }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }
  function color(label) { return COLORS[label % COLORS.length]; }
  function clock(seconds, whole) {  // h:mm:ss.s (whole: h:mm:ss)
    if (seconds === null || seconds === undefined) { return ""; }
    var tenths = Math.round(Math.abs(seconds) * 10), h = Math.floor(tenths / 36000);
    var m = Math.floor((tenths % 36000) / 600), s = (tenths % 600) / 10;
    var text = (s < 10 ? "0" : "") + (whole ? String(Math.floor(s)) : s.toFixed(1));
    text = (h ? h + ":" + (m < 10 ? "0" : "") + m : String(m)) + ":" + text;
    return (seconds < 0 ? "-" : "") + text;
  }

  function select(i, keepHash) {
    if (view && view.video) { view.video.pause(); view.video.removeAttribute("src"); view.video.load(); }
    buttons.forEach(function (b) {
      var on = Number(b.getAttribute("data-i")) === i;
      b.classList.toggle("active", on);
      if (on) { b.setAttribute("aria-current", "true"); } else { b.removeAttribute("aria-current"); }
    });
    var node = document.getElementById("review-video-" + i);
    if (!node) { return; }
    if (!keepHash) { try { history.replaceState(null, "", "#video-" + i); } catch (e) { /* a file: URL may refuse */ } }
    view = render(JSON.parse(node.textContent));
  }

  function render(d) {
    viewer.textContent = "";
    var v = {data: d, video: null, active: -1, rows: [], hits: [], geo: null};
    viewer.appendChild(el("h2", null, d.name));
    viewer.appendChild(el("p", {"class": "meta"}, d.path));
    if (d.error) { viewer.appendChild(el("p", {"class": "error"}, "Could not be read: " + d.error)); }
    d.notes.forEach(function (note) { viewer.appendChild(el("p", {"class": "note"}, note)); });
    var media = d.media;
    if (media.kind === "original" || media.kind === "proxy") {
      var video = el("video", {controls: "", preload: "metadata", playsinline: ""});
      video.addEventListener("error", function () {
        var code = video.error ? video.error.code : "?";
        viewer.insertBefore(el("p", {"class": "error"}, "The browser cannot play " + decodeURI(media.src) +
          " (media error " + code + "): has the video moved, or does this browser lack its codec?"), video);
      });
      video.src = media.src;
      viewer.appendChild(video);
      v.video = video;
    } else if (media.kind === "strip") {
      var figure = el("figure", {"class": "strip"});
      figure.appendChild(el("img", {alt: "frames of " + d.name, src: media.src}));
      figure.appendChild(el("figcaption", null, "frames at " +
        media.times.map(function (t) { return clock(t); }).join(", ")));
      viewer.appendChild(figure);
    }
    if (d.t && d.t.n + d.t.more.length) { d.t = expand(d.t); curve(v); }
    table(v);
    return v;
  }

  function expand(t) {  // {t0, dt, n, more} -> every window centre
    var times = new Float64Array(t.n + t.more.length);
    for (var i = 0; i < t.n; i++) { times[i] = t.t0 + i * t.dt; }
    for (var j = 0; j < t.more.length; j++) { times[t.n + j] = t.more[j]; }
    return times;
  }

  function curve(v) {
    var d = v.data, box = el("div", {"class": "curve"});
    var canvas = el("canvas", {role: "img", "aria-label": "probabilities over time; events under the curve"});
    var head = el("div", {"class": "playhead"});
    box.appendChild(canvas);
    box.appendChild(head);
    viewer.appendChild(box);
    var legend = el("p", {"class": "legend"});
    d.curves.forEach(function (c) {
      var item = el("span", {"class": "item"});
      var swatch = el("span", {"class": "swatch"});
      swatch.style.background = color(c.l);
      item.appendChild(swatch);
      item.appendChild(document.createTextNode("p(" + d.labels[c.l] + ")" +
        (c.thr === null ? "" : ", threshold " + c.thr + " (dashed)")));
      legend.appendChild(item);
    });
    legend.appendChild(el("span", null, d.truth ? "lanes: the true events, then the found ones (a red edge: missed, " +
      "or a false alarm)" : "under the curve: the found events"));
    viewer.appendChild(legend);
    v.canvas = canvas;
    v.head = head;
    canvas.addEventListener("click", function (e) { clickCanvas(v, e); });
    if (v.video) {
      ["timeupdate", "seeked", "loadedmetadata"].forEach(function (name) {
        v.video.addEventListener(name, function () { playhead(v); });
      });
    }
    draw(v);
  }

  function draw(v) {
    var d = v.data, canvas = v.canvas, ratio = window.devicePixelRatio || 1;
    var rowOf = {}, rows = 0;  // in a lane, each class has its own row: events of two classes may overlap
    d.events.forEach(function (e) { if (!(e[1] in rowOf)) { rowOf[e[1]] = rows++; } });
    var LANE_H = 6 + Math.max(2, rows) * ROW_H;
    var lanes = d.truth ? 2 : 1, height = PAD_T + PLOT_H + 8 + lanes * LANE_H + AXIS_H;
    var width = canvas.clientWidth || 800;
    canvas.style.height = height + "px";
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    var g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    var plotW = Math.max(10, width - PAD_L - PAD_R), span = d.duration || d.t[d.t.length - 1] || 1;
    function x(t) { return PAD_L + Math.max(0, Math.min(1, t / span)) * plotW; }
    function y(p) { return PAD_T + (1 - p) * PLOT_H; }
    var laneTop = PAD_T + PLOT_H + 8;
    function laneY(lane) { return laneTop + (d.truth ? lane : 0) * LANE_H; }
    v.geo = {x: x, left: PAD_L, width: plotW, span: span, height: laneTop + lanes * LANE_H};
    g.font = "11px system-ui, sans-serif";
    g.fillStyle = "#555";
    g.strokeStyle = "#e4e4e4";
    g.lineWidth = 1;
    [0, 0.5, 1].forEach(function (p) {
      g.beginPath(); g.moveTo(PAD_L, y(p) + 0.5); g.lineTo(PAD_L + plotW, y(p) + 0.5); g.stroke();
      g.fillText(String(p), PAD_L - 24, y(p) + 4);
    });
    var steps = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400];
    var step = steps[steps.length - 1];
    for (var s = 0; s < steps.length; s++) { if (plotW / (span / steps[s]) >= 70) { step = steps[s]; break; } }
    var axisY = laneTop + lanes * LANE_H + 14;
    g.textAlign = "center";
    for (var t = 0; t <= span + 1e-9; t += step) {
      g.strokeStyle = "#eee";
      g.beginPath(); g.moveTo(x(t) + 0.5, PAD_T); g.lineTo(x(t) + 0.5, laneTop + lanes * LANE_H); g.stroke();
      g.fillText(clock(t, step >= 1), Math.min(x(t), width - 24), axisY);
    }
    g.textAlign = "left";
    for (var lane = 0; lane < lanes; lane++) {
      g.fillStyle = "#555";
      g.fillText(d.truth ? LANES[lane] : "found", 2, laneY(lane) + LANE_H - 5);
    }
    d.events.forEach(function (e) {  // found spans shaded over the curve
      if (e[0] !== 1) { return; }
      g.fillStyle = color(e[1]);
      g.globalAlpha = 0.1;
      g.fillRect(x(e[2]), PAD_T, Math.max(1, x(e[3]) - x(e[2])), PLOT_H);
      g.globalAlpha = 1;
    });
    d.curves.forEach(function (c) {
      g.strokeStyle = color(c.l);
      g.lineWidth = 1.5;
      if (c.thr !== null) {
        g.setLineDash([5, 4]);
        g.beginPath(); g.moveTo(PAD_L, y(c.thr)); g.lineTo(PAD_L + plotW, y(c.thr)); g.stroke();
        g.setLineDash([]);
      }
      line(g, d.t, c.p, x, y, plotW, span);
    });
    v.hits = [];
    d.events.forEach(function (e, k) {
      var h = (LANE_H - 6) / Math.max(1, rows), top = laneY(e[0]) + 3 + rowOf[e[1]] * h;
      var x0 = x(e[2]), x1 = Math.max(x(e[3]), x0 + 3);
      var bad = e[6] === MISSED || e[6] === FALSE_ALARM;
      g.fillStyle = color(e[1]);
      g.globalAlpha = bad ? 0.45 : 0.9;
      if (e[3] > e[2]) {
        g.fillRect(x0, top, x1 - x0, h);
      } else {  // a spot
        x0 -= 5; x1 = x0 + 10;
        g.beginPath(); g.moveTo(x0, top); g.lineTo(x1, top); g.lineTo(x0 + 5, top + h); g.closePath(); g.fill();
      }
      g.globalAlpha = 1;
      if (bad || k === v.active) {
        g.strokeStyle = k === v.active ? "#000" : "#c62828";
        g.lineWidth = 2;
        g.strokeRect(x0, top, x1 - x0, h);
      }
      v.hits.push([x0 - 2, x1 + 2, top - 2, top + h + 2, k]);
      if (e[0] === 1 && e[4] !== null && e[5] !== null) {  // the peak, marked on the curve
        var cx = x(e[4]), cy = y(e[5]);
        g.fillStyle = color(e[1]);
        g.strokeStyle = k === v.active ? "#000" : "#fff";
        g.lineWidth = 1.5;
        g.beginPath(); g.arc(cx, cy, 4.5, 0, 2 * Math.PI); g.fill(); g.stroke();
        v.hits.push([cx - 6, cx + 6, cy - 6, cy + 6, k]);
      }
    });
    playhead(v);
  }

  function line(g, times, values, x, y, plotW, span) {
    // Every point when they fit; else each pixel column's lowest and highest probability (an hour of
    // windows stays one stroke per column).
    var n = times.length, columns = Math.max(1, Math.floor(plotW));
    g.beginPath();
    if (n <= columns) {
      for (var i = 0; i < n; i++) {
        var px = x(times[i]), py = y(values[i] / 1000);
        if (i === 0) { g.moveTo(px, py); } else { g.lineTo(px, py); }
      }
    } else {
      var low = new Float64Array(columns).fill(Infinity), high = new Float64Array(columns).fill(-Infinity);
      for (var j = 0; j < n; j++) {
        var c = Math.min(columns - 1, Math.max(0, Math.floor(times[j] / span * columns)));
        if (values[j] < low[c]) { low[c] = values[j]; }
        if (values[j] > high[c]) { high[c] = values[j]; }
      }
      var started = false;
      for (var k = 0; k < columns; k++) {
        if (low[k] === Infinity) { continue; }
        var cx = PAD_L + k + 0.5;
        if (!started) { g.moveTo(cx, y(high[k] / 1000)); started = true; } else { g.lineTo(cx, y(high[k] / 1000)); }
        g.lineTo(cx, y(low[k] / 1000));
      }
    }
    g.stroke();
  }

  function playhead(v) {
    if (!v.video || !v.geo || !v.head) { return; }
    v.head.style.display = "block";
    v.head.style.left = (v.geo.x(v.video.currentTime || 0) - 1) + "px";
    v.head.style.height = v.geo.height + "px";
  }

  function clickCanvas(v, e) {
    var rect = v.canvas.getBoundingClientRect(), px = e.clientX - rect.left, py = e.clientY - rect.top;
    for (var i = v.hits.length - 1; i >= 0; i--) {
      var h = v.hits[i];
      if (px >= h[0] && px <= h[1] && py >= h[2] && py <= h[3]) { jump(v, h[4], true); return; }
    }
    if (v.video && px >= v.geo.left && px <= v.geo.left + v.geo.width) {
      v.video.currentTime = (px - v.geo.left) / v.geo.width * v.geo.span;
    }
  }

  function setActive(v, k, scroll) {
    if (v.active >= 0 && v.rows[v.active]) { v.rows[v.active].classList.remove("active"); }
    v.active = k;
    if (v.rows[k]) {
      v.rows[k].classList.add("active");
      if (scroll && v.rows[k].scrollIntoView) { v.rows[k].scrollIntoView({block: "nearest"}); }
    }
    if (v.canvas) { draw(v); }
  }

  function jump(v, k, scroll) {
    var again = v.active === k;
    setActive(v, k, scroll);
    if (!v.video) { return; }
    if (again && !v.video.paused) { v.video.pause(); return; }
    v.video.currentTime = v.data.events[k][2];
    var playing = v.video.play();
    if (playing && playing.catch) { playing.catch(function () { /* the user's browser may ask for a click */ }); }
  }

  function table(v) {
    var d = v.data, events = d.events;
    var lanes = [0, 0], results = {};
    events.forEach(function (e) { lanes[e[0]]++; results[e[6]] = (results[e[6]] || 0) + 1; });
    if (d.error && !events.length) { return; }  // its reason is said above
    var alarms = results[FALSE_ALARM] || 0;
    var title = d.truth ? "Events: " + lanes[0] + " true (" + (results[MISSED] || 0) + " missed), " + lanes[1] +
      " found (" + alarms + " false alarm" + (alarms === 1 ? ")" : "s)") : "Events: " + lanes[1] + " found";
    viewer.appendChild(el("h3", null, title));
    if (!events.length) { viewer.appendChild(el("p", null, "None.")); return; }
    var grid = el("table", {"class": "events"}), head = el("tr");
    var columns = (d.truth ? ["lane"] : []).concat(["class", "start", "end", "length (s)", "peak at", "peak p"]);
    if (d.truth) { columns.push("result"); }
    columns.forEach(function (c) { head.appendChild(el("th", null, c)); });
    var thead = el("thead"), body = el("tbody");
    thead.appendChild(head);
    grid.appendChild(thead);
    events.forEach(function (e, k) {
      var row = el("tr", {tabindex: "0", "data-k": String(k), "data-start": String(e[2]),
                          "class": e[6] === MISSED ? "missed" : e[6] === FALSE_ALARM ? "false" : ""});
      if (d.truth) { row.appendChild(el("td", null, LANES[e[0]])); }
      var name = el("td"), swatch = el("span", {"class": "swatch"});
      swatch.style.background = color(e[1]);
      name.appendChild(swatch);
      name.appendChild(document.createTextNode(d.labels[e[1]]));
      row.appendChild(name);
      row.appendChild(el("td", {"class": "num"}, clock(e[2])));
      row.appendChild(el("td", {"class": "num"}, clock(e[3])));
      row.appendChild(el("td", {"class": "num"}, (e[3] - e[2]).toFixed(1)));
      row.appendChild(el("td", {"class": "num"}, e[4] === null ? "" : clock(e[4])));
      row.appendChild(el("td", {"class": "num"}, e[5] === null ? "" : e[5].toFixed(3)));
      if (d.truth) { row.appendChild(el("td", {"class": "result"}, e[6] || "")); }
      row.addEventListener("click", function () { jump(v, k, false); });
      row.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); jump(v, k, false); }
      });
      v.rows.push(row);
      body.appendChild(row);
    });
    grid.appendChild(body);
    viewer.appendChild(grid);
  }

  buttons.forEach(function (b) {
    b.addEventListener("click", function () { select(Number(b.getAttribute("data-i")), false); });
  });
  document.getElementById("video-list").addEventListener("keydown", function (e) {
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp") { return; }
    var shown = buttons.filter(function (b) { return b.parentNode.style.display !== "none"; });
    var at = shown.indexOf(document.activeElement);
    var next = shown[at + (e.key === "ArrowDown" ? 1 : -1)];
    if (next) { e.preventDefault(); next.focus(); next.click(); }
  });
  document.getElementById("filter").addEventListener("input", function (e) {
    var query = e.target.value.toLowerCase(), count = 0;
    buttons.forEach(function (b) {
      var hit = b.textContent.toLowerCase().indexOf(query) >= 0;
      b.parentNode.style.display = hit ? "" : "none";
      count += hit ? 1 : 0;
    });
    document.getElementById("listed").textContent = count + " of " + buttons.length + " videos";
  });
  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () { if (view && view.canvas) { draw(view); } }, 100);
  });
  function fromHash() {
    var wanted = /^#video-(\d+)$/.exec(location.hash);
    return wanted && Number(wanted[1]) < buttons.length ? Number(wanted[1]) : -1;
  }
  window.addEventListener("hashchange", function () { if (fromHash() >= 0) { select(fromHash(), true); } });
  if (buttons.length) { select(Math.max(0, fromHash()), fromHash() >= 0); }
})();
"""
