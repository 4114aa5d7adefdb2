"""The one interface to CAN log files: read and write frames in any registered format."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from telematics.canlog.errors import UnknownFormat
from telematics.canlog.frame import Frame
from telematics.canlog.registry import format_for


def read_frames(path: Path | str, format: str | None = None) -> Iterator[Frame]:
    """Frames of a log file, in file order; the format comes from ``format`` or the file suffix."""
    return format_for(path, format).read(Path(path))


def write_frames(path: Path | str, frames: Iterable[Frame], format: str | None = None) -> int:
    """Write frames to a log file; returns how many were written."""
    spec = format_for(path, format)
    if spec.write is None:
        raise UnknownFormat(f"format: got {spec.name!r}, expected a format with write support")
    return spec.write(Path(path), frames)
