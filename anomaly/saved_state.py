"""Reads a vehicle's saved state (the JSON that ``DetectionEngine.snapshot`` writes) back into its classes.

The state classes are dataclasses compiled with the engine, and a compiled class keeps no precise field types
for msgspec to decode into. So each field's default says what it holds: a dataclass or msgspec value there is
read as that class, ``FIELD_READERS`` reads the fields that hold collections of objects, and anything else is
plain JSON (numbers, text, lists, dicts). A field the saved state lacks keeps its default, so state saved by an
older version still loads; a field this version no longer has is ignored. The saved ``version`` (STATE_VERSION in
anomaly/vehicle_state.py) says which layout it is: older ones are converted, a newer one is refused.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from anomaly.detectors.signal import Signal
from anomaly.detectors.states import FusionState, RammingState, ZoneApproach, ZoneIncidents
from anomaly.incidents import Incident
from anomaly.open_alerts import OpenAlert
from anomaly.vehicle_state import STATE_VERSION, OrderingState, VehicleState
from telematics.errors import BadInput
from telematics.records import TelemetryRecord

T = TypeVar("T")


def _dict_of(cls: type) -> Callable[[Any], dict[str, Any]]:
    return lambda saved: {key: load(cls, item) for key, item in saved.items()}


def _held_records(saved: Any) -> list[tuple[int, int, int, TelemetryRecord]]:
    return [(ts, seq, arrival, TelemetryRecord(**fields)) for ts, seq, arrival, fields in saved]


def _duplicate_keys(saved: Any) -> dict[int | str, int]:
    """A record's seq is its key: saved as "<seq>" (JSON keys are text) since version 3, as "s<seq>" before; a record
    without one has "t<ts>:<hash>" in every version."""
    return {key if key.startswith("t") else int(key.removeprefix("s")): ts for key, ts in saved.items()}


FIELD_READERS: dict[tuple[type, str], Callable[[Any], Any]] = {
    (OrderingState, "pending"): _held_records,
    (OrderingState, "seen"): _duplicate_keys,
    (VehicleState, "open_alerts"): _dict_of(OpenAlert),
    (FusionState, "recent"): _dict_of(Signal),
    (RammingState, "by_zone"): _dict_of(ZoneApproach),
    (ZoneIncidents, "by_zone"): _dict_of(Incident),
}
"""How to read the state fields that hold collections of objects."""


class SavedStateError(BadInput):
    """A saved state does not have the shape of the engine's state classes, or is of a newer version."""


def load_vehicle_state(saved: Any) -> VehicleState:
    """A vehicle's saved state, of this version or an older one, in this version's layout; a state saved by a newer
    version is refused as a whole (its fields may mean what this version cannot know)."""
    if not isinstance(saved, dict):
        raise SavedStateError(f"VehicleState: got {type(saved).__name__}, expected a JSON object")
    version = saved.get("version", 1)  # version 1 did not say
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SavedStateError(f"VehicleState.version: got {version!r}, expected a whole number from 1")
    if version > STATE_VERSION:
        raise SavedStateError(
            f"detector state version {version} was saved by a newer truckguard; this one reads versions 1 to "
            f"{STATE_VERSION}: run the newer version, or let this one start the vehicle afresh without its state"
        )
    try:
        state = load(VehicleState, saved)
    except SavedStateError:
        raise
    except (AttributeError, TypeError, ValueError) as exc:  # a collection of the wrong shape
        raise SavedStateError(f"VehicleState (version {version}): {exc}") from None
    state.version = STATE_VERSION
    return state


def load(cls: type[T], saved: Any) -> T:
    """One saved value as an instance of cls (a dataclass built field by field, or a msgspec type)."""
    if issubclass(cls, msgspec.Struct):
        return msgspec.convert(saved, type=cls)
    if not isinstance(saved, dict):
        raise SavedStateError(f"{cls.__name__}: got {type(saved).__name__}, expected a JSON object")
    value = cls()
    for name, reader in _plan(cls):
        if name in saved:
            item = saved[name] if reader is None else reader(saved[name])
            try:
                setattr(value, name, item)
            except TypeError as exc:  # a compiled class checks the type
                raise SavedStateError(f"{cls.__name__}.{name}: {exc}") from None
    return value


_plans: dict[type, list[tuple[str, Callable[[Any], Any] | None]]] = {}


def _plan(cls: type) -> list[tuple[str, Callable[[Any], Any] | None]]:
    """A dataclass's fields, each with how to read its saved value (None: as plain JSON); worked out once."""
    plan = _plans.get(cls)
    if plan is None:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__} is neither a dataclass nor a msgspec type")
        fresh = cls()
        plan = []
        for field in dataclasses.fields(cls):
            reader = FIELD_READERS.get((cls, field.name))
            default = getattr(fresh, field.name)
            if reader is None and (dataclasses.is_dataclass(default) or isinstance(default, msgspec.Struct)):
                reader = functools.partial(load, type(default))
            plan.append((field.name, reader))
        _plans[cls] = plan
    return plan
