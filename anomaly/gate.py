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
from anomaly.detectors.trip import UnscheduledStop, standing_on_trip
from anomaly.observation import Observation

GATED: dict[str, type] = {detector.name: type(detector) for detector in default_detectors()}
"""The detectors this gate mirrors; any other detector (or another class by one of their names) always looks."""
_SHORTEST_STOP_MS = min(UnscheduledStop.parked_ms, UnscheduledStop.traffic_ms)


def must_run(obs: Observation, states: dict[str, Any]) -> set[str]:
    """The names of the gated detectors that must look at this record (bookkeeping for the others done here)."""
    record = obs.record
    get = states.get
    run: set[str] = set()
    has_position = record.has_position
    moving = obs.moving
    speed = obs.speed_kmh
    ignition = record.ignition

    s = get("panic")
    if s is None or record.panic is True or s.incident.onset_ms is not None or s.incident.is_open:
        run.add("panic")

    s = get("towing")
    if s is None or s.incident.onset_ms is not None or s.incident.is_open:
        run.add("towing")
    elif ignition is True:
        s.anchor_lat = s.anchor_lon = None
    elif ignition is False and Towing.moved(speed, follow_parked(s, record)):
        run.add("towing")

    volts = record.ext_power_v
    if volts is not None:
        s = get("power_cut")
        if s is None or volts < PowerCut.cut_below_v or s.incident.onset_ms is not None or s.incident.is_open:
            run.add("power_cut")
        elif volts >= PowerCut.supplied_from_v:
            s.last_supplied_v = volts

    s = get("gnss_jamming")
    wheel = record.wheel_speed_kmh
    if (
        s is None or record.gnss_jamming is True or s.incident.onset_ms is not None or s.incident.is_open
        or (not has_position and (
            (wheel is not None and wheel >= GnssJamming.wheel_kmh)
            or (s.lost_since_ms is not None and ignition is not False)
        ))
    ):
        run.add("gnss_jamming")
    else:
        s.flag_since_ms = s.lost_since_ms = s.lost_last_ms = s.lost_last_wheel_kmh = None
        s.lost_wheel_m = 0.0

    vehicle, fleet = obs.vehicle, obs.fleet
    if vehicle is not None and fleet is not None and fleet.kind != "rental" and record.driver_card_reported:
        s = get("unauthorized_driver")
        if s is None or s.incident.onset_ms is not None or s.incident.is_open or (
            speed is not None and speed >= UnauthorizedDriver.min_speed_kmh
            and record.driver_card_id not in vehicle.authorized_driver_cards
        ):
            run.add("unauthorized_driver")

    if fleet is not None and not fleet.operating_hours.always:
        s = get("off_hours_use")
        if s is None or s.incident.onset_ms is not None or s.incident.is_open:
            run.add("off_hours_use")
        elif ignition is True or moving:
            ts = record.ts_ms
            if not (
                obs.operating(ts) or obs.operating(ts - OFF_HOURS_GRACE_MS) or obs.operating(ts + OFF_HOURS_GRACE_MS)
            ):
                run.add("off_hours_use")

    s = get("route_deviation")
    if s is None:
        run.add("route_deviation")
    else:
        trip = obs.trip
        if trip is None:
            if s.incident.onset_ms is not None or s.incident.is_open:
                run.add("route_deviation")
        elif has_position:
            if s.incident.onset_ms is not None or s.incident.is_open or obs.route_excess_m > 0.0:
                run.add("route_deviation")
            elif s.trip_id != trip.trip_id:
                s.trip_id = trip.trip_id
                s.peak_excess_m = 0.0

    s = get("unscheduled_stop")
    if s is None or s.incident.onset_ms is not None or s.incident.is_open:
        run.add("unscheduled_stop")
    else:
        stopped = standing_on_trip(obs)
        if (stopped or s.since_ms is not None) and UnscheduledStop.follow(s, obs, stopped) >= _SHORTEST_STOP_MS:
            run.add("unscheduled_stop")

    s = get("cargo_door_open")
    if s is None or record.cargo_door_open is True or s.incident.onset_ms is not None or s.incident.is_open:
        run.add("cargo_door_open")

    connected = record.trailer_connected
    if connected is not None:
        s = get("trailer_uncoupled")
        if (
            s is None or s.incident.onset_ms is not None or s.incident.is_open
            or (not connected and s.coupled and has_position)
        ):
            run.add("trailer_uncoupled")
        elif connected:
            s.dropped_away, s.coupled = False, True
        elif not moving and s.dropped_away:
            run.add("trailer_uncoupled")
        else:
            s.dropped_away, s.coupled = False, False

    views = obs.zones
    inside = False
    for view in views:
        if view.inside:
            inside = True
            break
    for name in ("protected_zone_intrusion", "speed_in_zone"):
        s = get(name)
        if s is None or s.by_zone or inside:
            run.add(name)
    s = get("ramming_risk")
    if s is None or s.by_zone:
        run.add("ramming_risk")
    elif views:
        reach = reach_m(obs)
        for view in views:
            if not view.inside and not view.farther_than(reach) and view.active:
                run.add("ramming_risk")
                break

    if obs.models is not None:
        run.add("behaviour_anomaly")

    s = get("hijack_suspected")
    if s is None or obs.open_alerts or s.recent or s.incident.onset_ms is not None or s.incident.is_open:
        run.add("hijack_suspected")

    s = get("telematics_offline")
    if s is None or s.incident.is_open:
        run.add("telematics_offline")
    return run

