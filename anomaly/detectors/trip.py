"""The planned trip as the yardstick: leaving the route corridor, stopping where no stop is planned, doors and trailer.

Planned stops and the fleet's sites are where doors open, trailers are dropped and vehicles stand; anywhere
else, on a trip, it is a sign that someone other than the operator decides where the vehicle goes.
"""

from __future__ import annotations

from typing import Final

from anomaly.detectors.states import DoorState, RouteState, StopState, TrailerState
from anomaly.findings import Detector, Finding, kmh, track, under_way
from anomaly.kinematics import silence_ended_where_it_began
from anomaly.observation import QUEUE_M, Observation
from telematics.geo import haversine_m
from telematics.kinds import OTHER_DRIVER_KINDS


class RouteDeviation(Detector):
    """Sustained distance beyond the trip's corridor; a short, shallow detour around road works is not one."""

    name = "route_deviation"
    state_type = RouteState
    hold_ms = 90_000
    """Beyond the corridor for this long, and deep enough, before it counts."""
    long_hold_ms = 6 * 60_000
    """Beyond the corridor for this long counts however shallow."""
    clear_ms = 3 * 60_000
    deep_fraction = 0.6
    """Deep enough: this fraction of the corridor width beyond it."""
    critical_excess_m = 1500.0
    far_excess_m: Final = 5000.0
    long_detour_ms: Final = 30 * 60_000
    """A signed diversion around a closed road adds a few kilometres and rejoins the route within half an hour;
    farther or longer than this, the vehicle is going somewhere else."""

    def quiet(self, obs: Observation, state: RouteState) -> bool:
        trip = obs.trip
        if trip is None:
            return not under_way(state.incident)
        if not obs.record.has_position:
            return True
        if under_way(state.incident) or obs.route_excess_m > 0.0:
            return False
        if state.trip_id != trip.trip_id:
            state.trip_id = trip.trip_id
            state.peak_excess_m = 0.0
        return True

    def observe(self, obs: Observation, state: RouteState) -> list[Finding]:
        incident = state.incident
        trip = obs.trip
        if trip is None:
            if incident.onset_ms is None and not incident.is_open:
                return []
            condition = False
        elif not obs.record.has_position:
            return []  # no fix says nothing about the route: neither out nor back
        else:
            if state.trip_id != trip.trip_id:
                state.trip_id = trip.trip_id
                state.peak_excess_m = 0.0
            excess = obs.route_excess_m
            condition = excess > 0.0
            if not condition and incident.onset_ms is None and not incident.is_open:
                return []
        excess = obs.route_excess_m if trip is not None else 0.0
        if condition:
            state.peak_excess_m = max(state.peak_excess_m if incident.onset_ms is not None else 0.0, excess)
        peak = state.peak_excess_m
        corridor = trip.corridor_m if trip is not None else 0.0
        lasted = obs.ts_ms - incident.onset_ms if incident.onset_ms is not None else 0
        deep = peak >= self.deep_fraction * corridor
        # Before it opens, an incident is only "held" while deep enough or long enough.
        hold = self.hold_ms if deep else self.long_hold_ms
        # A detour around a closure or a jam leaves the route and rejoins it: noted (info). Far or long, or with
        # another sign that someone else decides where the vehicle goes, it is a warning; both, critical.
        sustained = peak >= self.far_excess_m or lasted >= self.long_detour_ms
        corroborated = _other_driver_signal(obs, self.name)
        finding = track(
            self.name,
            incident,
            condition,
            obs.ts_ms,
            hold_ms=hold,
            clear_ms=self.clear_ms,
            severity=lambda: "critical" if corroborated and (peak >= self.critical_excess_m or lasted >= 15 * 60_000)
            else "warning" if corroborated or sustained else "info",
            score=lambda: min(1.0, 0.5 + peak / (4 * self.critical_excess_m) + lasted / 3_600_000),
            evidence=lambda: {
                "trip_id": trip.trip_id if trip else None,
                "distance_from_route_m": round(obs.route_distance_m or 0.0),
                "corridor_m": corridor,
                "peak_beyond_corridor_m": round(peak),
                "lasted_s": round(lasted / 1000),
                "speed_kmh": kmh(obs.speed_kmh),
                "summary": f"{round(obs.route_distance_m or 0.0)} m from the planned route of trip "
                f"{trip.trip_id if trip else '?'} (corridor {corridor:g} m) for {round(lasted / 1000)} s",
            },
        )
        if not incident.is_open and incident.onset_ms is None:
            state.peak_excess_m = 0.0
        return [finding] if finding else []


class UnscheduledStop(Detector):
    """Standing still on a trip, away from its planned stops and the fleet's sites, longer than traffic explains."""

    name = "unscheduled_stop"
    state_type = StopState
    traffic_ms: Final = 5 * 60_000
    """Engine running, on the route: a light or a jam explains this long a standstill."""
    parked_ms: Final = 3 * 60_000
    """Engine off, or off the route: less is needed to be sure it is a stop."""
    creep_m: Final = 60.0
    """Moving less than this from where it stopped is still the same stop (a jam creeps)."""
    clear_ms = 60_000
    critical_after_ms = 20 * 60_000
    far_off_route_m: Final = 1000.0
    """Beyond the corridor by this much, a standstill is no rest area or fuel station beside the road: those lie
    within a few hundred metres of it, and a driver must take a 45-minute break after 4.5 h at the wheel
    (Regulation (EC) No 561/2006, art. 7), wherever the plan put none."""

    @classmethod
    def follow(cls, state: StopState, obs: Observation, stopped: bool) -> int:
        """Follow where and since when the vehicle stands (a jam creeps); how long it has stood, in ms."""
        record = obs.record
        if stopped and record.has_position:
            assert record.lat is not None and record.lon is not None
            anchor_lat, anchor_lon = state.anchor_lat, state.anchor_lon
            if anchor_lat is None or anchor_lon is None or (
                haversine_m(anchor_lat, anchor_lon, record.lat, record.lon) > cls.creep_m
            ):
                state.anchor_lat, state.anchor_lon = record.lat, record.lon
                silent_from = stood_silent_since(obs)
                state.since_ms = obs.ts_ms if silent_from is None else silent_from
            elif state.since_ms is None:
                state.since_ms = obs.ts_ms
        elif not stopped:
            state.since_ms = None
            state.anchor_lat = state.anchor_lon = None
        since = state.since_ms
        return obs.ts_ms - since if (stopped and since is not None) else 0

    def quiet(self, obs: Observation, state: StopState) -> bool:
        if under_way(state.incident):
            return False
        stopped = _stopped(obs)
        if not stopped and state.since_ms is None:
            return True
        return self.follow(state, obs, stopped) < min(self.parked_ms, self.traffic_ms)

    def observe(self, obs: Observation, state: StopState) -> list[Finding]:
        record = obs.record
        incident = state.incident
        trip = obs.trip
        stopped = _stopped(obs)
        if not stopped and incident.onset_ms is None and not incident.is_open and state.since_ms is None:
            return []
        lasted = self.follow(state, obs, stopped)
        since = state.since_ms
        # Unknown position (no fix): a stop cannot be placed, so it cannot be called unscheduled.
        off_route = obs.route_excess_m > 0.0
        parked = record.ignition is False or record.parking_brake is True or off_route
        needed = self.parked_ms if parked else self.traffic_ms
        condition = (
            stopped and record.has_position and not obs.at_known_place and not obs.near_planned_stop(QUEUE_M)
            and lasted >= needed
        )
        card_pulled = record.driver_card_reported and record.driver_card_id is None
        door_open = record.cargo_door_open is True
        far_off_route = obs.route_excess_m >= self.far_off_route_m
        # Standing on the route is what jams, breaks and refuelling look like: noted (info), not a warning, unless
        # something else says the driver is not the one deciding.
        corroborated = far_off_route or card_pulled or door_open
        finding = track(
            self.name,
            incident,
            condition,
            obs.ts_ms,
            hold_ms=0,
            clear_ms=self.clear_ms,
            severity=lambda: "info" if not corroborated
            else "critical" if (far_off_route and lasted >= self.critical_after_ms) or (card_pulled and door_open)
            else "warning",
            score=lambda: min(1.0, 0.5 + lasted / (2 * self.critical_after_ms)),
            evidence=lambda: {
                "trip_id": trip.trip_id if trip else None,
                "stopped_s": round(lasted / 1000),
                "ignition": record.ignition,
                "driver_card_id": record.driver_card_id if record.driver_card_reported else "not reported",
                "cargo_door_open": record.cargo_door_open,
                "distance_from_route_m": None if obs.route_distance_m is None else round(obs.route_distance_m),
                "summary": f"stopped for {round(lasted / 60_000)} min away from the planned stops of trip "
                f"{trip.trip_id if trip else '?'} and the fleet's sites",
            },
        )
        if finding is not None and finding.change.name == "OPENED":
            # The incident began when the vehicle stopped, not when the stop became long enough to count.
            finding = _with_onset(finding, since if since is not None else finding.onset_ms)
            incident.onset_ms = finding.onset_ms
        return [finding] if finding else []


def _other_driver_signal(obs: Observation, besides: str) -> bool:
    """An open warning or critical alert (other than ``besides``) saying someone else may be at the wheel."""
    return any(
        a.kind in OTHER_DRIVER_KINDS and a.kind != besides and a.severity != "info" for a in obs.open_alerts.values()
    )


def standing_on_trip(obs: Observation) -> bool:
    """Standing still (or parked with no speed reported) while on a planned trip."""
    if obs.moving or (obs.speed_kmh is None and obs.record.ignition is not False):
        return False
    return obs.trip is not None


def stood_silent_since(obs: Observation) -> int | None:
    """The previous fix's time, when this record ends a silence of minutes within a jam's creep of it: the vehicle
    stood there meanwhile (a unit that reports only on movement sends nothing while the vehicle stands, so its first
    record after a stop is the first that shows the stop). None otherwise."""
    motion, lat, lon = obs.motion_state, obs.record.lat, obs.record.lon
    fix_ts = motion.fix_ts_ms
    # The previous record itself had the fix: the silence began where the vehicle was last seen.
    if fix_ts is None or fix_ts != motion.last_ts_ms or lat is None or lon is None:
        return None
    stood = silence_ended_where_it_began(motion, lat, lon, obs.motion.gap_ms, UnscheduledStop.creep_m)
    return fix_ts if stood else None


def _stopped(obs: Observation) -> bool:
    """Standing on a trip, as the record's speed says, or as a silence that ended where it began says (a unit that
    reports no speed gives none over minutes)."""
    if standing_on_trip(obs):
        return True
    return obs.trip is not None and not obs.moving and stood_silent_since(obs) is not None


def _with_onset(finding: Finding, onset_ms: int) -> Finding:
    return Finding(
        finding.kind, finding.change, finding.severity, onset_ms, finding.score, finding.zone_id,
        finding.evidence, finding.revision, finding.at_ms,
    )


def _reports_rarely(obs: Observation, hold_ms: int) -> bool:
    """The unit's usual gap while moving is longer than a hold: no second record will confirm the first in time
    (event-driven units send one record when a door input changes, then nothing while the vehicle stands)."""
    motion = obs.motion_state
    usual = motion.usual_gap_ms
    return motion.moving_gaps >= 3 and usual is not None and usual > hold_ms


def _watch_cargo(obs: Observation) -> bool:
    """Cargo is the operator's business on a trip, and a haulier's always; a rental customer's van is theirs."""
    fleet = obs.fleet
    return fleet is not None and (obs.trip is not None or fleet.kind == "haulier")


class CargoDoorOpen(Detector):
    """The cargo door open away from the trip's planned stops and the fleet's sites."""

    name = "cargo_door_open"
    state_type = DoorState
    hold_ms = 5_000
    clear_ms = 2 * 60_000
    moving_kmh = 10.0

    def quiet(self, obs: Observation, state: DoorState) -> bool:
        is_open = obs.record.cargo_door_open
        if is_open is False:
            state.opened_at_place = state.seen_open = False
        return is_open is not True and not under_way(state.incident)

    def observe(self, obs: Observation, state: DoorState) -> list[Finding]:
        record = obs.record
        incident = state.incident
        is_open = record.cargo_door_open
        if is_open is False:
            state.opened_at_place = state.seen_open = False
        if is_open is not True and incident.onset_ms is None and not incident.is_open:
            return []
        if is_open is None or not record.has_position:
            return []
        # A door opened in the queue before a customer's gate is how cargo is stolen from waiting trucks: only the
        # planned stop itself (its radius, GNSS error allowed) or a site explains it. A standing receiver's fix now
        # and then jumps hundreds of metres (multipath), the truck does not: a door opened where the vehicle stood
        # at its last record is opened at that record's place, and one opened at a known place stays explained
        # until the vehicle drives (moving with the ignition on: a standing receiver's drift reads a few km/h).
        motion = obs.motion_state
        at_place = (
            obs.at_known_place or (state.opened_at_place and not (obs.moving and record.ignition is not False))
            or (is_open and not state.seen_open and not motion.last_moving and motion.fix_lat is not None
                and motion.fix_lon is not None and obs.known_place_at(motion.fix_lat, motion.fix_lon))
        )
        state.opened_at_place = bool(is_open) and at_place
        state.seen_open = bool(is_open)
        condition = is_open and _watch_cargo(obs) and not at_place
        driving = (obs.speed_kmh or 0.0) >= self.moving_kmh
        finding = track(
            self.name,
            incident,
            condition,
            obs.ts_ms,
            hold_ms=0 if _reports_rarely(obs, self.hold_ms) else self.hold_ms,
            clear_ms=self.clear_ms,
            severity=lambda: "critical" if driving or not obs.operating(obs.ts_ms) else "warning",
            score=lambda: 0.9 if driving else 0.7,
            evidence=lambda: {
                "trip_id": obs.trip.trip_id if obs.trip else None,
                "speed_kmh": kmh(obs.speed_kmh),
                "ignition": record.ignition,
                "summary": "cargo door open while driving" if driving
                else "cargo door opened away from planned stops and fleet sites",
            },
        )
        return [finding] if finding else []


class TrailerUncoupled(Detector):
    """The trailer uncoupled away from the trip's planned stops and the fleet's sites (dropped, or stolen)."""

    name = "trailer_uncoupled"
    state_type = TrailerState
    clear_ms = 60_000

    def quiet(self, obs: Observation, state: TrailerState) -> bool:
        connected = obs.record.trailer_connected
        if connected is None:
            return True
        if under_way(state.incident) or (not connected and state.coupled and obs.record.has_position):
            return False
        if connected:
            state.dropped_away, state.coupled = False, True
            return True
        if not obs.moving and state.dropped_away:
            return False
        state.dropped_away, state.coupled = False, False
        return True

    def observe(self, obs: Observation, state: TrailerState) -> list[Finding]:
        record = obs.record
        connected = record.trailer_connected
        if connected is None:
            return []
        if connected:
            state.dropped_away = False
        elif state.coupled and record.has_position:
            state.dropped_away = _watch_cargo(obs) and not obs.at_known_place
        elif obs.moving:
            # The incident is the drop: once the tractor drives on solo it is over (fusion still remembers it).
            state.dropped_away = False
        state.coupled = connected
        incident = state.incident
        if not state.dropped_away and incident.onset_ms is None and not incident.is_open:
            return []
        finding = track(
            self.name,
            incident,
            state.dropped_away,
            obs.ts_ms,
            hold_ms=0,
            clear_ms=self.clear_ms,
            severity=lambda: "critical" if not obs.operating(obs.ts_ms) else "warning",
            score=lambda: 0.7,
            evidence=lambda: {
                "trip_id": obs.trip.trip_id if obs.trip else None,
                "speed_kmh": kmh(obs.speed_kmh),
                "summary": "trailer uncoupled away from planned stops and fleet sites",
            },
        )
        return [finding] if finding else []
