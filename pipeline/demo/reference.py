"""The reference football set: a digest of every clip's decoded frames, for the default parameters, made
on the machine where the demo's figure in the README was measured (demo_checksums.json beside this file).

`compare_with_reference(out_dir)` says whether a generated set shows the same frames. The frames, not the
files' bytes, are compared: the mp4 also names the muxer's version, which changes nothing a model sees.
Other versions of OpenCV (its anti-aliased drawing) or of x264 can change the frames legitimately; the
figure then may differ by a clip or two. Remake the file after a change to the generator with

    python -c "from pipeline.demo.reference import write_reference; write_reference('data/demo/football')"
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Dict, List, Optional, Union

import av
import cv2
import numpy as np

from pipeline.atomic_io import write_text_atomic

PathLike = Union[str, "os.PathLike[str]"]
REFERENCE_PATH = Path(__file__).with_name("demo_checksums.json")
DIGEST_CHARS = 12  # of each clip's SHA-256: enough to tell two clips apart, and the file stays small


def frames_digest(path: PathLike) -> str:
    """SHA-256 (first `DIGEST_CHARS` hex digits) of a video's decoded frames in the stream's own pixel
    format: no colour conversion, whose SIMD code could vary with the CPU."""
    digest = hashlib.sha256()
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            digest.update(np.ascontiguousarray(frame.to_ndarray()).tobytes())
    return digest.hexdigest()[:DIGEST_CHARS]


def library_versions() -> Dict[str, str]:
    """The libraries that make the frames and the bytes, and the machine."""
    return {"av": av.__version__, "libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
            "opencv": cv2.__version__, "numpy": np.__version__, "machine": platform.machine()}


def _manifest(out_dir: Path) -> dict:
    return json.loads((out_dir / "manifest.json").read_text())


def write_reference(out_dir: PathLike, path: PathLike = REFERENCE_PATH) -> Path:
    """Store the digests of the set in `out_dir` (in its manifest's clip order) as the reference."""
    out_dir = Path(out_dir)
    manifest = _manifest(out_dir)
    digests = [frames_digest(out_dir / clip["path"]) for clip in manifest["clips"]]
    reference = {"params": manifest["params"], "made_with": library_versions(), "frames_sha256": digests}
    text = json.dumps({key: value for key, value in reference.items() if key != "frames_sha256"}, indent=1)
    # One line for the digests: the file stays a few kilobytes and a diff of it a few lines.
    text = text[:-2] + ',\n "frames_sha256": ' + json.dumps(digests, separators=(",", ":")) + "\n}\n"
    write_text_atomic(Path(path), text)
    return Path(path)


def compare_with_reference(out_dir: PathLike, path: PathLike = REFERENCE_PATH) -> Optional[str]:
    """One line on how the set in `out_dir` compares with the reference, or None when the set was made
    with other parameters than the reference (nothing to compare)."""
    out_dir = Path(out_dir)
    try:
        reference = json.loads(Path(path).read_text())
        manifest = _manifest(out_dir)
    except (OSError, ValueError):
        return None
    if manifest.get("params") != reference["params"]:
        return None
    expected: List[str] = reference["frames_sha256"]
    differing = 0
    for clip, digest in zip(manifest["clips"], expected):
        try:
            differing += frames_digest(out_dir / clip["path"]) != digest
        except (OSError, av.FFmpegError):
            differing += 1
    if not differing:
        return "the frames are those of the reference set (docs/demo_data.md): the README's figure applies"
    made_with = ", ".join(f"{key} {value}" for key, value in reference["made_with"].items())
    here = ", ".join(f"{key} {value}" for key, value in library_versions().items())
    return (f"note: {differing} of {len(expected)} clips differ from the reference set (made with {made_with}; "
            f"here: {here}), so the test accuracy may differ from the README's by a clip or two")
