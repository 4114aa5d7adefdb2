"""Bridge to python-can's log readers and writers: the classes can.LogReader and can.Logger pick by suffix."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import can
from can.io.logger import MESSAGE_WRITERS
from can.io.player import MESSAGE_READERS

from telematics.canlog.frame import Frame


def message_to_frame(message: can.Message) -> Frame:
    """A python-can data frame as a Frame."""
    return Frame(
        timestamp=float(message.timestamp),
        arbitration_id=message.arbitration_id,
        is_extended=message.is_extended_id,
        data=bytes(message.data),
        channel=message.channel,
    )


def frame_to_message(frame: Frame) -> can.Message:
    """A Frame as a python-can message, keeping its channel."""
    return can.Message(
        timestamp=frame.timestamp,
        arbitration_id=frame.arbitration_id,
        is_extended_id=frame.is_extended,
        data=frame.data,
        channel=frame.channel,
    )


def read_messages(path: Path, suffix: str, **options: Any) -> Iterator[Frame]:
    """Data frames of a log through the python-can reader registered for ``suffix``; error and remote frames skipped."""
    with MESSAGE_READERS[suffix](path, **options) as reader:
        for message in reader:
            if not (message.is_error_frame or message.is_remote_frame):
                yield message_to_frame(message)


def write_messages(path: Path, suffix: str, frames: Iterable[Frame], **options: Any) -> int:
    """Write frames through the python-can writer registered for ``suffix``; returns how many were written."""
    count = 0
    with MESSAGE_WRITERS[suffix](path, **options) as writer:
        for frame in frames:
            writer.on_message_received(frame_to_message(frame))
            count += 1
    return count
