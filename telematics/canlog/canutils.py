"""can-utils candump -l logs (.log) through python-can's CanutilsLogReader and CanutilsLogWriter."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from telematics.canlog.candump import is_compact_line, read_candump
from telematics.canlog.frame import Frame
from telematics.canlog.pythoncan import read_messages, write_messages
from telematics.canlog.spec import FormatSpec

SUFFIX = ".log"


def _first_line(path: Path) -> str:
    with path.open(encoding="ascii", errors="replace") as handle:
        return next((line.strip() for line in handle if line.strip()), "")


def read(path: Path) -> Iterator[Frame]:
    """python-can for real -l files; console output (candump -ta) saved as .log goes to our own parser."""
    first = _first_line(path)
    if first and not is_compact_line(first):
        return read_candump(path, "absolute")
    return read_messages(path, SUFFIX)


def write(path: Path, frames: Iterable[Frame]) -> int:
    return write_messages(path, SUFFIX, frames)


FORMAT = FormatSpec(
    name="log",
    suffixes=(SUFFIX,),
    read=read,
    write=write,
    timestamp_resolution_s=1e-6,
    description=(
        "can-utils candump -l log through python-can (CanutilsLogReader/CanutilsLogWriter); "
        "console output saved as .log is read by the candump parser"
    ),
)
