"""What a registered log format is: its name, file suffixes, reader, writer and timestamp resolution."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from telematics.canlog.frame import Frame

Reader = Callable[[Path], Iterator[Frame]]
Writer = Callable[[Path, Iterable[Frame]], int]


@dataclass(frozen=True, slots=True)
class FormatSpec:
    """One log format; ``write`` is None for read-only formats."""

    name: str
    suffixes: tuple[str, ...]
    read: Reader
    write: Writer | None
    timestamp_resolution_s: float
    """How close a written-then-read timestamp comes back (absolute time)."""
    description: str
