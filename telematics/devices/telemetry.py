"""The record every device parser builds: its deterministic ``seq``, its contract check, and the report it comes in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telematics.errors import BadInput
from telematics.timeutil import format_ms
from telematics.validation import InvalidRecord, validate_record
from telematics.wire import MAX_TS_MS

SOURCES = ("teltonika", "osmand", "traccar", "import")

_DISCRIMINATOR_BITS = 18
"""Room beside the timestamp for what tells apart two records of one instant (priority, event, kind)."""


def device_seq(ts_ms: int, discriminator: int = 0) -> int:
    """A ``seq`` that is the same every time the same record is sent again, and differs between records.

    Devices resend what the server did not acknowledge, and buffer records through coverage gaps; a seq made
    from the record's own time (and what tells records of the same millisecond apart) lets the detector drop the
    resent copy as a duplicate (contract section 2) however late it comes. It fits in 63 bits until the year 3900.
    """
    if not 0 <= discriminator < 1 << _DISCRIMINATOR_BITS:
        raise ValueError(f"discriminator {discriminator} outside 0..{(1 << _DISCRIMINATOR_BITS) - 1}")
    return (ts_ms << _DISCRIMINATOR_BITS) | discriminator


def _bounded(obj: dict[str, Any], name: str, low: float, high: float, *, integer: bool = False) -> None:
    value = obj.get(name)
    if value is None:
        obj.pop(name, None)
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidRecord(name, f"got {value!r}, expected {'an integer' if integer else 'a number'} {low:g}-{high:g}")
    if integer and not float(value).is_integer():
        raise InvalidRecord(name, f"got {value!r}, expected an integer")


def finish(obj: dict[str, Any], ts_ms: int) -> dict[str, Any]:
    """Checks a record built from a device message against the contract and returns it, with ``ts`` as RFC 3339.

    InvalidRecord names the field at fault (impossible coordinates, speeds over 300 km/h, ...): the caller sends
    the message to the dead-letter topic rather than half-publish it.
    """
    if not 0 <= ts_ms <= MAX_TS_MS:
        raise InvalidRecord("ts", f"got {ts_ms} ms, expected epoch milliseconds from 0 to {MAX_TS_MS}")
    obj["ts"] = ts_ms  # checked as the integer it is, not parsed back from the text written below
    for name in [k for k, v in obj.items() if v is None and k != "driver_card_id"]:
        del obj[name]
    _bounded(obj, "hdop", 0, 100)
    _bounded(obj, "satellites", 0, 255, integer=True)
    _bounded(obj, "gnss_accuracy_m", 0, 1e7)
    validate_record(obj)
    obj["ts"] = format_ms(ts_ms)
    return obj


class DeviceMessageError(BadInput):
    """A device or tracking server sent something that is not a position report; ``reason`` is a short code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class DeviceReport:
    """A position or event report from one device, before it is known which vehicle carries that device."""

    device_id: str
    ts_ms: int
    fields: dict[str, Any]
    """Contract fields (and extras) of the record, without vehicle_id and ts."""

    def to_record(self, vehicle_id: str) -> dict[str, Any]:
        """The contract record for the vehicle that lists this device; InvalidRecord when it breaks the contract."""
        return finish({"vehicle_id": vehicle_id, **self.fields}, self.ts_ms)
