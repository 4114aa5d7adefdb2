"""Bridge to python-can's log readers and writers: the classes can.LogReader and can.Logger pick by suffix.

python-can is imported when a log is first read or written through it: importing it pulls in its MF4 support
(asammdf, sympy, pandas), two thirds of a second that a replay of telemetry and can.jsonl never needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telematics.canlog.frame import Frame

if TYPE_CHECKING:
    import can


def message_to_frame(message: can.Message) -> Frame:
    """A python-can data frame as a Frame."""
    return Frame(
        timestamp=float(message.timestamp),
        arbitration_id=message.arbitration_id,
        is_extended=message.is_extended_id,
        data=bytes(message.data),
        channel=message.channel if message.channel is None or isinstance(message.channel, str | int)
        else str(message.channel),
    )


def frame_to_message(frame: Frame) -> can.Message:
    """A Frame as a python-can message, keeping its channel."""
    import can

    return can.Message(
        timestamp=frame.timestamp,
        arbitration_id=frame.arbitration_id,
        is_extended_id=frame.is_extended,
        data=frame.data,
        channel=frame.channel,
    )


def read_messages(path: Path, suffix: str, **options: Any) -> Iterator[Frame]:
    """Data frames of a log through the python-can reader registered for ``suffix``; error and remote frames skipped."""
    from can.io.player import MESSAGE_READERS

    with MESSAGE_READERS[suffix](path, **options) as reader:
        for message in reader:
            if not (message.is_error_frame or message.is_remote_frame):
                yield message_to_frame(message)


def write_messages(path: Path, suffix: str, frames: Iterable[Frame], **options: Any) -> int:
    """Write frames through the python-can writer registered for ``suffix``; returns how many were written."""
    from can.io.logger import MESSAGE_WRITERS

    count = 0
    with MESSAGE_WRITERS[suffix](path, **options) as writer:
        for frame in frames:
            writer.on_message_received(frame_to_message(frame))
            count += 1
    return count
