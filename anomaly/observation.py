"""The facts derived once from a released record (speed, motion, position, zones, site, trip) for every detector."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

from anomaly.config import EngineConfig
from anomaly.geometry import RouteXY
from anomaly.kinematics import Motion
from anomaly.open_alerts import OpenAlert
from anomaly.spatial import ZONE_REACH_M, MinuteRule, ReferenceIndex, TripShape, ZoneShape, within_m
from anomaly.vehicle_state import MotionState
from telematics.geo import LocalFrame, haversine_m
from telematics.records import TelemetryRecord
from telematics.reference import Fleet, ReferenceData, Site, Trip, TripStop, Vehicle

if TYPE_CHECKING:
    from anomaly.behaviour.model import BehaviourModels

HINT_MARGIN_M: Final = 0.001
"""A hint settles "inside the corridor" or "beyond it" only with this much to spare: far above the rounding of the
distances it adds (nanometres), far below anything that matters on a road."""
HINTS_PER_VEHICLE: Final = 4
"""Trips a vehicle's hints remember (its trips around now are rarely more than two or three)."""
NEAR_SEGMENTS: Final = 4
"""Segments after the hint's nearest one that bound the distance while the vehicle follows the route."""
TRIP_SLACK_MS: Final = 75 * 60_000
"""A vehicle counts as on its planned trip this long before the planned start and after the planned end: trucks run
up to an hour early or late against their plans (traffic, dock queues, the driver's breaks), plus a margin."""
STOP_EARLY_MS: Final = 3 * 60 * 60_000
STOP_LATE_MS: Final = 3 * 60 * 60_000
"""A planned stop is matched by place first; time is only a loose bound: a truck an hour or two early or late is at
its customer all the same, while a customer due tomorrow does not explain standing at its gate today."""
QUEUE_M: Final = 150.0
"""A standstill this close to a planned stop's radius is the queue at its gate or dock: 7-8 trucks at 18-20 m each."""
PLACE_SLACK_M: Final = 40.0
"""GNSS error allowed around a planned stop's or a site's radius, at least; three times the fix's own error (1 sigma)
when that is larger: a tracker between warehouses is 30-50 m off, and the truck is at its customer all the same."""
DEFAULT_GNSS_ERROR_M: Final = 10.0
"""Horizontal GNSS error (1 sigma) assumed when the device reports none: 2-5 m under open sky, 10-50 m between
tall buildings; a detector that must not be fooled by a city centre's fixes assumes the city."""
SCATTER_MIN_SAMPLES: Final = 20
SCATTER_TO_SIGMA: Final = 0.6
"""A unit that reports no accuracy: its error is learned from how far its standing fixes wander from the first fix
of each standstill (anomaly/kinematics.py). For independent errors of sigma per axis that distance averages about
1.8 sigma (the mean of a Rayleigh distribution of scale sigma times the square root of two)."""
UERE_M: Final = 5.0
"""Horizontal error per unit of HDOP: HDOP times the user equivalent range error (about 5 m for a single-frequency
receiver) estimates the 1-sigma horizontal error."""


_UNKNOWN: Final[Any] = object()
"""A fact of this record not worked out yet (None is a valid answer for most)."""


class ZoneView:
    """One protected zone as seen from the vehicle's position at this record.

    Whether the vehicle is inside is known at once; the distance to the outline and the zone's rules at this
    time are worked out on first use, as most zones near a vehicle are only looked at to be ruled out.
    """

    __slots__ = (
        "_active", "_boundary_m", "_category", "_index", "_permitted", "_ts_ms", "inside", "shape", "x", "y", "zone",
    )

    def __init__(
        self, shape: ZoneShape, x: float, y: float, index: ReferenceIndex, category: str | None, ts_ms: int
    ) -> None:
        self.shape = shape
        self.zone = shape.zone
        self.x = x
        self.y = y
        self.inside = shape.polygon.contains(x, y)
        self._index = index
        self._category = category
        self._ts_ms = ts_ms
        self._boundary_m: float | None = None
        self._active: bool | None = None
        self._permitted: bool | None = None

    @property
    def boundary_m(self) -> float:
        """Metres from the outline, inside or out."""
        boundary = self._boundary_m
        if boundary is None:
            boundary = self._boundary_m = self.shape.polygon.boundary_distance(self.x, self.y)
        return boundary

    @property
    def depth_m(self) -> float:
        """Metres inside the boundary (0 when outside)."""
        return self.boundary_m if self.inside else 0.0

    @property
    def distance_m(self) -> float:
        """Metres to the boundary (0 when inside)."""
        return 0.0 if self.inside else self.boundary_m

    def farther_than(self, metres: float) -> bool:
        """Whether the zone is more than this far away, looking at its exact outline only when its box is near."""
        if self.inside:
            return False
        polygon = self.shape.polygon
        # max(low - x, 0.0, x - high), written out: compiled, builtins.max is a call through Python.
        dx = polygon.min_x - self.x
        if dx < 0.0:
            dx = 0.0
        beyond = self.x - polygon.max_x
        if beyond > dx:
            dx = beyond
        dy = polygon.min_y - self.y
        if dy < 0.0:
            dy = 0.0
        beyond = self.y - polygon.max_y
        if beyond > dy:
            dy = beyond
        # The outline lies inside its bounding box, so it is at least as far as the box.
        if dx * dx + dy * dy > metres * metres:
            return True
        return self.boundary_m > metres

    @property
    def active(self) -> bool:
        active = self._active
        if active is None:
            active = self._active = self.shape.active.at(self._ts_ms)
        return active

    @property
    def permitted(self) -> bool:
        permitted = self._permitted
        if permitted is None:
            permitted = self._permitted = self._index.zone_permits(self.zone, self._category, self._ts_ms)
        return permitted


class Observation:
    """A record with what the detectors need to know about it; heavier facts are computed on first use."""

    def __init__(
        self,
        record: TelemetryRecord,
        reference: ReferenceData,
        config: EngineConfig,
        vehicle: Vehicle | None,
        fleet: Fleet | None,
        last_lat: float | None,
        last_lon: float | None,
        open_alerts: dict[str, OpenAlert],
        index: ReferenceIndex | None = None,
        motion_state: MotionState | None = None,
        models: BehaviourModels | None = None,
        route_hints: dict[str, list[RouteHint]] | None = None,
        fleet_hours: MinuteRule | None = None,
    ) -> None:
        self.record = record
        self.reference = reference
        self.config = config
        self.vehicle = vehicle
        self.fleet = fleet
        self.last_lat = last_lat
        self.last_lon = last_lon
        self.open_alerts = open_alerts
        """The vehicle's open incidents, including those opened by detectors that ran before on this record."""
        self.index = index if index is not None else ReferenceIndex(reference)
        if fleet_hours is None and fleet is not None:
            fleet_hours = self.index.fleet_hours(fleet)
        self.fleet_hours = fleet_hours
        """The fleet's operating hours (None without a fleet): index.fleet_hours(fleet), passed in by the engine."""
        self.motion_state = motion_state if motion_state is not None else MotionState()
        self.models = models
        self.route_hints = route_hints
        """The engine's memo of each vehicle's last exact distance from each of its trips' routes (RouteHint)."""
        self._vehicle_hints: list[RouteHint] | None = None
        wheel, gnss = record.wheel_speed_kmh, record.gnss_speed_kmh
        if wheel is None:
            speed = gnss
        elif gnss is None or record.ignition is not False:
            speed = wheel
        else:
            # With the ignition off the CAN bus may sleep and report 0: trust GNSS then.
            speed = max(wheel, gnss)
        self.reported_speed_kmh = speed
        """The speed the device reported (wheels or receiver); None when it reports none."""
        if speed is None:
            speed = _track_speed_kmh(self.motion_state, record)
        self.speed_kmh = speed
        """The reported speed, else the speed along the track from the previous fix (units that report no speed)."""
        self.moving = speed is not None and speed >= config.moving_kmh
        self.motion = Motion(self.motion_state, record, speed, self.moving)
        self._zones: Any = _UNKNOWN
        self._site: Any = _UNKNOWN
        self._trip: Any = _UNKNOWN
        self._route_distance_m: Any = _UNKNOWN
        self._route_excess_m: Any = _UNKNOWN
        self._planned_stop: Any = _UNKNOWN
        # Worked out on first use (most records need few of them): None until then.
        self._around: list[Trip] | None = None
        self._planned_now: list[bool] | None = None
        """For each trip around now: whether it is planned for now (Trip.covers, without slack)."""
        self._exact_distances: list[tuple[Trip, float]] | None = None
        self._outside: list[tuple[Trip, bool]] | None = None
        self._extras: dict[str, Any] | None = None

    @property
    def extras(self) -> dict[str, Any]:
        """Facts one detector hands to a later one on the same record (e.g. the behaviour score for fusion)."""
        extras = self._extras
        if extras is None:
            extras = self._extras = {}
        return extras

    @property
    def ts_ms(self) -> int:
        return self.record.ts_ms

    @property
    def fleet_id(self) -> str | None:
        return self.vehicle.fleet_id if self.vehicle else None

    @property
    def category(self) -> str | None:
        return self.vehicle.category if self.vehicle else None

    @property
    def zones(self) -> list[ZoneView]:
        """Zones within reach of the current fix (none without a fix), sorted by zone id."""
        value = self._zones
        if value is _UNKNOWN:
            value = self._zones = self._find_zones()
        return value  # type: ignore[no-any-return]

    def _find_zones(self) -> list[ZoneView]:
        record = self.record
        if not record.has_position:
            return []
        index = self.index
        shapes = index.zones_near(record.lat, record.lon)  # type: ignore[arg-type]
        if not shapes:
            return []
        views = []
        lat, lon, ts, category = record.lat, record.lon, record.ts_ms, self.category
        for shape in shapes:
            x, y = shape.zone.frame.to_xy(lat, lon)  # type: ignore[arg-type]
            polygon = shape.polygon
            # The grid cell is coarse: a zone whose bounding box is out of reach is not worth a closer look.
            if (
                x < polygon.min_x - ZONE_REACH_M or x > polygon.max_x + ZONE_REACH_M
                or y < polygon.min_y - ZONE_REACH_M or y > polygon.max_y + ZONE_REACH_M
            ):
                continue
            views.append(ZoneView(shape, x, y, index, category, ts))
        return views

    @property
    def site(self) -> Site | None:
        """The fleet site (depot, yard) the vehicle is at, if any."""
        value = self._site
        if value is _UNKNOWN:
            value = self._site = self._find_site()
        return value  # type: ignore[no-any-return]

    def _find_site(self) -> Site | None:
        record = self.record
        if not record.has_position or self.fleet_id is None:
            return None
        return self.index.site_at(self.fleet_id, record.lat, record.lon, self.place_slack_m)  # type: ignore[arg-type]

    @property
    def trip(self) -> Trip | None:
        """The planned trip this vehicle is on now (with half an hour's slack either side), if any."""
        value = self._trip
        if value is _UNKNOWN:
            value = self._trip = self._find_trip()
        return value  # type: ignore[no-any-return]

    def _find_trip(self) -> Trip | None:
        candidates = self._trips_around()
        if len(candidates) <= 1 or not self.record.has_position:
            return candidates[0] if candidates else None
        # Back-to-back trips overlap once their times are given slack, and a truck running late is still on the
        # earlier one when the next one's planned window begins: the vehicle is on a trip whose corridor it is in,
        # the one planned for now if several, else the nearest. (The first of the candidates that is least by
        # (outside the corridor, not planned for now, distance); the exact distance is needed only between ties.)
        # Ranked 0-3: (outside the corridor, not planned for now) as two binary digits.
        best = 4
        tied: list[Trip] = []
        planned_now = self._planned_now
        assert planned_now is not None  # with the candidates
        for position in range(len(candidates)):
            trip = candidates[position]
            rank = 2 * self._outside_corridor(trip) + (not planned_now[position])
            if rank < best:
                best, tied = rank, [trip]
            elif rank == best:
                tied.append(trip)
        if len(tied) == 1:
            return tied[0]
        return min(tied, key=self._exact_route_distance)

    def _outside_corridor(self, trip: Trip) -> bool:
        """Whether the fix lies beyond the trip's corridor (its exact distance from the route is more than the
        corridor), worked out once per record and trip."""
        known_outside = self._outside
        if known_outside is None:
            known_outside = self._outside = []
        for known, outside in known_outside:
            if known is trip:
                return outside
        outside = self._find_outside_corridor(trip)
        known_outside.append((trip, outside))
        return outside

    def _find_outside_corridor(self, trip: Trip) -> bool:
        """The vehicle's hint for the trip often settles it: the distance to a line changes by no more than the
        vehicle moved since a known distance (the hint's exact one bounds it both ways, its latest upper bound from
        above), and while it follows the route, the segments just after the hint's nearest one bound the distance
        from above."""
        hint = self._hint(trip)
        if hint is None:
            return self._exact_route_distance(trip) > trip.corridor_m
        corridor = hint.corridor
        x, y = hint.frame.to_xy(self.record.lat, self.record.lon)  # type: ignore[arg-type]
        # HINT_MARGIN_M covers the rounding of the sums and of the distances moved.
        dx, dy = x - hint.upper_x, y - hint.upper_y
        if hint.upper + math.sqrt(dx * dx + dy * dy) + HINT_MARGIN_M <= corridor:
            return False
        dx, dy = x - hint.x, y - hint.y
        if hint.distance - math.sqrt(dx * dx + dy * dy) - HINT_MARGIN_M > corridor:
            return True
        bound, segment = hint.route.bound_near(x, y, hint.segment, NEAR_SEGMENTS)
        if bound <= corridor:
            hint.segment = segment
            hint.upper, hint.upper_x, hint.upper_y = bound, x, y
            return False
        return self._exact_route_distance(trip) > corridor

    def _hint(self, trip: Trip) -> RouteHint | None:
        hints = self._vehicle_hints
        if hints is None:
            if self.route_hints is None:
                return None
            hints = self._vehicle_hints = self.route_hints.get(self.record.vehicle_id) or []
        for hint in hints:
            if hint.trip is trip:
                return hint
        return None

    def _exact_route_distance(self, trip: Trip) -> float:
        """Metres from the trip's route line to the fix, worked out once per record and trip, and remembered as the
        vehicle's hint for that trip."""
        exact = self._exact_distances
        if exact is None:
            exact = self._exact_distances = []
        for known, distance in exact:
            if known is trip:
                return distance
        frame = trip.frame
        x, y = frame.to_xy(self.record.lat, self.record.lon)  # type: ignore[arg-type]
        route = self.index.trip_shape(trip).route
        distance, segment = route.nearest(x, y)
        exact.append((trip, distance))
        hints = self.route_hints
        if hints is not None:
            _remember_hint(hints, self.record.vehicle_id, RouteHint(trip, route, frame, x, y, distance, segment))
            self._vehicle_hints = None
        return distance

    @property
    def trip_shape(self) -> TripShape | None:
        """The current trip's route in its local frame (the index keeps one per trip)."""
        trip = self.trip
        if trip is None:
            return None
        return self.index.trip_shape(trip)

    @property
    def route_distance_m(self) -> float | None:
        """Metres from the planned trip's route line (None off trip or without a fix)."""
        value = self._route_distance_m
        if value is _UNKNOWN:
            value = self._route_distance_m = self._find_route_distance_m()
        return value  # type: ignore[no-any-return]

    def _find_route_distance_m(self) -> float | None:
        trip = self.trip
        if trip is None or not self.record.has_position:
            return None
        return self._exact_route_distance(trip)

    @property
    def route_excess_m(self) -> float:
        """Metres beyond the trip's corridor (0 inside it, or with no trip or fix)."""
        value = self._route_excess_m
        if value is _UNKNOWN:
            value = self._route_excess_m = self._find_route_excess_m()
        return value  # type: ignore[no-any-return]

    def _find_route_excess_m(self) -> float:
        trip = self.trip
        if trip is None or not self.record.has_position:
            return 0.0
        # Exactly 0 inside the corridor, which the vehicle's hint often settles without a look at the route.
        if not self._outside_corridor(trip):
            return 0.0
        return max(0.0, self._exact_route_distance(trip) - trip.corridor_m)

    @property
    def planned_stop(self) -> TripStop | None:
        """The planned stop of the current trip the vehicle is at, around its planned time, if any."""
        value = self._planned_stop
        if value is _UNKNOWN:
            value = self._planned_stop = self._find_planned_stop()
        return value  # type: ignore[no-any-return]

    def _find_planned_stop(self) -> TripStop | None:
        stop = self.planned_stop_key
        return stop[1] if stop is not None else None

    @property
    def planned_stop_key(self) -> tuple[str, TripStop] | None:
        """The planned stop the vehicle is at (see planned_stop) with its key (``trip_id#index``), if any."""
        record = self.record
        if self.trip is None or not record.has_position:
            return None
        return next(iter(self._open_stops_within(record.lat, record.lon, self.place_slack_m)), None)  # type: ignore[arg-type]

    def _open_stops_within(self, lat: float, lon: float, margin_m: float) -> Iterator[tuple[str, TripStop]]:
        """The planned stops of the vehicle's trips around now, around their planned time and not yet served, whose
        radius plus margin_m reaches this position. Any trip of the vehicle around now counts: the same customer is
        often a stop of two trips in a row. A stop the vehicle stood at and then left for another known place is
        served (MotionState.served_stops): standing there again later explains nothing."""
        ts = self.record.ts_ms
        served = self.motion_state.served_stops
        for trip in self._trips_around():
            for i, s in enumerate(trip.stops):
                if _around_planned_time(s, ts) and within_m(s.lat, s.lon, lat, lon, s.radius_m + margin_m):
                    key = f"{trip.trip_id}#{i}"
                    if key not in served:
                        yield key, s

    def _trips_around(self) -> list[Trip]:
        """The vehicle's trips planned around now (with TRIP_SLACK_MS either side), worked out once per record."""
        around = self._around
        if around is None:
            ts = self.record.ts_ms
            around = self._around = []
            planned_now = self._planned_now = []
            for start, end, trip in self.index.trip_windows(self.record.vehicle_id):
                if start - TRIP_SLACK_MS <= ts <= end + TRIP_SLACK_MS:  # Trip.covers(ts, TRIP_SLACK_MS)
                    around.append(trip)
                    planned_now.append(start <= ts <= end)  # Trip.covers(ts)
        return around

    @property
    def place_slack_m(self) -> float:
        """How far beyond a place's radius the fix may lie and the vehicle still be there (see PLACE_SLACK_M)."""
        return max(PLACE_SLACK_M, 3.0 * self.gnss_error_m)

    @property
    def gnss_error_m(self) -> float:
        """The fix's estimated horizontal error (1 sigma): see gnss_error_estimate_m."""
        return gnss_error_estimate_m(self.record, self.motion_state)

    def nearest_open_stop(self, lat: float, lon: float, margin_m: float) -> tuple[str, TripStop] | None:
        """The open planned stop (see _open_stops_within) whose edge is nearest this position, within margin_m."""
        best: tuple[str, TripStop] | None = None
        best_m = math.inf
        for key, stop in self._open_stops_within(lat, lon, margin_m):
            beyond_m = haversine_m(stop.lat, stop.lon, lat, lon) - stop.radius_m
            if beyond_m < best_m:
                best, best_m = (key, stop), beyond_m
        return best

    def near_planned_stop(self, margin_m: float) -> bool:
        """Within margin_m of the radius of an open planned stop around its time (unknown without a fix: False)."""
        record = self.record
        if self.trip is None or not record.has_position:
            return False
        return any(True for _ in self._open_stops_within(record.lat, record.lon, margin_m))  # type: ignore[arg-type]

    def known_place_at(self, lat: float, lon: float) -> bool:
        """Whether this position (the previous fix, say) is at an open planned stop around its time or a fleet site."""
        slack = self.place_slack_m
        if self.fleet_id is not None and self.index.site_at(self.fleet_id, lat, lon, slack) is not None:
            return True
        return self.trip is not None and any(True for _ in self._open_stops_within(lat, lon, slack))

    @property
    def at_known_place(self) -> bool:
        """At a planned stop of the current trip or at one of the fleet's sites (unknown without a fix: False)."""
        return self.planned_stop is not None or self.site is not None

    def operating(self, ts_ms: int) -> bool:
        hours = self.fleet_hours
        return True if hours is None else hours.at(ts_ms)


def gnss_error_estimate_m(record: TelemetryRecord, motion: MotionState) -> float:
    """A fix's horizontal error (1 sigma): the device's own estimate, else from HDOP, else learned from how far the
    unit's standing fixes wander (at least the assumed city error), else assumed."""
    if record.gnss_accuracy_m is not None:
        return max(record.gnss_accuracy_m, 1.0)
    if record.hdop is not None:
        return max(record.hdop * UERE_M, 1.0)
    if motion.scatter_samples >= SCATTER_MIN_SAMPLES and motion.standing_scatter_m is not None:
        return max(DEFAULT_GNSS_ERROR_M, SCATTER_TO_SIGMA * motion.standing_scatter_m)
    return DEFAULT_GNSS_ERROR_M


TRACK_SPEED_GAP_MS: Final = (5_000, 300_000)
"""A speed along the track is taken between fixes this far apart: closer, GNSS noise dominates; farther, the vehicle
may have stopped and gone on in between."""


def _track_speed_kmh(motion: MotionState, record: TelemetryRecord) -> float | None:
    """The mean speed from the previous fix to this one, for units that report none (phone apps, many trackers)."""
    if not record.has_position or motion.fix_ts_ms is None or motion.fix_lat is None or motion.fix_lon is None:
        return None
    gap_ms = record.ts_ms - motion.fix_ts_ms
    if not TRACK_SPEED_GAP_MS[0] <= gap_ms <= TRACK_SPEED_GAP_MS[1]:
        return None
    metres = haversine_m(motion.fix_lat, motion.fix_lon, record.lat, record.lon)  # type: ignore[arg-type]
    return metres / gap_ms * 3600.0


class RouteHint:
    """A vehicle's last exact distance from one trip's route: where it was then (in the trip's frame), how far, and
    a segment nearest then (moved on as the vehicle follows the route); and the latest upper bound of the distance
    with where it held. A cache, never part of the vehicle's state."""

    __slots__ = ("corridor", "distance", "frame", "route", "segment", "trip", "upper", "upper_x", "upper_y", "x", "y")

    def __init__(
        self, trip: Trip, route: RouteXY, frame: LocalFrame, x: float, y: float, distance: float, segment: int
    ) -> None:
        self.trip = trip
        self.corridor = trip.corridor_m
        self.route = route
        self.frame = frame
        self.x = x
        self.y = y
        self.distance = distance
        self.segment = segment
        self.upper = distance
        self.upper_x = x
        self.upper_y = y


def _remember_hint(hints: dict[str, list[RouteHint]], vehicle_id: str, hint: RouteHint) -> None:
    """Keep the hint as the vehicle's newest for its trip."""
    kept = [known for known in hints.get(vehicle_id, ()) if known.trip is not hint.trip]
    kept.append(hint)
    hints[vehicle_id] = kept[-HINTS_PER_VEHICLE:]


VISIT_MIN_MS = 4 * 60_000
"""A planned stop is served by a visit this long in which the cargo door opened or the engine was switched off: a
delivery or collection takes a quarter of an hour or more, while a red light beside a customer's gate lasts one
signal cycle (60-120 s) and a truck queueing for a busy dock keeps its engine running and its doors shut."""
VISIT_EARLY_MS = 60 * 60_000
"""A standstill at a stop's place counts as its visit from this long before its planned arrival: trucks run up to an
hour early; earlier, it is a yard move or another errand at the same place, and the stop is still to come."""
SERVED_AWAY_M = 300.0
"""A known place this far from a visited stop is somewhere else (twice QUEUE_M: not the queue at the same gate)."""
SERVED_KEPT = 32
STANDSTILL_MOVED_M = 60.0
"""A standing receiver's fixes wander tens of metres (10-50 m between tall buildings, see DEFAULT_GNSS_ERROR_M); a
standing fix further than this from where its standstill was looked up is looked up again."""


def note_stop_visit(obs: Observation) -> None:
    """Follow the vehicle's visits to its planned stops. A stop is served once the vehicle has worked there (cargo
    door opened, or engine off, within a visit of at least VISIT_MIN_MS) and then stood at another known place (a
    later stop, a site) SERVED_AWAY_M away: standing at a served stop again explains nothing (a trailer dropped
    there, a door opened there). Where a standstill is, is looked up once per standstill (and again should the fix
    move STANDSTILL_MOVED_M), not at every standing record."""
    record, state = obs.record, obs.motion_state
    if not record.has_position:
        return
    lat, lon = record.lat, record.lon
    if obs.moving:
        if state.standstill_lat is None:
            return  # under way: only the record that ends a standstill says how long the visit lasted
        state.standstill_lat = state.standstill_lon = None
    elif (
        state.standstill_lat is None or state.standstill_lon is None
        or haversine_m(state.standstill_lat, state.standstill_lon, lat, lon) > STANDSTILL_MOVED_M  # type: ignore[arg-type]
    ):
        state.standstill_lat, state.standstill_lon = lat, lon
        current = obs.nearest_open_stop(lat, lon, PLACE_SLACK_M) if obs.trip is not None else None  # type: ignore[arg-type]
        state.standstill_stop = current[0] if current is not None else None
        if current is not None or (obs.trip is not None and obs.site is not None):
            _arrive(state, current, record.ts_ms, lat, lon)  # type: ignore[arg-type]
    if state.visiting_stop is None or state.visit_lat is None or state.visit_lon is None:
        return
    if haversine_m(state.visit_lat, state.visit_lon, lat, lon) <= SERVED_AWAY_M:  # type: ignore[arg-type]
        state.visit_last_ms = record.ts_ms
        at_it = not obs.moving and state.standstill_stop == state.visiting_stop
        if at_it and (record.cargo_door_open is True or record.ignition is False):
            state.visit_worked = True


def _arrive(state: MotionState, current: tuple[str, TripStop] | None, ts_ms: int, lat: float, lon: float) -> None:
    """The vehicle stands at a known place (the planned stop ``current``, else a site): the visit under way ends
    here when this is another stop or a place SERVED_AWAY_M away (served if it was worked), and one begins at
    ``current`` from VISIT_EARLY_MS before its planned arrival."""
    visiting = state.visiting_stop
    if current is not None and current[0] == visiting:
        return
    if visiting is not None and state.visit_lat is not None and state.visit_lon is not None:
        away = haversine_m(state.visit_lat, state.visit_lon, lat, lon) > SERVED_AWAY_M
        since, last = state.visit_since_ms, state.visit_last_ms
        if away and state.visit_worked and since is not None and last is not None and last - since >= VISIT_MIN_MS:
            state.served_stops = [*state.served_stops[-(SERVED_KEPT - 1) :], visiting]
        if away or current is not None:
            state.visiting_stop = None
    if current is None or state.visiting_stop is not None:
        return
    key, stop = current
    if stop.planned_arrival_ms is not None and ts_ms < stop.planned_arrival_ms - VISIT_EARLY_MS:
        return
    state.visiting_stop, state.visit_lat, state.visit_lon = key, stop.lat, stop.lon
    state.visit_since_ms = state.visit_last_ms = ts_ms
    state.visit_worked = False


def _around_planned_time(stop: TripStop, ts_ms: int) -> bool:
    arrival, departure = stop.planned_arrival_ms, stop.planned_departure_ms
    early = arrival is not None and ts_ms < arrival - STOP_EARLY_MS
    late = departure is not None and ts_ms > departure + STOP_LATE_MS
    return not (early or late)
