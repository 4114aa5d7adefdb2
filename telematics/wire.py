"""The telemetry message of contract v1, section 2, as it comes off the wire: its limits and its msgspec type.

The limits (value ranges, text lengths, enumerations) are read once from the contract's JSON Schema
(telematics/contract/telemetry.schema.json), the one place they are stated; telematics/validation.py checks
records against the same table. msgspec decodes and range-checks a typical message into ``Wire`` in C, in one
pass; telematics/parse.py turns that into a TelemetryRecord. A msgspec type cannot be compiled (setup.py), so it
lives here, apart from the compiled parser.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

from telematics.contract import schema
from telematics.records import TelemetryRecord
from telematics.timeutil import EPOCH

MAX_MESSAGE_BYTES = 64 * 1024
MAX_TS_MS = (datetime(9999, 12, 31, tzinfo=UTC) - EPOCH).days * 86_400_000 - 1
"""9999-12-30T23:59:59.999Z: the last instant that is still a date in every time zone."""
FLOAT_MAX = sys.float_info.max

_PROPERTIES: dict[str, Any] = schema("telemetry")["properties"]
_GOVERNOR: dict[str, Any] = _PROPERTIES["speed_governor"]["properties"]

VEHICLE_ID_PATTERN = re.compile(_PROPERTIES["vehicle_id"]["pattern"].removeprefix("^").removesuffix("$"))
"""The contract's vehicle_id; use it with fullmatch (the schema's pattern, without its anchors)."""


def _range(spec: dict[str, Any]) -> tuple[float, float | None]:
    return spec["minimum"], spec.get("maximum")


RANGES: dict[str, tuple[float, float | None]] = {
    **{name: _range(spec) for name, spec in _PROPERTIES.items() if "minimum" in spec},
    "speed_governor.limit_kmh": _range(_GOVERNOR["limit_kmh"]),
}
"""Each number's (lowest, highest) value from the contract, None for no upper bound; nested fields are dotted."""
MAX_TEXT: dict[str, int] = {name: spec["maxLength"] for name, spec in _PROPERTIES.items() if "maxLength" in spec}
"""The longest text of each text field, in characters, from the contract."""
SAFETY_SYSTEM_STATES: tuple[str, ...] = tuple(_PROPERTIES["safety_systems"]["additionalProperties"]["enum"])
"""A safety system's states, from the contract."""
GOVERNOR_SOURCES: tuple[str, ...] = tuple(_GOVERNOR["source"]["enum"])
"""What set an on-board speed governor, from the contract."""


def _bounded(name: str) -> Any:
    low, high = RANGES[name]
    return Annotated[float, msgspec.Meta(ge=low, le=FLOAT_MAX if high is None else high)]


_WIRE_INT_MAX = 2**63 - 1
"""The largest integer msgspec decodes into an int; a larger seq is left to the precise path."""


def _whole(name: str) -> Any:
    low, high = RANGES[name]
    return Annotated[int, msgspec.Meta(ge=low, le=_WIRE_INT_MAX if high is None else high)]


def _text(name: str) -> Any:
    return Annotated[str, msgspec.Meta(max_length=MAX_TEXT[name])]


SafetySystemState = Literal[SAFETY_SYSTEM_STATES]  # type: ignore[valid-type]


# The JSON key of driver_card_reported is one no device sends: the parser computes it, like the precise path.
# gc=False: a Wire lives for one message and holds only decoded JSON, which cannot refer back to it, so the garbage
# collector need not track it (a replay decodes millions).
class Wire(msgspec.Struct, rename={"ts_ms": "ts", "driver_card_reported": "(computed) driver_card_reported"}, gc=False):
    """Contract section 2 as msgspec types, in TelemetryRecord's field order; a None default means absent.

    It only ever accepts what the contract accepts; the rest (and any doubt) is left to the precise checks of
    telematics/validation.py, which decide and word the reason.
    """

    vehicle_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]  # and VEHICLE_ID_PATTERN (parse.py)
    ts_ms: str | int
    seq: _whole("seq") = None  # type: ignore[valid-type]
    lat: _bounded("lat") | None = None  # type: ignore[valid-type]
    lon: _bounded("lon") | None = None  # type: ignore[valid-type]
    gnss_fix: bool = None  # type: ignore[assignment]
    gnss_jamming: bool = None  # type: ignore[assignment]
    gnss_speed_kmh: _bounded("gnss_speed_kmh") = None  # type: ignore[valid-type]
    heading_deg: _bounded("heading_deg") = None  # type: ignore[valid-type]
    wheel_speed_kmh: _bounded("wheel_speed_kmh") = None  # type: ignore[valid-type]
    engine_rpm: _bounded("engine_rpm") = None  # type: ignore[valid-type]
    ignition: bool = None  # type: ignore[assignment]
    parking_brake: bool = None  # type: ignore[assignment]
    cab_door_open: bool = None  # type: ignore[assignment]
    cargo_door_open: bool = None  # type: ignore[assignment]
    trailer_connected: bool = None  # type: ignore[assignment]
    driver_card_reported: Any = False
    driver_card_id: _text("driver_card_id") | msgspec.UnsetType | None = msgspec.UNSET  # type: ignore[valid-type]
    panic: bool = None  # type: ignore[assignment]
    ext_power_v: _bounded("ext_power_v") = None  # type: ignore[valid-type]
    odometer_km: _bounded("odometer_km") = None  # type: ignore[valid-type]
    fuel_level_pct: _bounded("fuel_level_pct") = None  # type: ignore[valid-type]
    hdop: _bounded("hdop") = None  # type: ignore[valid-type]
    satellites: _whole("satellites") = None  # type: ignore[valid-type]
    gnss_accuracy_m: _bounded("gnss_accuracy_m") = None  # type: ignore[valid-type]
    safety_systems: dict[str, SafetySystemState] = None  # type: ignore[assignment]
    speed_governor: msgspec.UnsetType = msgspec.UNSET
    """Any value is left to the precise path (rare: only vehicles with an on-board governor send it)."""
    source: _text("source") = None  # type: ignore[valid-type]


if Wire.__struct_fields__ != tuple(field.name for field in dataclasses.fields(TelemetryRecord)):
    raise RuntimeError("telematics.wire.Wire must list TelemetryRecord's fields in the same order")

decode_wire = msgspec.json.Decoder(Wire).decode
"""Raw JSON to a Wire; msgspec.ValidationError or DecodeError (both ValueErrors) for anything else."""
wire_fields = msgspec.structs.astuple
"""A Wire's values in field order: TelemetryRecord's order."""
UNSET = msgspec.UNSET
