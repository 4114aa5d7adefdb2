"""TelemetryRecord's written-out __init__ (telematics/records.py) must match its dataclass fields exactly."""

from __future__ import annotations

import dataclasses

from telematics.records import TelemetryRecord

# A value for every field, none of them its default.
VALUES = {
    "vehicle_id": "NF-101", "ts_ms": 1_795_000_000_000, "seq": 17, "lat": 52.5, "lon": 13.3, "gnss_fix": True,
    "gnss_jamming": True, "gnss_speed_kmh": 41.5, "heading_deg": 90.5, "wheel_speed_kmh": 42.5, "engine_rpm": 1350.0,
    "ignition": True, "parking_brake": True, "cab_door_open": True, "cargo_door_open": True,
    "trailer_connected": True, "driver_card_reported": True, "driver_card_id": "DE0000012345", "panic": True,
    "ext_power_v": 24.5, "odometer_km": 123456.5, "fuel_level_pct": 55.5, "hdop": 0.9, "satellites": 12,
    "gnss_accuracy_m": 3.5, "safety_systems": {"aebs": "off"}, "speed_governor": {"active": False},
    "source": "teltonika",
}


def test_every_field_is_set_by_name_and_by_position_in_field_order() -> None:
    names = [field.name for field in dataclasses.fields(TelemetryRecord)]
    assert names == list(VALUES)
    by_name = TelemetryRecord(**VALUES)  # type: ignore[arg-type]
    by_position = TelemetryRecord(*VALUES.values())  # type: ignore[arg-type]
    for name, value in VALUES.items():
        assert getattr(by_name, name) == value, name
        assert getattr(by_position, name) == value, name


def test_the_defaults_are_the_fields_defaults() -> None:
    record = TelemetryRecord("NF-101", 0)
    for field in dataclasses.fields(TelemetryRecord)[2:]:
        assert getattr(record, field.name) == field.default, field.name
        assert VALUES[field.name] != field.default
