"""Teltonika AVL records (FMB/FMC IO elements) to contract telemetry records.

IO element ids and scales are those of Teltonika's "FMB AVL ID" list (Teltonika Data Sending Parameters ID,
wiki.teltonika-gps.com), which FMB and FMC units share. What the contract has a field for goes there; every
other IO element is kept, by id, under ``io``, so nothing a device reports is thrown away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from telematics.devices.telemetry import device_seq, finish
from telematics.devices.teltonika import PRIORITY_PANIC, AvlRecord
from telematics.devices.wiring import parse_wiring
from telematics.errors import ConfigurationError

IO_DIN1, IO_DIN2, IO_DIN3, IO_DIN4 = 1, 2, 3, 4
IO_TOTAL_ODOMETER = 16
"""Metres."""
IO_GNSS_STATUS = 69
"""0 GNSS off, 1 on with fix, 2 on without fix, 3 asleep."""
IO_EXTERNAL_VOLTAGE = 66
"""Millivolts."""
IO_CAN_VEHICLE_SPEED = 81
"""km/h from the vehicle's CAN bus (LV-CAN200 / ALL-CAN300 / FMC CAN units)."""
IO_CAN_ENGINE_RPM = 85
IO_CAN_FUEL_LEVEL_PCT = 89
IO_GNSS_HDOP = 182
"""Tenths."""
IO_IGNITION = 239
IO_MOVEMENT = 240
IO_TOWING = 246
IO_CRASH = 247
IO_JAMMING = 249
"""0 jamming stopped, 1 jamming started."""
IO_UNPLUG = 252
"""1: the unit's external supply was cut (it runs on its internal battery)."""

_MAPPED = frozenset({
    IO_TOTAL_ODOMETER, IO_EXTERNAL_VOLTAGE, IO_CAN_VEHICLE_SPEED, IO_CAN_ENGINE_RPM, IO_CAN_FUEL_LEVEL_PCT,
    IO_GNSS_HDOP, IO_IGNITION, IO_JAMMING,
})

"""Contract fields a digital input can carry; which input depends on how the unit was wired into the vehicle."""


class InputAssignmentError(ConfigurationError):
    """A digital input assignment (FIELD=IO[:inverted]) is malformed."""


@dataclass(frozen=True)
class InputAssignments:
    """Which IO element carries which contract boolean, for units wired alike (one vehicle model's installation).

    A door switch is wired to DIN2 in one installation and DIN3 in the next, and may close or open the circuit
    when the door opens: the installer says which, here.
    """

    fields: dict[str, tuple[int, bool]] = field(default_factory=dict)
    """Contract field -> (IO element id, inverted: the field is true when the input reads 0)."""

    @classmethod
    def parse(cls, specs: list[str] | tuple[str, ...]) -> InputAssignments:
        """From 'cargo_door_open=2', 'cab_door_open=3:inverted' (DIN2 is IO 2 ...)."""
        fields: dict[str, tuple[int, bool]] = {}
        for spec in specs:
            name, number, inverted = parse_wiring(
                spec, range(1, 65536), "IO id {input!r}, expected an AVL IO id such as 2 for DIN2", InputAssignmentError
            )
            fields[name] = (number, inverted)
        return cls(fields)


NO_INPUTS = InputAssignments()


def _flag(value: int | bytes | None) -> bool | None:
    return None if value is None or isinstance(value, bytes) else value != 0


_READINGS: tuple[tuple[int, str, float | None], ...] = (
    (IO_GNSS_HDOP, "hdop", 0.1),
    (IO_IGNITION, "ignition", None),
    (IO_JAMMING, "gnss_jamming", None),
    (IO_EXTERNAL_VOLTAGE, "ext_power_v", 0.001),
    (IO_TOTAL_ODOMETER, "odometer_km", 0.001),
    (IO_CAN_VEHICLE_SPEED, "wheel_speed_kmh", 1.0),
    (IO_CAN_ENGINE_RPM, "engine_rpm", 1.0),
    (IO_CAN_FUEL_LEVEL_PCT, "fuel_level_pct", 1.0),
)
"""IO element -> contract field, with the scale of a number (None: a flag, true when not 0), in the order the
fields are written."""


def has_fix(record: AvlRecord) -> bool:
    """A record carries a position only with satellites in view, non-zero coordinates and GNSS not reporting 'no fix'.

    Teltonika units repeat their last coordinates with 0 satellites while they have no fix; 0,0 is what a unit
    that never had one sends.
    """
    status = record.io.get(IO_GNSS_STATUS)
    if status is not None and status != 1:
        return False
    return record.satellites > 0 and (record.lon_e7 != 0 or record.lat_e7 != 0)


def avl_to_telemetry(record: AvlRecord, vehicle_id: str, inputs: InputAssignments = NO_INPUTS) -> dict[str, Any]:
    """One AVL record to a contract record (a dict ready for JSON); InvalidRecord when it breaks the contract.

    ``seq`` comes from the record's timestamp, priority and event IO id, so a packet the device sends again
    after a lost acknowledgement yields the same seq and the detector drops the copy.
    """
    io = record.io
    fix = has_fix(record)
    obj: dict[str, Any] = {
        "vehicle_id": vehicle_id,
        "seq": device_seq(record.ts_ms, (record.priority & 0x3) << 16 | (record.event_io_id & 0xFFFF)),
        "source": "teltonika",
        "gnss_fix": fix,
        "satellites": record.satellites,
    }
    if fix:
        obj["lat"] = record.lat
        obj["lon"] = record.lon
        obj["gnss_speed_kmh"] = float(record.speed_kmh)
        obj["heading_deg"] = float(record.angle_deg % 360)
        obj["altitude_m"] = record.altitude_m
    for io_id, name, scale in _READINGS:
        value = io.get(io_id)
        if type(value) is int:  # absent, or a variable-length value where a number belongs: no reading
            obj[name] = value != 0 if scale is None else value * scale
    if record.priority == PRIORITY_PANIC:
        obj["panic"] = True  # a panic record; other priorities say nothing about the button
    assigned: set[int] = set()
    for name, (io_id, inverted) in inputs.fields.items():
        value = _flag(io.get(io_id))
        if value is not None:
            obj[name] = value != inverted
            assigned.add(io_id)
    rest = {str(k): (v.hex() if isinstance(v, bytes) else v) for k, v in io.items()
            if k not in _MAPPED and k not in assigned}
    if rest:
        obj["io"] = rest
    if record.event_io_id:
        obj["event_io_id"] = record.event_io_id
    return finish(obj, record.ts_ms)
