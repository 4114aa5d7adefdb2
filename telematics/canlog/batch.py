"""Frames to and from the contract v1 section-5 batch: {"vehicle_id", "frames": [[t, id, data_hex], ...]}."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from telematics.canlog.errors import InvalidFrame
from telematics.canlog.frame import MAX_STANDARD_ID, Frame


def frame_to_row(frame: Frame) -> list[Any]:
    """One frame as the contract's ``[t, id, data_hex]`` triple (lowercase hex)."""
    return [frame.timestamp, frame.arbitration_id, frame.data.hex()]


def frames_to_batch(vehicle_id: str, frames: Iterable[Frame]) -> dict[str, Any]:
    """The contract section-5 value for one vehicle's frames."""
    return {"vehicle_id": vehicle_id, "frames": [frame_to_row(frame) for frame in frames]}


def row_to_frame(row: Any, index: int = 0) -> Frame:
    """A ``[t, id, data_hex]`` triple to a Frame; ids above 0x7FF are taken as 29-bit extended."""
    where = f"frames[{index}]"
    if not isinstance(row, list | tuple) or len(row) != 3:
        raise InvalidFrame(f"{where}: got {row!r}, expected [t, id, data_hex]")
    t, can_id, data_hex = row
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
        raise InvalidFrame(f"{where}[0]: got {t!r}, expected epoch seconds as a finite number")
    if isinstance(can_id, bool) or not isinstance(can_id, int):
        raise InvalidFrame(f"{where}[1]: got {can_id!r}, expected the arbitration id as an integer")
    if not isinstance(data_hex, str) or len(data_hex) % 2 or len(data_hex) > 16:
        raise InvalidFrame(f"{where}[2]: got {data_hex!r}, expected 0-8 bytes as hex text")
    try:
        data = bytes.fromhex(data_hex)
    except ValueError:
        raise InvalidFrame(f"{where}[2]: got {data_hex!r}, expected 0-8 bytes as hex text") from None
    return Frame(timestamp=float(t), arbitration_id=can_id, is_extended=can_id > MAX_STANDARD_ID, data=data)


def batch_to_frames(batch: dict[str, Any]) -> list[Frame]:
    """The frames of one contract section-5 batch."""
    if not isinstance(batch, dict) or not isinstance(batch.get("vehicle_id"), str):
        raise InvalidFrame(f"vehicle_id: got {batch!r:.60}, expected an object with a vehicle_id string")
    rows = batch.get("frames")
    if not isinstance(rows, list):
        raise InvalidFrame(f"frames: got {rows!r:.60}, expected a list of [t, id, data_hex]")
    return [row_to_frame(row, index) for index, row in enumerate(rows)]
