"""Exceptions of the CAN log readers and writers, each naming the field, the value and what was expected."""

from __future__ import annotations

from telematics.errors import BadInput


class CanLogError(BadInput):
    """Base class of every CAN log error."""


class UnknownFormat(CanLogError):
    """No reader or writer is registered for a format name or file suffix."""


class FormatUnavailable(CanLogError):
    """The format is known but its optional dependency is not installed."""


class LogParseError(CanLogError):
    """A line or record of a log file does not match its format."""

    def __init__(self, source: str, line_number: int, line: str, expected: str) -> None:
        shown = line if len(line) <= 80 else line[:77] + "..."
        super().__init__(f"{source} line {line_number}: got {shown!r}, expected {expected}")
        self.source = source
        self.line_number = line_number


class InvalidFrame(CanLogError):
    """A frame or a contract batch holds a value outside the CAN limits."""
