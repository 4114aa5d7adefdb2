"""The engine's fast path: which detectors must look at a record, and which would only return at their first check.

Most records of a fleet say nothing new: a vehicle driving its route, far from any zone, card in, doors shut.
Every detector would look at such a record and return at its first check, and calling sixteen of them to hear
that costs more than everything else the engine does for the record. ``must_run`` asks all those first checks
at once, does the small bookkeeping a detector does on such a record (the last supplied voltage, the trailer's
coupling, the trip being followed) and names the detectors that must still look.

Each section mirrors one detector's early exit and changes with it. A section may send a detector to look when
it need not (that is always correct), never the other way round; tests/anomaly/test_gate.py runs every kind
of scenario with and without the gate and requires the same outputs and the same saved state, byte for byte.
The engine gives every vehicle a state for each of its detectors from the start; a name with no state here
is a detector this engine does not run, so naming it is harmless. Fusion reads the incidents the others open on
the same record, so the engine runs every detector after one that reported something (see
``DetectionEngine._detect``).
"""

from __future__ import annotations

from typing import Any

from anomaly.detectors import default_detectors
from anomaly.detectors.access import OFF_HOURS_GRACE_MS, UnauthorizedDriver
from anomaly.detectors.equipment import GnssJamming, PowerCut
from anomaly.detectors.motion import Towing, follow_parked
from anomaly.detectors.ramming import reach_m
from anomaly.detectors.states import (
    DoorState,
    DriverState,
    FusionState,
    JammingState,
    OffHoursState,
    OfflineState,
    PanicState,
    PowerState,
    RammingState,
    RouteState,
    StopState,
    TowingState,
    TrailerState,
    ZoneIncidents,
)
from anomaly.detectors.trip import UnscheduledStop, standing_on_trip
from anomaly.incidents import Incident
from anomaly.observation import Observation

GATED: dict[str, type] = {detector.name: type(detector) for detector in default_detectors()}
"""The detectors this gate mirrors; any other detector (or another class by one of their names) always looks."""
_SHORTEST_STOP_MS = min(UnscheduledStop.parked_ms, UnscheduledStop.traffic_ms)


def _under_way(incident: Incident) -> bool:
    """The incident's condition has begun to hold, or it is open: its detector must look."""
    return incident.onset_ms is not None or incident.is_open


def must_run(obs: Observation, states: dict[str, Any]) -> set[str]:
    """The names of the gated detectors that must look at this record (bookkeeping for the others done here)."""
    record = obs.record
    run: set[str] = set()
    has_position = record.has_position
    moving = obs.moving
    speed = obs.speed_kmh
    ignition = record.ignition

    panic: PanicState | None = states.get("panic")
    if panic is None or record.panic is True or _under_way(panic.incident):
        run.add("panic")

    towing: TowingState | None = states.get("towing")
    if towing is None or _under_way(towing.incident):
        run.add("towing")
    elif ignition is True:
        towing.anchor_lat = towing.anchor_lon = None
    elif ignition is False and Towing.moved(speed, follow_parked(towing, record)):
        run.add("towing")

    volts = record.ext_power_v
    if volts is not None:
        power: PowerState | None = states.get("power_cut")
        if power is None or volts < PowerCut.cut_below_v or _under_way(power.incident):
            run.add("power_cut")
        elif volts >= PowerCut.supplied_from_v:
            power.last_supplied_v = volts

    jamming: JammingState | None = states.get("gnss_jamming")
    wheel = record.wheel_speed_kmh
    if (
        jamming is None or record.gnss_jamming is True or _under_way(jamming.incident)
        or (not has_position and (
            (wheel is not None and wheel >= GnssJamming.wheel_kmh)
            or (jamming.lost_since_ms is not None and ignition is not False)
        ))
    ):
        run.add("gnss_jamming")
    else:
        jamming.flag_since_ms = jamming.lost_since_ms = jamming.lost_last_ms = jamming.lost_last_wheel_kmh = None
        jamming.lost_wheel_m = 0.0

    vehicle, fleet = obs.vehicle, obs.fleet
    if vehicle is not None and fleet is not None and fleet.kind != "rental" and record.driver_card_reported:
        driver: DriverState | None = states.get("unauthorized_driver")
        if driver is None or _under_way(driver.incident) or (
            speed is not None and speed >= UnauthorizedDriver.min_speed_kmh
            and record.driver_card_id not in vehicle.authorized_driver_cards
        ):
            run.add("unauthorized_driver")

    if fleet is not None and not fleet.operating_hours.always:
        off_hours: OffHoursState | None = states.get("off_hours_use")
        if off_hours is None or _under_way(off_hours.incident):
            run.add("off_hours_use")
        elif ignition is True or moving:
            ts = record.ts_ms
            if not (
                obs.operating(ts) or obs.operating(ts - OFF_HOURS_GRACE_MS) or obs.operating(ts + OFF_HOURS_GRACE_MS)
            ):
                run.add("off_hours_use")

    route: RouteState | None = states.get("route_deviation")
    if route is None:
        run.add("route_deviation")
    else:
        trip = obs.trip
        if trip is None:
            if _under_way(route.incident):
                run.add("route_deviation")
        elif has_position:
            if _under_way(route.incident) or obs.route_excess_m > 0.0:
                run.add("route_deviation")
            elif route.trip_id != trip.trip_id:
                route.trip_id = trip.trip_id
                route.peak_excess_m = 0.0

    stop: StopState | None = states.get("unscheduled_stop")
    if stop is None or _under_way(stop.incident):
        run.add("unscheduled_stop")
    else:
        stopped = standing_on_trip(obs)
        if (stopped or stop.since_ms is not None) and UnscheduledStop.follow(stop, obs, stopped) >= _SHORTEST_STOP_MS:
            run.add("unscheduled_stop")

    door: DoorState | None = states.get("cargo_door_open")
    if door is None or record.cargo_door_open is True or _under_way(door.incident):
        run.add("cargo_door_open")

    connected = record.trailer_connected
    if connected is not None:
        trailer: TrailerState | None = states.get("trailer_uncoupled")
        if (
            trailer is None or _under_way(trailer.incident)
            or (not connected and trailer.coupled and has_position)
        ):
            run.add("trailer_uncoupled")
        elif connected:
            trailer.dropped_away, trailer.coupled = False, True
        elif not moving and trailer.dropped_away:
            run.add("trailer_uncoupled")
        else:
            trailer.dropped_away, trailer.coupled = False, False

    views = obs.zones
    inside = False
    for view in views:
        if view.inside:
            inside = True
            break
    for name in ("protected_zone_intrusion", "speed_in_zone"):
        zone_incidents: ZoneIncidents | None = states.get(name)
        if zone_incidents is None or zone_incidents.by_zone or inside:
            run.add(name)
    ramming: RammingState | None = states.get("ramming_risk")
    if ramming is None or ramming.by_zone:
        run.add("ramming_risk")
    elif views:
        reach = reach_m(obs)
        for view in views:
            if not view.inside and not view.farther_than(reach) and view.active:
                run.add("ramming_risk")
                break

    if obs.models is not None:
        run.add("behaviour_anomaly")

    fusion: FusionState | None = states.get("hijack_suspected")
    if fusion is None or obs.open_alerts or fusion.recent or _under_way(fusion.incident):
        run.add("hijack_suspected")

    offline: OfflineState | None = states.get("telematics_offline")
    if offline is None or offline.incident.is_open:
        run.add("telematics_offline")
    return run

