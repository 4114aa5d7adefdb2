"""Vector ASC logs through python-can's ASCReader and ASCWriter."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from telematics.canlog.frame import Frame
from telematics.canlog.pythoncan import read_messages, write_messages
from telematics.canlog.spec import FormatSpec

SUFFIX = ".asc"


def read(path: Path) -> Iterator[Frame]:
    return read_messages(path, SUFFIX, relative_timestamp=False)


def write(path: Path, frames: Iterable[Frame]) -> int:
    return write_messages(path, SUFFIX, frames)


FORMAT = FormatSpec(
    name="asc",
    suffixes=(SUFFIX,),
    read=read,
    write=write,
    timestamp_resolution_s=1e-3,
    description=(
        "Vector ASC (ASCReader/ASCWriter); absolute times come back from the header date, which keeps milliseconds only"
    ),
)
