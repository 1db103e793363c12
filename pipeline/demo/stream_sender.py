"""A live network stream on this machine: a video file's packets sent as MPEG-TS over UDP at the pace
of their timestamps, as a camera or an encoder would send them.

Tests and the live benchmark feed scripts/live.py with it, and it lets a user try live recognition
without a camera:

    python -m pipeline.demo.stream_sender data/demo/match/match.mp4 udp://127.0.0.1:5000 --loops 0 &
    python scripts/live.py --ckpt best.ckpt --source udp://127.0.0.1:5000

The packets are copied, not re-encoded (remuxing costs next to nothing), so the receiver decodes
exactly the file's frames. Looping shifts the timestamps so that they keep increasing.
"""
from __future__ import annotations

import argparse
import threading
import time
from typing import List, Optional


def send_mpegts(path: str, url: str, loops: int = 1, stop: Optional[threading.Event] = None,
                speed: float = 1.0) -> int:
    """Send `path`'s video packets to `url` (udp://host:port) as MPEG-TS, `loops` times (0: until
    `stop` is set), paced by their decoding timestamps at `speed` times real time; returns the packets sent."""
    import av

    stop = stop or threading.Event()
    sent = 0
    with av.open(path) as source, av.open(_with_packet_size(url), "w", format="mpegts") as sink:
        video = source.streams.video[0]
        out = sink.add_stream_from_template(video)
        start = time.monotonic()
        shift, first, last_end, loop = 0, None, 0, 0
        while (loops == 0 or loop < loops) and not stop.is_set():
            if loop:
                source.seek(0, stream=video)
                shift = last_end - first
            for packet in source.demux(video):
                if packet.dts is None or stop.is_set():
                    continue
                first = packet.dts if first is None else first
                dts = packet.dts + shift
                last_end = max(last_end, dts + (packet.duration or 1))
                delay = start + float((dts - first) * video.time_base) / speed - time.monotonic()
                if delay > 0:
                    stop.wait(delay)
                packet.dts, packet.pts = dts, None if packet.pts is None else packet.pts + shift
                packet.stream = out
                sink.mux(packet)
                sent += 1
            loop += 1
    return sent


def _with_packet_size(url: str) -> str:
    """UDP datagrams of 7 TS packets (1316 bytes), as broadcast senders use, unless the URL says otherwise."""
    if url.startswith("udp://") and "pkt_size" not in url:
        return url + ("&" if "?" in url else "?") + "pkt_size=1316"
    return url


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Send a video file over UDP as MPEG-TS at its own pace.")
    parser.add_argument("video")
    parser.add_argument("url", help="e.g. udp://127.0.0.1:5000")
    parser.add_argument("--loops", type=int, default=1, help="times to send it (0: until interrupted)")
    args = parser.parse_args(argv)
    try:
        send_mpegts(args.video, args.url, loops=args.loops)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
