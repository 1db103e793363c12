"""What the live tests of outages and alerts share: a small real checkpoint, MPEG-TS parts of index frames,
a UDP sender that falls silent between parts, UDP port helpers, and a local HTTP server that records what
is POSTed to it (optionally answering slowly)."""
from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence

import av
import pytorch_lightning as pl
from conftest import index_frame

from pipeline.core.module import VideoClassifierModule
from pipeline.data.datamodule import VideoDataModule
from pipeline.demo import generate_direction_dataset
from pipeline.demo.video_writer import write_video
from pipeline.inference.timeline import TimelineOptions

FPS = 25.0
# Windows of 1 s every 0.36 s, as tests/test_live.py's; threshold 0 on one class: every window is at or above it,
# so each continuous stretch of at least min_duration is exactly one event (known events, whatever the model says).
EVENTS = TimelineOptions(window=1.0, stride=0.36, threshold=0.0, min_duration=0.5, merge_gap=0.4,
                         event_classes=("left_to_right",))
# What differs between two runs over the same frames: when, not what.
TIMING_KEYS = {"wall_time", "latency_ms"}


def make_checkpoint(folder: Path) -> Path:
    """A small real checkpoint (one epoch of the direction set): these tests are about streaming, not accuracy."""
    root = generate_direction_dataset(folder / "data", n_train=4, n_val=2, n_test=2, size=64, num_frames=8, seed=3)
    pl.seed_everything(0, workers=True)
    data = VideoDataModule(root=str(root), clip_len=6, batch_size=4, num_workers=0, cache_features=False)
    model = VideoClassifierModule(class_names=data.class_names, sampling=data.sampling, input_size=64,
                                  hidden_size=16)
    data.attach_model(model.preprocessing, model.frozen_backbone)
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_checkpointing=False,
                         default_root_dir=str(folder))
    trainer.fit(model, datamodule=data)
    trainer.save_checkpoint(folder / "model.ckpt")
    return folder / "model.ckpt"


def make_parts(folder: Path) -> Dict[str, Path]:
    """MPEG-TS files of index frames at 25 fps: part1 (frames 0-99, 4 s) and part2 (100-174, 3 s)."""
    return {
        "part1": write_video(folder / "part1.ts", [index_frame(i) for i in range(100)], fps=FPS),
        "part2": write_video(folder / "part2.ts", [index_frame(i) for i in range(100, 175)], fps=FPS),
    }


# ---------------------------------------------------------------------- UDP


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def udp_bound(port: int) -> bool:
    """Whether a socket on this machine is bound to UDP `port` (Linux: /proc/net/udp)."""
    with open("/proc/net/udp") as table:
        return any(line.split()[1].endswith(f":{port:04X}") for line in list(table)[1:])


def wait_bound(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not udp_bound(port):
        assert time.monotonic() < deadline, f"nothing listens on UDP port {port}"
        time.sleep(0.01)


def send_with_silence(parts: Sequence[Path], url: str, silence: float, timestamps: str = "restart") -> Dict[str, float]:
    """Send `parts` as one live MPEG-TS stream over UDP at real-time pace, silent for `silence` seconds between
    two parts: `timestamps` "restart" (each part a new stream from its own timestamps, as a sender started
    again), "jump" (one stream whose timestamps jump by the silence, as a camera's clock) or "continue" (one
    stream whose timestamps go on as if nothing happened). Returns when (time.monotonic()) the sender went
    silent and spoke again, as "silent" and "back" lists."""
    times: Dict[str, List[float]] = {"silent": [], "back": []}
    if timestamps == "restart":
        from pipeline.demo.stream_sender import send_mpegts

        for i, part in enumerate(parts):
            if i:
                time.sleep(silence)
                times["back"].append(time.monotonic())
            send_mpegts(str(part), url)
            times["silent"].append(time.monotonic())
        return times
    with av.open(url + "?pkt_size=1316", "w", format="mpegts") as sink:
        out, start, first, end, paused = None, None, None, 0, 0.0
        for i, part in enumerate(parts):
            with av.open(str(part)) as source:
                video = source.streams.video[0]
                out = out or sink.add_stream_from_template(video)
                if i:
                    times["silent"].append(time.monotonic())
                    time.sleep(silence)
                    times["back"].append(time.monotonic())
                    paused += silence
                shift = None
                for packet in source.demux(video):
                    if packet.dts is None:
                        continue
                    if shift is None:  # this part's timestamps go on from the last part's end (+ the silence)
                        shift = end - packet.dts + (round(paused / video.time_base) if timestamps == "jump" else 0)
                    dts = packet.dts + shift
                    first = dts if first is None else first
                    start = time.monotonic() if start is None else start
                    end = max(end, dts + (packet.duration or 1))
                    pace_dts = dts - (round(paused / video.time_base) if timestamps == "jump" else 0)
                    delay = start + paused + float((pace_dts - first) * video.time_base) - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    packet.dts, packet.pts = dts, None if packet.pts is None else packet.pts + shift
                    packet.stream = out
                    sink.mux(packet)
    return times


# ---------------------------------------------------------------------- a webhook


class _Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server = self.server
        if server.delay:  # type: ignore[attr-defined]
            time.sleep(server.delay)  # type: ignore[attr-defined]
        server.received.append({"content_type": self.headers.get("Content-Type"),  # type: ignore[attr-defined]
                                "record": json.loads(body)})
        status = server.status  # type: ignore[attr-defined]
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def webhook_server(delay: float = 0.0, status: int = 200) -> Iterator[Any]:
    """A local HTTP server (port 0, in a thread) that keeps every POSTed JSON body in `.received`, answers
    `status` after sleeping `delay` seconds; its URL is `.url`."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.daemon_threads = True
    server.received, server.delay, server.status = [], delay, status  # type: ignore[attr-defined]
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hook"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    """An http URL on a TCP port nothing listens on (a receiver that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def without_timing(records: List[Dict[str, Any]], drop: Sequence[str] = ()) -> List[Dict[str, Any]]:
    """The records' content, without what says when they were made (and the keys in `drop`); no summary."""
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS and k not in drop} for r in records
            if r["type"] != "summary"]
