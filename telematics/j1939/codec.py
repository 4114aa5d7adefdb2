"""Decode and encode single J1939 frames of any source address against the truckguard DBC."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from telematics.j1939.database import J1939Database, MessageSpec, SignalSpec, default_database
from telematics.j1939.errors import FrameLengthError, InvalidSignalValue
from telematics.j1939.ids import make_can_id, parse_can_id

SignalValue = int | float | None


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """One decoded frame. A signal is None when the sender marked it not available or in error."""

    pgn: int
    name: str
    sa: int
    da: int
    """Destination address; 255 (global) for PDU2 PGNs, which are always broadcast."""
    priority: int
    signals: dict[str, SignalValue]
    errors: frozenset[str] = field(default_factory=frozenset)
    """Names of signals whose raw value was the J1939 error indicator (they are None in ``signals``)."""


def _availability(signal: SignalSpec, raw: int) -> str | None:
    """'na' or 'error' when the raw value is J1939's not-available or error indicator, else None."""
    if signal.raw:
        return None
    if signal.length >= 8:
        top = raw >> (signal.length - 8)
        return "na" if top == 0xFF else "error" if top == 0xFE else None
    if raw == signal.mask:
        return "na"
    if signal.length >= 2 and raw == signal.mask - 1:
        return "error"
    return None


def _physical(signal: SignalSpec, raw: int) -> int | float:
    if signal.integral:
        # integer arithmetic keeps 56-bit protocol fields (TP.DT data) exact
        return raw * int(signal.scale) + int(signal.offset)
    # nine decimals hide binary noise (504 * 0.05 = 25.200000000000003) and keep every J1939 resolution
    return round(raw * signal.scale + signal.offset, 9)


def decode_payload(spec: MessageSpec, data: bytes) -> tuple[dict[str, SignalValue], frozenset[str]]:
    """Signals of one message from its data bytes; raises FrameLengthError when too few bytes."""
    if len(data) < spec.length:
        raise FrameLengthError(
            f"data: {spec.name} (PGN {spec.pgn}) got {len(data)} bytes ({bytes(data).hex()}), expected {spec.length}"
        )
    word = int.from_bytes(data[: spec.length], "little")
    signals: dict[str, SignalValue] = {}
    errors: list[str] = []
    for signal in spec.signals:
        raw = (word >> signal.start) & signal.mask
        state = _availability(signal, raw)
        if state is None:
            signals[signal.name] = _physical(signal, raw)
        else:
            signals[signal.name] = None
            if state == "error":
                errors.append(signal.name)
    return signals, frozenset(errors)


def decode_frame(can_id: int, data: bytes, database: J1939Database | None = None) -> DecodedFrame | None:
    """Decode a 29-bit J1939 frame from any source address; None when its PGN is not in the database."""
    fields = parse_can_id(can_id)
    spec = (database or default_database()).by_pgn.get(fields.pgn)
    if spec is None:
        return None
    signals, errors = decode_payload(spec, data)
    return DecodedFrame(
        pgn=fields.pgn,
        name=spec.name,
        sa=fields.sa,
        da=fields.da,
        priority=fields.priority,
        signals=signals,
        errors=errors,
    )


def _raw_value(spec: MessageSpec, signal: SignalSpec, value: SignalValue) -> int:
    where = f"{spec.name}.{signal.name}"
    if value is None:
        return signal.mask
    if not isinstance(value, int | float) or (isinstance(value, float) and not math.isfinite(value)):
        raise InvalidSignalValue(f"{where}: got {value!r}, expected a finite number or None (not available)")
    low = signal.minimum if signal.minimum is not None else signal.offset
    high = signal.maximum if signal.maximum is not None else signal.mask * signal.scale + signal.offset
    tolerance = signal.scale / 2
    if not low - tolerance <= value <= high + tolerance:
        raise InvalidSignalValue(f"{where}: got {value!r}, expected {low:g} to {high:g}")
    if isinstance(value, int) and signal.scale == 1 and signal.integral:
        raw = value - int(signal.offset)  # exact for 56-bit protocol fields, where floats would round
    else:
        raw = round((value - signal.offset) / signal.scale)
    return min(max(raw, 0), signal.mask)


def encode_payload(spec: MessageSpec, signals: Mapping[str, SignalValue]) -> bytes:
    """Data bytes of one message; signals left out are sent as not available (all ones), like unused bits."""
    known = {signal.name for signal in spec.signals}
    unknown = sorted(set(signals) - known)
    if unknown:
        raise InvalidSignalValue(
            f"{spec.name}.{unknown[0]}: no such signal, expected one of {', '.join(sorted(known))}"
        )
    word = spec.padding_mask
    for signal in spec.signals:
        word |= _raw_value(spec, signal, signals.get(signal.name)) << signal.start
    return word.to_bytes(spec.length, "little")


def encode_frame(
    message_name: str,
    signals: Mapping[str, SignalValue],
    sa: int,
    da: int | None = None,
    priority: int | None = None,
    database: J1939Database | None = None,
) -> tuple[int, bytes]:
    """The 29-bit id and data bytes of one message sent by ``sa``; defaults come from the DBC."""
    spec = (database or default_database()).message(message_name)
    destination = da if da is not None else spec.default_da
    can_id = make_can_id(spec.pgn, sa, destination, spec.default_priority if priority is None else priority)
    return can_id, encode_payload(spec, signals)
