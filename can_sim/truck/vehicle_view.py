"""What a telematics gateway knows about its vehicle from decoded frames, and the contract fields it makes of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from telematics.j1939 import DecodedFrame, DriverIdentification
from telematics.j1939.codec import SignalValue

IGNITION_MIN_V = 6.0
"""Keyswitch potential above this means the key is on (well under a 12 V or 24 V system's voltage)."""
MIN_STALE_S = 1.5
STALE_CYCLES = 3.0
"""A message's values count until STALE_CYCLES of its periods pass without it (and at least MIN_STALE_S)."""


@dataclass(slots=True)
class _Seen:
    t: float
    signals: dict[str, SignalValue]


@dataclass(slots=True)
class VehicleView:
    """Latest values per message name, with the time each arrived; pure, no bus and no clock."""

    cycle_s: dict[str, float] = field(default_factory=dict)
    """Expected period per message name, for staleness; unknown names use 1 s."""
    latest: dict[str, _Seen] = field(default_factory=dict)
    driver_identification: DriverIdentification | None = None

    def apply(self, frame: DecodedFrame, t: float) -> None:
        self.latest[frame.name] = _Seen(t, frame.signals)
        if frame.name == "TCO1" and frame.signals.get("Driver1CardPresence") == 0:
            # a card taken out makes the last identification void; the next card announces itself anew
            self.driver_identification = None

    def apply_driver_identification(self, identification: DriverIdentification) -> None:
        self.driver_identification = identification

    def _fresh(self, name: str, now: float) -> dict[str, SignalValue] | None:
        seen = self.latest.get(name)
        if seen is None:
            return None
        window = max(STALE_CYCLES * self.cycle_s.get(name, 1.0), MIN_STALE_S)
        return seen.signals if now - seen.t <= window else None

    def record_fields(self, now: float) -> dict[str, Any]:
        """Contract v1 telemetry fields known at ``now``; a field not known is left out, never guessed."""
        fields: dict[str, Any] = {}
        _position(fields, self._fresh("VP", now), self._fresh("VDS", now))
        ccvs = self._fresh("CCVS1", now)
        if ccvs is not None:
            _put(fields, "wheel_speed_kmh", ccvs.get("WheelBasedVehicleSpeed"))
            _put_state(fields, "parking_brake", ccvs.get("ParkingBrakeSwitch"))
        eec1 = self._fresh("EEC1", now)
        if eec1 is not None:
            _put(fields, "engine_rpm", eec1.get("EngineSpeed"))
        _power(fields, self._fresh("VEP1", now))
        _doors(fields, self._fresh("DC2", now))
        coupling = self._fresh("TGCPL", now)
        if coupling is not None:
            _put_state(fields, "trailer_connected", coupling.get("FifthWheelCoupled"))
        self._driver_card(fields, self._fresh("TCO1", now))
        distance = self._fresh("VDHR", now)
        if distance is not None and distance.get("HighResolutionTotalVehicleDistance") is not None:
            fields["odometer_km"] = distance["HighResolutionTotalVehicleDistance"] / 1000.0
        dash = self._fresh("DD", now)
        if dash is not None:
            _put(fields, "fuel_level_pct", dash.get("FuelLevel1"))
        panic = self._fresh("TGPNC", now)
        if panic is not None:
            _put_state(fields, "panic", panic.get("PanicButton"))
        systems = _safety_systems(self._fresh("AEBS1", now), self._fresh("VDC1", now), self._fresh("EBC1", now),
                                  self._fresh("FLI2", now))
        if systems:
            fields["safety_systems"] = systems
        return fields

    def _driver_card(self, fields: dict[str, Any], tco1: dict[str, SignalValue] | None) -> None:
        if tco1 is None:
            return
        presence = tco1.get("Driver1CardPresence")
        if presence == 0:
            fields["driver_card_id"] = None
        elif presence == 1 and self.driver_identification is not None and self.driver_identification.driver1:
            fields["driver_card_id"] = self.driver_identification.driver1


def _put(fields: dict[str, Any], name: str, value: SignalValue) -> None:
    if value is not None:
        fields[name] = float(value)


def _put_state(fields: dict[str, Any], name: str, value: SignalValue) -> None:
    """J1939 two-bit state: 00 false, 01 true; error and not available leave the field out."""
    if value in (0, 1):
        fields[name] = value == 1


def _position(fields: dict[str, Any], vp: dict[str, SignalValue] | None, vds: dict[str, SignalValue] | None) -> None:
    lat = vp.get("Latitude") if vp else None
    lon = vp.get("Longitude") if vp else None
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        fields["gnss_fix"] = False
        return
    fields.update(lat=round(float(lat), 7), lon=round(float(lon), 7), gnss_fix=True)
    if vds is None:
        return
    _put(fields, "gnss_speed_kmh", vds.get("NavigationBasedVehicleSpeed"))
    bearing = vds.get("CompassBearing")
    if bearing is not None and 0 <= bearing < 360:
        fields["heading_deg"] = float(bearing)


def _power(fields: dict[str, Any], vep1: dict[str, SignalValue] | None) -> None:
    if vep1 is None:
        return
    keyswitch = vep1.get("KeyswitchBatteryPotential")
    if keyswitch is not None:
        fields["ignition"] = keyswitch >= IGNITION_MIN_V
    _put(fields, "ext_power_v", vep1.get("BatteryPotentialPowerInput1"))


def _doors(fields: dict[str, Any], dc2: dict[str, SignalValue] | None) -> None:
    """Door 1 and 2 are the cab doors, door 3 the cargo door (see the DC2 comment in the DBC)."""
    if dc2 is None:
        return
    cab = [dc2.get("OpenStatusOfDoor1"), dc2.get("OpenStatusOfDoor2")]
    known_cab = [state for state in cab if state in (0, 1)]
    if known_cab:
        fields["cab_door_open"] = 1 in known_cab
    _put_state(fields, "cargo_door_open", dc2.get("OpenStatusOfDoor3"))


AEBS_STATES = {0: "unavailable", 1: "unavailable", 2: "off", 3: "on", 4: "on", 5: "on", 6: "on", 7: "on", 14: "fault",
               15: "unavailable"}
"""SPN 5676 to the contract's words: not ready or temporarily not available is 'unavailable'; deactivated by the
driver is 'off'; ready, overridden by the driver for a moment, warning or braking are all a system that is on."""
TWO_BIT_STATES = {0: "off", 1: "on", 2: "fault", 3: "unavailable"}


def _safety_systems(aebs1: dict[str, SignalValue] | None, vdc1: dict[str, SignalValue] | None,
                    ebc1: dict[str, SignalValue] | None, fli2: dict[str, SignalValue] | None) -> dict[str, str]:
    """Contract ``safety_systems`` from AEBS1, VDC1 with EBC1's off-road switch, and FLI2; a system whose
    message is not heard is left out (a truck without a lane camera says nothing about lane keeping)."""
    systems: dict[str, str] = {}
    if aebs1 is not None:
        state = aebs1.get("AebsState")
        systems["aebs"] = AEBS_STATES.get(state, "unavailable") if isinstance(state, int) else "unavailable"
    if vdc1 is not None:
        operational = vdc1.get("VdcFullyOperational")
        esc = TWO_BIT_STATES.get(operational, "unavailable") if isinstance(operational, int) else "unavailable"
        if esc == "off" and (ebc1 is None or ebc1.get("AsrOffroadSwitch") != 1):
            esc = "fault"  # not fully operational, and not because the driver chose it
        systems["esc"] = esc
    if fli2 is not None:
        enabled = fli2.get("LaneDepartureIndicationEnableStatus")
        systems["lane_keeping"] = TWO_BIT_STATES.get(enabled, "unavailable") if isinstance(enabled, int) else (
            "unavailable")
    return systems
