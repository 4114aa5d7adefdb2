"""Registry of log formats by name and by file suffix."""

from __future__ import annotations

from pathlib import Path

from telematics.canlog import asc, blf, candump, canutils, csvlog, mf4, sqlite, trc
from telematics.canlog.errors import UnknownFormat
from telematics.canlog.spec import FormatSpec

FORMATS: tuple[FormatSpec, ...] = (
    asc.FORMAT,
    blf.FORMAT,
    csvlog.FORMAT,
    sqlite.FORMAT,
    canutils.FORMAT,
    mf4.FORMAT,
    trc.FORMAT,
    candump.FORMAT,
    candump.ABSOLUTE_FORMAT,
    candump.DELTA_FORMAT,
)
BY_NAME: dict[str, FormatSpec] = {spec.name: spec for spec in FORMATS}
BY_SUFFIX: dict[str, FormatSpec] = {suffix: spec for spec in FORMATS for suffix in spec.suffixes}
ALIASES = {"candump-l": "candump", "sqlite": "db", "mdf4": "mf4"}


def format_for(path: Path | str, format: str | None = None) -> FormatSpec:
    """The format named by ``format``, or else the one registered for the file's suffix."""
    if format is not None:
        name = ALIASES.get(format.lower(), format.lower())
        if name not in BY_NAME:
            raise UnknownFormat(f"format: got {format!r}, expected one of {', '.join(sorted(BY_NAME))}")
        return BY_NAME[name]
    suffix = Path(path).suffix.lower()
    if suffix not in BY_SUFFIX:
        known = ", ".join(sorted(BY_SUFFIX))
        raise UnknownFormat(
            f"suffix: got {suffix or 'none'!r} for {str(path)!r}, expected one of {known} or a format name"
        )
    return BY_SUFFIX[suffix]
