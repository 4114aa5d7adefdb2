"""Readers of a fleet's own recorded traces (CSV, GPX, NMEA) into device reports, one module per format."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from telematics.errors import BadInput
from telematics.timeutil import EPOCH


class TraceFormatError(BadInput):
    """A trace file cannot be read at all (unknown format, missing column, unreadable)."""


@dataclass(frozen=True)
class Rejected:
    """One line or point of a trace that could not be turned into a record, and why."""

    where: str
    reason: str


def epoch_ms(moment: datetime) -> int:
    """An aware datetime (naive ones are taken as UTC) to epoch milliseconds, sub-milliseconds cut off."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (aware - EPOCH) // timedelta(milliseconds=1)
