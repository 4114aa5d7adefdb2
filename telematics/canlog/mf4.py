"""ASAM MDF4 bus logs (.mf4) through python-can's MF4Reader and MF4Writer, when asammdf is installed."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Iterator
from pathlib import Path

from telematics.canlog.errors import FormatUnavailable
from telematics.canlog.frame import Frame
from telematics.canlog.pythoncan import read_messages, write_messages
from telematics.canlog.spec import FormatSpec

SUFFIX = ".mf4"


def available() -> bool:
    """True when python-can's MF4 support can load its asammdf dependency."""
    return importlib.util.find_spec("asammdf") is not None


def _require() -> None:
    if not available():
        raise FormatUnavailable("format: got 'mf4', expected the optional asammdf package (pip install asammdf)")


def read(path: Path) -> Iterator[Frame]:
    _require()
    return read_messages(path, SUFFIX)


def write(path: Path, frames: Iterable[Frame]) -> int:
    _require()
    return write_messages(path, SUFFIX, frames)


FORMAT = FormatSpec(
    name="mf4",
    suffixes=(SUFFIX,),
    read=read,
    write=write,
    timestamp_resolution_s=1e-6,
    description="ASAM MDF4 bus logging (MF4Reader/MF4Writer); needs asammdf",
)
