"""Reads a vehicle's saved state (the JSON that ``DetectionEngine.snapshot`` writes) back into its classes.

The state classes are dataclasses compiled with the engine, and a compiled class keeps no precise field types
for msgspec to decode into. So each field's default says what it holds: a dataclass or msgspec value there is
read as that class, ``FIELD_READERS`` reads the fields that hold collections of objects, and anything else is
plain JSON (numbers, text, lists, dicts). A field the saved state lacks keeps its default, so state saved by an older
version still loads; a field this version no longer has is ignored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from anomaly.detectors.signal import Signal
from anomaly.detectors.states import FusionState, RammingState, ZoneApproach, ZoneIncidents
from anomaly.incidents import Incident
from anomaly.open_alerts import OpenAlert
from anomaly.vehicle_state import OrderingState, VehicleState
from telematics.records import TelemetryRecord

T = TypeVar("T")


def _dict_of(cls: type) -> Callable[[Any], dict[str, Any]]:
    return lambda saved: {key: load(cls, item) for key, item in saved.items()}


def _held_records(saved: Any) -> list[tuple[int, int, int, TelemetryRecord]]:
    return [(ts, seq, arrival, TelemetryRecord(**fields)) for ts, seq, arrival, fields in saved]


FIELD_READERS: dict[tuple[type, str], Callable[[Any], Any]] = {
    (OrderingState, "pending"): _held_records,
    (VehicleState, "open_alerts"): _dict_of(OpenAlert),
    (FusionState, "recent"): _dict_of(Signal),
    (RammingState, "by_zone"): _dict_of(ZoneApproach),
    (ZoneIncidents, "by_zone"): _dict_of(Incident),
}
"""How to read the state fields that hold collections of objects."""


class SavedStateError(ValueError):
    """A saved state does not have the shape of the engine's state classes."""


def load(cls: type[T], saved: Any) -> T:
    """One saved value as an instance of cls (a dataclass built field by field, or a msgspec type)."""
    if issubclass(cls, msgspec.Struct):
        return msgspec.convert(saved, type=cls)
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is neither a dataclass nor a msgspec type")
    if not isinstance(saved, dict):
        raise SavedStateError(f"{cls.__name__}: got {type(saved).__name__}, expected a JSON object")
    value = cls()
    for field in dataclasses.fields(cls):
        if field.name not in saved:
            continue
        item = saved[field.name]
        default = getattr(value, field.name)
        reader = FIELD_READERS.get((cls, field.name))
        if reader is not None:
            item = reader(item)
        elif dataclasses.is_dataclass(default) or isinstance(default, msgspec.Struct):
            item = load(type(default), item)
        try:
            setattr(value, field.name, item)
        except TypeError as exc:  # a compiled class checks the type
            raise SavedStateError(f"{cls.__name__}.{field.name}: {exc}") from None
    return value
