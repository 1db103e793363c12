"""review.html: predict.py --timeline and evaluate.py --events write a page that opens from disk and shows each
video in a player under its probability curves, with its events as marks and table rows.

Checked here: which files a browser plays as they are (the rest get a proxy with the same frames at the same
times, or a strip of frames when no proxy can be made, and the page says which); videos linked by their path
relative to the page (a file:// address where none reaches them, said on the page); hostile file names
escaped in the HTML and in the JSON inside <script>; no external resource; an unreadable video listed with
why; evaluate's page with the true and the found events side by side, misses and false alarms marked. A real
headless Chromium, driven over the DevTools protocol, opens the page from file://, plays an event from a
click on its row (an H.264 original and a proxy of a raw AVI), and asks nothing of the network; the test is
skipped where no Chromium is installed (`apt-get install chromium`: the product itself needs no browser).
"""
from __future__ import annotations

import csv
import html
import itertools
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from fractions import Fraction
from pathlib import Path
from typing import Any, Dict, List

import av
import numpy as np
import pytest
from conftest import decode_index, index_frame, make_index_video

from pipeline.demo.video_writer import write_raw_avi
from pipeline.errors import EXIT_SOME_FAILED
from pipeline.inference import review_page
from pipeline.inference.review_media import browser_plays, probe_media, write_proxy
from pipeline.inference.review_page import (
    FALSE_ALARM,
    MATCHED,
    MISSED,
    ReviewEvent,
    ReviewVideo,
    media_url,
    write_review_page,
)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import evaluate as evaluate_script  # noqa: E402  (scripts/evaluate.py)
import predict as predict_script  # noqa: E402  (scripts/predict.py)

FPS = 25.0
HOSTILE = "a \"<b>&'x.mp4"  # quotes, a tag, an ampersand: escaped in the HTML, \u-escaped in the JSON
CLASSES = ["goal", "no_goal"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Dict[str, Path]:
    """A 4-s H.264 mp4 (frames carry their index), a copy under a hostile name, a 3-s raw AVI, an MPEG-4
    part 2 AVI and a text file named .mp4, in one folder."""
    folder = tmp_path_factory.mktemp("footage")
    clip = make_index_video(folder / "clip.mp4", 100, fps=FPS)
    hostile = folder / HOSTILE
    shutil.copy(clip, hostile)
    raw = write_raw_avi(folder / "raw.avi", (index_frame(i) for i in range(75)), fps=FPS)
    mpeg4 = folder / "part2.avi"
    with av.open(str(mpeg4), "w") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for i in range(25):
            for packet in stream.encode(av.VideoFrame.from_ndarray(index_frame(i), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    broken = folder / "notes.mp4"
    broken.write_text("not a video, just text\n")
    return {"clip": clip, "hostile": hostile, "raw": raw, "mpeg4": mpeg4, "broken": broken}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """An untrained goal / no_goal checkpoint (64 px, a tiny GRU): the page does not depend on the model,
    and --threshold 0 makes every video one event of each class."""
    import pytorch_lightning as pl

    from pipeline.core.module import VideoClassifierModule

    path = tmp_path_factory.mktemp("model") / "model.ckpt"
    pl.seed_everything(0)
    model = VideoClassifierModule(class_names=CLASSES, input_size=64, hidden_size=8, backbone_precision="fp32")
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(str(path))
    return path


def _timeline(duration: float, window: float = 1.0, stride: float = 0.5):
    starts = np.arange(0.0, duration - window + 1e-9, stride)
    times = np.stack([starts, starts + window], axis=1)
    p = (np.sin(starts) + 1) / 2
    return times, np.stack([p, 1 - p], axis=1)


def _entries(page: str) -> List[Dict[str, Any]]:
    """The JSON of each video, parsed as the page's script parses it."""
    found = re.findall(r'<script type="application/json" id="review-video-(\d+)">(.*?)</script>', page, re.S)
    assert [int(i) for i, _ in found] == list(range(len(found)))
    return [json.loads(text) for _, text in found]


def _assert_self_contained(page: str) -> None:
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:[a-z]+:)?//""", page, re.I)
    assert "<link" not in page and "@import" not in page and "@font-face" not in page


def _resolves_to(page: Path, src: str, video: Path) -> bool:
    """`src` is a relative address from the page that reaches `video`."""
    assert not src.startswith(("/", "file:")) and "://" not in src, src
    return (page.parent / urllib.parse.unquote(src)).resolve() == video.resolve()


# ------------------------------------------------------------------------------------ what a browser plays

def test_browsers_play_h264_in_mp4_and_the_rest_gets_a_proxy(videos, tmp_path):
    assert browser_plays(videos["clip"], probe_media(videos["clip"]))
    assert browser_plays(videos["hostile"], probe_media(videos["hostile"]))
    raw, mpeg4 = probe_media(videos["raw"]), probe_media(videos["mpeg4"])
    assert (raw.codec, raw.container) == ("rawvideo", "avi") and not browser_plays(videos["raw"], raw)
    assert mpeg4.codec == "mpeg4" and not browser_plays(videos["mpeg4"], mpeg4)
    mov = shutil.copy(videos["clip"], tmp_path / "clip.mov")  # the same H.264, where Firefox may refuse it
    assert not browser_plays(mov, probe_media(mov))
    with pytest.raises(ValueError, match=r"notes\.mp4: PyAV cannot open it"):
        probe_media(videos["broken"])


def test_a_proxy_keeps_every_frame_at_the_time_the_timeline_gave_it(videos, tmp_path):
    proxy = write_proxy(videos["raw"], tmp_path / "raw.proxy.mp4")
    info = probe_media(proxy)
    assert browser_plays(proxy, info) and (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    with av.open(str(proxy)) as container:
        frames = [(frame.time, decode_index(frame.to_ndarray(format="rgb24")))
                  for frame in container.decode(video=0)]
    assert [index for _, index in frames] == list(range(75))
    assert all(abs(t - i / FPS) < 1e-3 for t, i in frames)  # frame i at i / fps: the timeline's clock


# ----------------------------------------------------------------------------------------------- the page

def test_the_page_links_videos_relatively_escapes_names_and_needs_no_network(videos, tmp_path):
    times, probs = _timeline(4.0)
    hour_times, hour_probs = _timeline(3600.0)
    page_path = tmp_path / "out" / "deep" / "review.html"
    result = write_review_page(page_path, [
        ReviewVideo(str(videos["hostile"]), "hostile", CLASSES, times, probs, ["goal"], {"goal": 0.7},
                    [ReviewEvent("goal", 2.0, 3.0, 2.5, 0.9)], duration=4.0),
        ReviewVideo(str(videos["clip"]), "clip", CLASSES, hour_times, hour_probs, ["goal"], {"goal": 0.7},
                    [ReviewEvent("goal", 1800.0, 1830.0, 1810.0, 0.8)], duration=3600.0),
        ReviewVideo(str(videos["broken"]), "notes", error="decode_error: pyav: Invalid data"),
    ], title="Review: a </script><!-- test", meta=["checkpoint <m>.ckpt"])
    assert result.path == page_path and result.shown == {"original": 2, "unreadable": 1}
    page = page_path.read_text(encoding="utf-8")
    _assert_self_contained(page)
    assert html.escape(HOSTILE) in page and HOSTILE not in page and "<b>" not in page
    assert "&lt;/script&gt;&lt;!-- test" in page and "checkpoint &lt;m&gt;.ckpt" in page
    for _, text in re.findall(r'<script type="application/json" id="review-video-(\d+)">(.*?)</script>', page, re.S):
        assert "</" not in text and "<!--" not in text and "<" not in text and "&" not in text
    hostile, hour, broken = _entries(page)
    assert hostile["name"] == HOSTILE and hostile["path"] == str(videos["hostile"])
    assert hostile["media"]["kind"] == "original"
    assert _resolves_to(page_path, hostile["media"]["src"], videos["hostile"])
    assert hostile["media"]["src"].startswith("../../") and "%22%3Cb%3E%26%27" in hostile["media"]["src"]
    assert hostile["events"] == [[1, 0, 2.0, 3.0, 2.5, 0.9, None]] and hostile["curves"][0]["thr"] == 0.7
    assert hour["duration"] == 3600.0 and hour["t"] == {"t0": 0.5, "dt": 0.5, "n": 7199, "more": []}
    assert all(isinstance(v, int) and 0 <= v <= 1000 for v in hour["curves"][0]["p"])  # compact: per mille
    assert broken["error"].startswith("decode_error") and broken["media"] == {"kind": "none"}
    assert re.search(r'<span class="name">notes\.mp4</span><span class="counts">unreadable', page)
    assert 'preload: "metadata"' in page and page.count("<video") == 0  # the script builds one player


def test_a_video_no_relative_path_reaches_is_linked_by_its_file_uri_and_the_page_says_so(videos, tmp_path,
                                                                                         monkeypatch):
    def other_drive(path, start=None):
        raise ValueError("path is on mount 'D:', start on mount 'C:'")

    monkeypatch.setattr(review_page.os.path, "relpath", other_drive)
    times, probs = _timeline(4.0)
    page_path = tmp_path / "review.html"
    write_review_page(page_path, [ReviewVideo(str(videos["clip"]), "clip", CLASSES, times, probs)], "Review")
    (entry,) = _entries(page_path.read_text(encoding="utf-8"))
    assert entry["media"]["src"] == videos["clip"].resolve().as_uri()
    assert any("absolute address" in note and "no relative path" in note for note in entry["notes"])
    assert media_url(videos["clip"], tmp_path) == (videos["clip"].resolve().as_uri(), False)


def test_a_video_a_browser_cannot_play_gets_a_proxy_else_a_strip_and_the_page_says_which(videos, tmp_path,
                                                                                         monkeypatch):
    times, probs = _timeline(3.0)
    events = [ReviewEvent("goal", 1.0, 2.0, 1.5, 0.8)]
    page_path = tmp_path / "review.html"
    entry = [ReviewVideo(str(videos["raw"]), "raw", CLASSES, times, probs, detected=events),
             ReviewVideo(str(videos["mpeg4"]), "part2", CLASSES, times[:2], probs[:2])]
    assert write_review_page(page_path, entry, "Review").shown == {"proxy": 2}
    raw, mpeg4 = _entries(page_path.read_text(encoding="utf-8"))
    assert raw["media"] == {"kind": "proxy", "src": "review_media/raw.proxy.mp4"}
    assert (tmp_path / "review_media" / "raw.proxy.mp4").is_file()
    assert any("Playing a proxy" in note and "rawvideo (bgr24) in avi" in note for note in raw["notes"])
    assert any("mpeg4 (yuv420p) in avi" in note for note in mpeg4["notes"])

    def no_encoder(*args, **kwargs):
        raise ValueError("this PyAV has neither an H.264 nor a VP8 encoder")

    monkeypatch.setattr(review_page, "write_proxy", no_encoder)
    (tmp_path / "review_media" / "raw.proxy.mp4").unlink()
    assert write_review_page(page_path, entry[:1], "Review").shown == {"strip": 1}
    page = page_path.read_text(encoding="utf-8")
    (raw,) = _entries(page)
    assert raw["media"]["kind"] == "strip" and raw["media"]["src"] == "review_media/raw.strip.png"
    assert raw["media"]["times"][0] == 0.0 and (tmp_path / "review_media" / "raw.strip.png").stat().st_size > 1000
    assert any("strip of frames" in note and "neither an H.264" in note for note in raw["notes"])
    assert '<span class="tag">strip</span>' in page

    def no_frames(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(review_page, "write_strip", no_frames)
    assert write_review_page(page_path, entry[:1], "Review").shown == {"none": 1}
    (raw,) = _entries(page_path.read_text(encoding="utf-8"))
    assert any("Nothing to play" in note and "disk full" in note for note in raw["notes"])
    assert raw["curves"] and raw["events"], "the curve and the events are still shown"


# ------------------------------------------------------------------------------------ the scripts write it

def test_predict_timeline_writes_review_html_beside_events_csv(videos, checkpoint, tmp_path, capsys):
    out = tmp_path / "preds.csv"
    inputs = [videos["clip"], videos["hostile"], videos["raw"], videos["broken"]]
    code = predict_script.main(["--ckpt", str(checkpoint), "--input", *map(str, inputs), "--output", str(out),
                                "--timeline", "--window", "0.8", "--stride", "0.4", "--threshold", "0",
                                "--workers", "0", "--device", "cpu", "--no-progress"])
    assert code == EXIT_SOME_FAILED  # notes.mp4 cannot be read
    folder = tmp_path / "preds_timeline"
    page_path = folder / "review.html"
    assert (folder / "events.csv").is_file() and page_path.is_file()
    printed = capsys.readouterr().out
    assert f"review: {page_path} (4 videos, 1 through a proxy a browser plays, 1 unreadable, listed" in printed
    page = page_path.read_text(encoding="utf-8")
    _assert_self_contained(page)
    assert html.escape(HOSTILE) in page and HOSTILE not in page
    entries = {Path(e["path"]).name: e for e in _entries(page)}
    assert set(entries) == {"clip.mp4", HOSTILE, "raw.avi", "notes.mp4"}
    for name in ("clip.mp4", HOSTILE):
        entry = entries[name]
        assert entry["media"]["kind"] == "original"
        assert _resolves_to(page_path, entry["media"]["src"], videos["clip" if name == "clip.mp4" else "hostile"])
        with open(folder / f"{Path(name).stem}.events.csv", newline="", encoding="utf-8") as handle:
            written = [[r["label"], float(r["start"]), float(r["end"])] for r in csv.DictReader(handle)]
        assert sorted([entry["labels"][e[1]], e[2], e[3]] for e in entry["events"]) == sorted(written)
        assert [entry["labels"][c["l"]] for c in entry["curves"]] == CLASSES and entry["duration"] == 4.0
    raw = entries["raw.avi"]
    assert raw["media"] == {"kind": "proxy", "src": "review_media/raw.proxy.mp4"}
    assert (folder / "review_media" / "raw.proxy.mp4").is_file()
    assert any("rawvideo" in note for note in raw["notes"])
    broken = entries["notes.mp4"]
    assert broken["error"] and broken["media"] == {"kind": "none"} and "t" not in broken
    assert "windows of 0.8 s every 0.4 s" in page and "events of goal: p ≥ 0" in page


def test_evaluate_events_review_shows_the_true_and_the_found_events_side_by_side(videos, checkpoint, tmp_path):
    events = tmp_path / "events.csv"
    with open(events, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video", "label", "start", "end"])
        writer.writerows([[str(videos["clip"]), "goal", 0, 4.0],  # the whole-video detection matches it
                          [str(videos["clip"]), "goal", 1.0, 2.0],  # tIoU 0.25: missed
                          [str(videos["hostile"]), "goal", 0.4, 0.8],  # missed; its detection a false alarm
                          [str(videos["broken"]), "goal", 1.0, 2.0]])
    out = tmp_path / "eval"
    code = evaluate_script.main(["--ckpt", str(checkpoint), "--events", str(events), "--output", str(out),
                                 "--window", "0.8", "--stride", "0.4", "--threshold", "0", "--device", "cpu",
                                 "--workers", "0", "--mistakes", "0"])
    assert code == EXIT_SOME_FAILED
    page_path = out / "review.html"
    assert (out / "report.html").is_file() and page_path.is_file()
    assert '<a href="review.html">review.html</a>' in (out / "report.html").read_text(encoding="utf-8")
    page = page_path.read_text(encoding="utf-8")
    _assert_self_contained(page)
    clip, hostile, broken = _entries(page)
    assert clip["truth"] and hostile["truth"]
    assert _resolves_to(page_path, clip["media"]["src"], videos["clip"])
    lanes = {(e[0], e[2], e[3], e[6]) for e in clip["events"]}
    assert lanes == {(0, 0.0, 4.0, MATCHED), (0, 1.0, 2.0, MISSED), (1, 0.0, 4.0, MATCHED)}
    assert {(e[0], e[6]) for e in hostile["events"]} == {(0, MISSED), (1, FALSE_ALARM)}
    assert broken["error"] and "notes.mp4" in broken["path"]
    assert "2 true, 1 found, 1 missed</span>" in page and "1 true, 1 found, 1 missed, 1 false</span>" in page
    assert re.search(r'<span class="name">notes\.mp4</span><span class="counts">unreadable', page)


# --------------------------------------------------------------------------------------- a real browser

def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium or Chrome installed (apt-get install chromium): the page's script is not run")


class HeadlessChromium:
    """A headless Chromium driven over the DevTools protocol (one page, flattened session)."""

    def __init__(self, binary: str, profile: Path) -> None:
        websocket = pytest.importorskip("websocket", reason="websocket-client (the test extra) is not installed")
        self.process = subprocess.Popen(
            [binary, "--headless=new", "--remote-debugging-port=0", f"--user-data-dir={profile}", "--no-sandbox",
             "--autoplay-policy=no-user-gesture-required", "--no-first-run", "--no-default-browser-check",
             "--disable-gpu", "--mute-audio", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and len(port_file.read_text().split()) >= 2):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                pytest.fail(f"{binary} did not open its DevTools port within 60 s")
            time.sleep(0.1)
        port, path = port_file.read_text().split()[:2]
        self.socket = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=60, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: List[Dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            self.page(f"{domain}.enable")
        self.page("Emulation.setDeviceMetricsOverride", width=1280, height=1000, deviceScaleFactor=1, mobile=False)

    def call(self, method: str, session: str = "", **params: Any) -> Dict[str, Any]:
        number = next(self.ids)
        self.socket.send(json.dumps({"id": number, "method": method, "params": params,
                                     **({"sessionId": session} if session else {})}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == number:
                assert "error" not in message, (method, message["error"])
                return message["result"]
            self.events.append(message)

    def page(self, method: str, **params: Any) -> Dict[str, Any]:
        return self.call(method, self.session, **params)

    def js(self, expression: str) -> Any:
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.05)
        pytest.fail(f"waited {timeout:g} s for {what}: {self.js('JSON.stringify(window.__state && __state())')}")

    def click(self, selector: str) -> None:
        """A real mouse click (press and release) at the middle of the element."""
        box = self.js(f"(function () {{ var e = document.querySelector({json.dumps(selector)}); "
                      "e.scrollIntoView({block: 'center'}); var r = e.getBoundingClientRect(); "
                      "return [r.left + r.width / 2, r.top + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.page("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def close(self) -> None:
        if getattr(self, "socket", None) is not None:
            self.socket.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def chromium(tmp_path):
    binary = _chromium()
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
    browser = HeadlessChromium(binary, profile)
    yield browser
    browser.close()
    shutil.rmtree(profile, ignore_errors=True)


def _play_event(browser: HeadlessChromium, start: float) -> None:
    """Click the row of the event that starts at `start`; the player must seek there, then play on. The click
    waits for the video's metadata: until then the player's height, and so the rows' places, may change."""
    browser.wait_for("document.querySelector('video').readyState >= 1", "the video's metadata")
    browser.js("window.__seeks = []; var v = document.querySelector('video'); "
               "v.addEventListener('seeked', function () { __seeks.push(v.currentTime); }); "
               "window.__state = function () { return {t: v.currentTime, paused: v.paused, ready: v.readyState, "
               "error: v.error && v.error.code, width: v.videoWidth, seeks: __seeks, src: v.currentSrc}; }; true")
    browser.click(f'table.events tbody tr[data-start="{start:g}"]')
    browser.wait_for(f"__seeks.some(function (t) {{ return Math.abs(t - {start}) < 0.3; }})",
                     f"the player to seek to the event's start, {start} s")
    browser.wait_for(f"var v = document.querySelector('video'); !v.error && v.videoWidth > 0 && "
                     f"(v.currentTime > {start} + 0.1 || v.ended)", "the video to play from the event's start")


def test_in_chromium_a_click_on_an_event_plays_it_from_its_start_with_nothing_from_the_network(videos, chromium,
                                                                                               tmp_path):
    times, probs = _timeline(4.0)
    hour_times, hour_probs = _timeline(3600.0)
    entries = [
        ReviewVideo(str(videos["clip"]), "clip", CLASSES, times, probs, ["goal"], {"goal": 0.6},
                    [ReviewEvent("goal", 0.5, 1.0, 0.7, 0.7, MATCHED), ReviewEvent("goal", 2.0, 3.0, 2.5, 0.9,
                                                                                   FALSE_ALARM)],
                    [ReviewEvent("goal", 0.4, 1.1, result=MATCHED), ReviewEvent("goal", 3.5, 3.5, result=MISSED)],
                    duration=4.0),
        ReviewVideo(str(videos["raw"]), "raw", CLASSES, times[:5], probs[:5], ["goal"], {"goal": 0.6},
                    [ReviewEvent("goal", 1.2, 2.2, 1.7, 0.8)], duration=3.0),
        ReviewVideo(str(videos["hostile"]), "hostile", CLASSES, hour_times, hour_probs, ["goal", "no_goal"],
                    {"goal": 0.6, "no_goal": 0.4}, [ReviewEvent("goal", 1.5, 1800.0, 900.0, 0.99)], duration=3600.0),
        ReviewVideo(str(videos["broken"]), "notes", error="decode_error: not a video"),
        *(ReviewVideo(str(videos["clip"]), f"copy{i}", CLASSES, times, probs) for i in range(150)),
    ]
    page_path = tmp_path / "site" / "review.html"
    write_review_page(page_path, entries, f"Review of {HOSTILE}")
    chromium.page("Page.navigate", url=page_path.as_uri())
    chromium.wait_for("document.readyState === 'complete' && !!document.querySelector('video')", "the page")
    assert chromium.js("document.querySelectorAll('#video-list button').length") == len(entries)
    assert chromium.js("document.querySelector('h1').textContent") == f"Review of {HOSTILE}"

    _play_event(chromium, 2.0)  # the H.264 original
    chromium.click('table.events tbody tr[data-start="2"]')  # the same event again: pauses
    chromium.wait_for("document.querySelector('video').paused", "a second click to pause the player")

    chromium.click('#video-list button[data-i="1"]')  # the raw AVI: its proxy plays
    chromium.wait_for("document.querySelector('h2').textContent === 'raw.avi'", "the raw AVI to be shown")
    assert chromium.js("document.querySelector('video').getAttribute('src')") == "review_media/raw.proxy.mp4"
    assert "Playing a proxy" in chromium.js("document.querySelector('.note').textContent")
    _play_event(chromium, 1.2)

    chromium.click('#video-list button[data-i="2"]')  # an hour of windows, a hostile name
    chromium.wait_for(f"document.querySelector('h2').textContent === {json.dumps(HOSTILE)}", "the hour-long one")
    assert chromium.js("document.querySelector('canvas').height") > 100
    _play_event(chromium, 1.5)
    chromium.click('#video-list button[data-i="3"]')  # unreadable: listed with why, no player
    chromium.wait_for("document.querySelector('.error') !== null", "the unreadable video's reason")
    assert "decode_error" in chromium.js("document.querySelector('.error').textContent")
    assert chromium.js("document.querySelectorAll('video').length") == 0

    chromium.click('#video-list button[data-i="40"]')  # only the shown video has a player
    chromium.wait_for("document.querySelectorAll('video').length === 1", "one player for the picked video")
    thrown = [e["params"] for e in chromium.events if e.get("method") == "Runtime.exceptionThrown"]
    assert not thrown, thrown
    requested = [e["params"]["request"]["url"] for e in chromium.events
                 if e.get("method") == "Network.requestWillBeSent"]
    assert any(url.endswith("review_media/raw.proxy.mp4") for url in requested)
    assert all(url.split(":", 1)[0] in ("file", "data", "about", "blob") for url in requested), requested
