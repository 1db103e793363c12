"""Which frames a decoder must touch to output the wanted ones: keyframe positions and the seek rule.

A frame of a long-GOP file can only be decoded from the keyframe before it. Reading sorted wanted
frames, the cheapest order decodes forward while the next wanted frame lies in the GOP the decoder
is in (or the decoder already has its packet), and seeks to the keyframe before it only when that
keyframe lies ahead of the decoder's position: seeking back inside the same GOP would decode its start
again, and decoding on into a later GOP decodes frames a seek skips. Dense requests (a wanted frame
in every GOP) thus become one forward pass, sparse ones a seek per group of wanted frames in one GOP,
and no frame is decoded twice for one request.

Within that pass a decoder that can be told to skip frames (PyAV: `codec_context.skip_frame`) skips
the ones nothing needs: "NONREF" (frames no other frame is predicted from) while a wanted frame is
still to come, "NONKEY" (all but keyframes) when every frame still wanted is a keyframe.
"""
from __future__ import annotations

import bisect
from typing import Optional, Sequence


def keyframe_before(index: int, keyframes: Sequence[int]) -> int:
    """The last keyframe at or before frame `index` (`keyframes`: sorted frame indices, the first 0)."""
    return keyframes[max(bisect.bisect_right(keyframes, index) - 1, 0)]


def seek_target(index: int, position: Optional[int], keyframes: Sequence[int], pending: bool = False) -> Optional[int]:
    """Where to seek before decoding on to frame `index`: a keyframe, or None to go on decoding forward.

    `position` is the frame the decoder outputs next (None: not started, or flushed); `pending` says
    that the decoder has already been given `index`'s packet (its output is on the way)."""
    if position is None:
        return keyframe_before(index, keyframes)
    if index < position:
        return keyframe_before(index, keyframes)
    if pending:
        return None
    key = keyframe_before(index, keyframes)
    return key if key > position else None


def gop_groups(indices: Sequence[int], keyframes: Sequence[int]) -> list[tuple[int, list[int]]]:
    """Sorted wanted `indices` grouped by the GOP they lie in: [(keyframe, [indices in its GOP])]."""
    groups: list[tuple[int, list[int]]] = []
    for index in indices:
        key = keyframe_before(index, keyframes)
        if groups and groups[-1][0] == key:
            groups[-1][1].append(index)
        else:
            groups.append((key, [index]))
    return groups


def keyframe_indices(pts: Sequence[int], key_pts: Sequence[int]) -> tuple[int, ...]:
    """Frame indices of the keyframes, from sorted packet pts and keyframe pts (`base.scan_packets`)."""
    return tuple(bisect.bisect_left(pts, key) for key in key_pts)
