"""The telemetry message of contract v1, section 2, as it comes off the wire: its limits and its msgspec type.

msgspec decodes and range-checks a typical message into ``Wire`` in C, in one pass; telematics/parse.py turns
that into a TelemetryRecord. A msgspec type cannot be compiled (setup.py), so it lives here, apart from the
compiled parser.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

from telematics.records import TelemetryRecord
from telematics.timeutil import EPOCH

MAX_MESSAGE_BYTES = 64 * 1024
MAX_TS_MS = (datetime(9999, 12, 31, tzinfo=UTC) - EPOCH).days * 86_400_000 - 1
"""9999-12-30T23:59:59.999Z: the last instant that is still a date in every time zone."""
VEHICLE_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
"""The contract's vehicle_id; use it with fullmatch."""
FLOAT_MAX = sys.float_info.max


def _bounded(low: float, high: float) -> Any:
    return Annotated[float, msgspec.Meta(ge=low, le=high)]


SafetySystemState = Literal["on", "off", "fault", "unavailable"]


# The JSON key of driver_card_reported is one no device sends: the parser computes it, like the precise path.
class Wire(msgspec.Struct, rename={"ts_ms": "ts", "driver_card_reported": "(computed) driver_card_reported"}):
    """Contract section 2 as msgspec types, in TelemetryRecord's field order; a None default means absent.

    It only ever accepts what the contract accepts; the rest (and any doubt) is left to the precise checks of
    telematics/validation.py, which decide and word the reason.
    """

    vehicle_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]  # and VEHICLE_ID_PATTERN (parse.py)
    ts_ms: str | int
    seq: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] = None  # type: ignore[assignment]  # msgspec's limit
    lat: _bounded(-90, 90) | None = None  # type: ignore[valid-type]
    lon: _bounded(-180, 180) | None = None  # type: ignore[valid-type]
    gnss_fix: bool = None  # type: ignore[assignment]
    gnss_jamming: bool = None  # type: ignore[assignment]
    gnss_speed_kmh: _bounded(0, 300) = None  # type: ignore[valid-type]
    heading_deg: _bounded(0, 360) = None  # type: ignore[valid-type]
    wheel_speed_kmh: _bounded(0, 300) = None  # type: ignore[valid-type]
    engine_rpm: _bounded(0, 10000) = None  # type: ignore[valid-type]
    ignition: bool = None  # type: ignore[assignment]
    parking_brake: bool = None  # type: ignore[assignment]
    cab_door_open: bool = None  # type: ignore[assignment]
    cargo_door_open: bool = None  # type: ignore[assignment]
    trailer_connected: bool = None  # type: ignore[assignment]
    driver_card_reported: Any = False
    driver_card_id: Annotated[str, msgspec.Meta(max_length=64)] | msgspec.UnsetType | None = msgspec.UNSET
    panic: bool = None  # type: ignore[assignment]
    ext_power_v: _bounded(0, 100) = None  # type: ignore[valid-type]
    odometer_km: _bounded(0, FLOAT_MAX) = None  # type: ignore[valid-type]
    fuel_level_pct: _bounded(0, 100) = None  # type: ignore[valid-type]
    hdop: _bounded(0, 100) = None  # type: ignore[valid-type]
    satellites: Annotated[int, msgspec.Meta(ge=0, le=255)] = None  # type: ignore[assignment]
    gnss_accuracy_m: _bounded(0, FLOAT_MAX) = None  # type: ignore[valid-type]
    safety_systems: dict[str, SafetySystemState] = None  # type: ignore[assignment]
    speed_governor: msgspec.UnsetType = msgspec.UNSET
    """Any value is left to the precise path (rare: only vehicles with an on-board governor send it)."""
    source: Annotated[str, msgspec.Meta(max_length=64)] = None  # type: ignore[assignment]


if Wire.__struct_fields__ != tuple(field.name for field in dataclasses.fields(TelemetryRecord)):
    raise RuntimeError("telematics.wire.Wire must list TelemetryRecord's fields in the same order")

decode_wire = msgspec.json.Decoder(Wire).decode
"""Raw JSON to a Wire; msgspec.ValidationError or DecodeError (both ValueErrors) for anything else."""
wire_fields = msgspec.structs.astuple
"""A Wire's values in field order: TelemetryRecord's order."""
UNSET = msgspec.UNSET
