"""python-can's SQLite logs (.db, table 'messages') through its SqliteReader and SqliteWriter."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from telematics.canlog.frame import Frame
from telematics.canlog.pythoncan import read_messages, write_messages
from telematics.canlog.spec import FormatSpec

SUFFIX = ".db"


def read(path: Path) -> Iterator[Frame]:
    return read_messages(path, SUFFIX)


def write(path: Path, frames: Iterable[Frame]) -> int:
    return write_messages(path, SUFFIX, frames)


FORMAT = FormatSpec(
    name="db",
    suffixes=(SUFFIX,),
    read=read,
    write=write,
    timestamp_resolution_s=1e-6,
    description="python-can SQLite table 'messages' (SqliteReader/SqliteWriter)",
)
