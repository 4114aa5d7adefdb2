"""The telemetry record of contract v1, section 2, as a plain typed value.

Every detector reads records field by field, so this class is compiled with the engine (setup.py): a compiled
module then reads a field directly instead of through Python's attribute look-up. It is a dataclass, not a
msgspec type, for that reason (mypyc compiles dataclasses); msgspec still encodes it as a JSON object.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class TelemetryRecord:
    """One validated telemetry record; None means "not reported by this device", never false.

    Build it with keywords; positional construction is for the parser's fast path, in this field order.
    """

    vehicle_id: str
    ts_ms: int
    seq: int | None = None
    lat: float | None = None
    lon: float | None = None
    gnss_fix: bool = False
    gnss_jamming: bool | None = None
    gnss_speed_kmh: float | None = None
    heading_deg: float | None = None
    wheel_speed_kmh: float | None = None
    engine_rpm: float | None = None
    ignition: bool | None = None
    parking_brake: bool | None = None
    cab_door_open: bool | None = None
    cargo_door_open: bool | None = None
    trailer_connected: bool | None = None
    driver_card_reported: bool = False
    """True when the device sent driver_card_id at all (null = no card inserted)."""
    driver_card_id: str | None = None
    panic: bool | None = None
    ext_power_v: float | None = None
    odometer_km: float | None = None
    fuel_level_pct: float | None = None

    @property
    def speed_kmh(self) -> float | None:
        """Wheel-based speed when the CAN bus reports it, else GNSS speed over ground."""
        return self.wheel_speed_kmh if self.wheel_speed_kmh is not None else self.gnss_speed_kmh

    @property
    def has_position(self) -> bool:
        return self.gnss_fix and self.lat is not None and self.lon is not None
