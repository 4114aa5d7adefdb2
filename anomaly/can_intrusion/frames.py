"""Frames as the detector reads them: (t, can_id, data) triples from Frames, contract rows or tuples."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from telematics.canlog import Frame

Triple = tuple[float, int, bytes]


def as_triples(frames: Iterable[Any]) -> Sequence[Triple]:
    """Accepts canlog Frames, contract ``[t, id, data_hex]`` rows or ``(t, id, bytes)`` tuples (passed through)."""
    if not isinstance(frames, list | tuple):
        frames = list(frames)
    if not frames:
        return frames
    first = frames[0]
    if isinstance(first, Frame):
        return [(f.timestamp, f.arbitration_id, f.data) for f in frames]
    if isinstance(first[2], str):
        return [(float(t), int(can_id), bytes.fromhex(data)) for t, can_id, data in frames]
    return frames
