"""The telemetry record of contract v1, section 2, as a plain typed value.

Every detector reads records field by field, so this class is compiled with the engine (setup.py): a compiled
module then reads a field directly instead of through Python's attribute look-up. It is a dataclass, not a
msgspec type, for that reason (mypyc compiles dataclasses); msgspec still encodes it as a JSON object. Its
``__init__`` is written out: a compiled dataclass would otherwise build every record with the interpreted
``__init__`` that the dataclasses module generates, several times slower (mypyc/mypyc#671).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True, init=False)
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
    hdop: float | None = None
    satellites: int | None = None
    gnss_accuracy_m: float | None = None
    """Estimated horizontal error (1 sigma, metres), where the device reports one."""
    safety_systems: dict[str, str] | None = None
    """Active safety systems (``aebs``, ``esc``, ``lane_keeping``, ...): ``on``, ``off``, ``fault``, ``unavailable``."""
    speed_governor: dict[str, Any] | None = None
    """The vehicle's own speed governance: ``active``, ``limit_kmh``, ``zone_id``, ``source``."""
    source: str | None = None

    def __init__(
        self,
        vehicle_id: str,
        ts_ms: int,
        seq: int | None = None,
        lat: float | None = None,
        lon: float | None = None,
        gnss_fix: bool = False,
        gnss_jamming: bool | None = None,
        gnss_speed_kmh: float | None = None,
        heading_deg: float | None = None,
        wheel_speed_kmh: float | None = None,
        engine_rpm: float | None = None,
        ignition: bool | None = None,
        parking_brake: bool | None = None,
        cab_door_open: bool | None = None,
        cargo_door_open: bool | None = None,
        trailer_connected: bool | None = None,
        driver_card_reported: bool = False,
        driver_card_id: str | None = None,
        panic: bool | None = None,
        ext_power_v: float | None = None,
        odometer_km: float | None = None,
        fuel_level_pct: float | None = None,
        hdop: float | None = None,
        satellites: int | None = None,
        gnss_accuracy_m: float | None = None,
        safety_systems: dict[str, str] | None = None,
        speed_governor: dict[str, Any] | None = None,
        source: str | None = None,
    ) -> None:
        self.vehicle_id = vehicle_id
        self.ts_ms = ts_ms
        self.seq = seq
        self.lat = lat
        self.lon = lon
        self.gnss_fix = gnss_fix
        self.gnss_jamming = gnss_jamming
        self.gnss_speed_kmh = gnss_speed_kmh
        self.heading_deg = heading_deg
        self.wheel_speed_kmh = wheel_speed_kmh
        self.engine_rpm = engine_rpm
        self.ignition = ignition
        self.parking_brake = parking_brake
        self.cab_door_open = cab_door_open
        self.cargo_door_open = cargo_door_open
        self.trailer_connected = trailer_connected
        self.driver_card_reported = driver_card_reported
        self.driver_card_id = driver_card_id
        self.panic = panic
        self.ext_power_v = ext_power_v
        self.odometer_km = odometer_km
        self.fuel_level_pct = fuel_level_pct
        self.hdop = hdop
        self.satellites = satellites
        self.gnss_accuracy_m = gnss_accuracy_m
        self.safety_systems = safety_systems
        self.speed_governor = speed_governor
        self.source = source

    @property
    def speed_kmh(self) -> float | None:
        """Wheel-based speed when the CAN bus reports it, else GNSS speed over ground."""
        return self.wheel_speed_kmh if self.wheel_speed_kmh is not None else self.gnss_speed_kmh

    @property
    def has_position(self) -> bool:
        return self.gnss_fix and self.lat is not None and self.lon is not None
