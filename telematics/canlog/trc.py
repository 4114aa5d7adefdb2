"""PEAK PCAN trace files (.trc) through python-can's TRCReader and TRCWriter."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from telematics.canlog.frame import Frame
from telematics.canlog.pythoncan import read_messages, write_messages
from telematics.canlog.spec import FormatSpec

SUFFIX = ".trc"


def read(path: Path) -> Iterator[Frame]:
    return read_messages(path, SUFFIX)


def write(path: Path, frames: Iterable[Frame]) -> int:
    return write_messages(path, SUFFIX, frames)


FORMAT = FormatSpec(
    name="trc",
    suffixes=(SUFFIX,),
    read=read,
    write=write,
    timestamp_resolution_s=1e-6,
    description="PEAK PCAN-View trace (TRCReader/TRCWriter)",
)
