"""The physical state of one simulated truck, which its ECUs read and a scenario updates."""

from __future__ import annotations

from dataclasses import dataclass

IDLE_RPM = 600.0
RPM_PER_KMH = 14.0
MAX_MODEL_RPM = 1900.0


@dataclass(slots=True)
class VehicleState:
    """What is physically true about the truck at one moment; ECUs encode it, they never change it."""

    lat: float | None = None
    lon: float | None = None
    gnss_fix: bool = True
    """False when the receiver has no fix (jammed, tunnel, antenna cut): GNSS frames send 'not available'."""
    speed_kmh: float = 0.0
    heading_deg: float = 0.0
    altitude_m: float | None = None
    ignition: bool = False
    engine_running: bool | None = None
    """None: the engine runs whenever the ignition is on."""
    engine_rpm: float | None = None
    """None: a simple model from speed (idle 600 rpm, rising with speed)."""
    parking_brake: bool = True
    brake_pedal: bool = False
    cab_door_open: bool = False
    cargo_door_open: bool = False
    driver_card_id: str | None = None
    trailer_connected: bool = False
    panic: bool = False
    ext_power_v: float = 25.2
    """Vehicle supply as the power ECU measures it; near 0 when cut."""
    fuel_level_pct: float = 80.0
    odometer_km: float = 0.0
    coolant_temp_c: float = 85.0
    aebs: str = "on"
    """Advanced emergency braking: "on", "off" (switched off by the driver) or "fault"."""
    esc: str = "on"
    """Electronic stability control: "on", "off" (the driver's off-road switch) or "fault"."""
    lane_keeping: str = "on"
    """Lane departure warning: "on", "off" (switched off by the driver) or "fault"."""

    @property
    def engine_on(self) -> bool:
        return self.ignition and (self.engine_running if self.engine_running is not None else True)

    @property
    def rpm(self) -> float:
        """Engine speed the engine ECU reports."""
        if not self.engine_on:
            return 0.0
        if self.engine_rpm is not None:
            return self.engine_rpm
        return min(IDLE_RPM + RPM_PER_KMH * self.speed_kmh, MAX_MODEL_RPM)

    @property
    def has_fix(self) -> bool:
        return self.gnss_fix and self.lat is not None and self.lon is not None
