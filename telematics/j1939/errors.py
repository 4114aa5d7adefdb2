"""Exceptions of the J1939 codec, each naming the field, the value and what was expected."""

from __future__ import annotations

from telematics.errors import BadInput


class J1939Error(BadInput):
    """Base class of every J1939 codec error."""


class InvalidCanId(J1939Error):
    """A CAN id is not a valid 29-bit J1939 identifier."""


class InvalidAddress(J1939Error):
    """A source or destination address is outside 0-255, or given where the PGN has none."""


class UnknownMessage(J1939Error):
    """A message name or PGN is not in the truckguard J1939 database."""


class InvalidSignalValue(J1939Error):
    """A physical signal value cannot be encoded in its field."""


class FrameLengthError(J1939Error):
    """A frame of a known PGN carries fewer data bytes than the message needs."""


class TransportError(J1939Error):
    """A transport-protocol (TP.CM / TP.DT) session or payload is malformed."""
