"""Plans each vehicle's days: haulier shifts (trips, stops, driver swaps) and rental hires, with estimated times."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from can_sim.scenarios.activities import (
    Activity,
    Drive,
    Mark,
    Set,
    Shunt,
    Wait,
    depart_sequence,
    park_sequence,
    stop_sequence,
)
from can_sim.scenarios.fleets import HAULIER_HOURS, VehicleSpec
from can_sim.scenarios.kinematics import estimate_drive_s
from can_sim.scenarios.layout import CityMap, ZoneSite
from can_sim.scenarios.network import NoRouteError, RoadNetwork
from telematics.schedule import DAY_NAMES, parse_hhmm

HARD_CASE_FEATURES = ("tunnel", "detour", "zone_delivery", "swap")
BREAK_AFTER_DRIVING_S = 4 * 3600 + 30 * 60
"""EU Regulation 561/2006 Art. 7: after 4.5 h of driving, a break of at least 45 min..."""
SPLIT_BREAK_S = (15 * 60, 30 * 60)
"""...which may be split into at least 15 min followed by at least 30 min, both inside the 4.5 h."""
FIRST_PART_AFTER_S = (60 * 60, 150 * 60)
"""When drivers take the first part: a matter of habit, well before the limit."""


@dataclass
class TripPlan:
    """A planned trip as trips.geojson publishes it (times in epoch seconds)."""

    trip_id: str
    vehicle_id: str
    driver_card_id: str | None
    planned_start: int
    planned_end: int
    route: list[int]
    stops: list[tuple[int, int, int]]
    """(node, planned arrival, planned departure)."""
    corridor_m: float = 250.0


@dataclass
class VehiclePlan:
    """A vehicle's activities over the window, the trips it publishes, and (kind, start, end) spans by estimate."""

    activities: list[Activity] = field(default_factory=list)
    trips: list[TripPlan] = field(default_factory=list)
    spans: list[tuple[str, int, int]] = field(default_factory=list)


@dataclass
class PlanContext:
    """What a planner needs: the vehicle, its city, the bundle window and the hard cases it must show."""

    spec: VehicleSpec
    city: CityMap
    window: tuple[int, int]
    rng: random.Random
    features: set[str]
    align_shifts: bool = False
    """Start every shift and hire at the window's start when the hours allow (a short demo that must move)."""

    @property
    def net(self) -> RoadNetwork:
        return self.city.network

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.city.city.timezone)


def local_epoch(day: date, hhmm: str, tz: ZoneInfo) -> int:
    """Epoch seconds of a local wall-clock time on a local date."""
    minutes = parse_hhmm(hhmm, "time")
    moment = datetime.combine(day, time(0, 0), tz) + timedelta(minutes=minutes)
    return int(moment.timestamp())


def local_days(window: tuple[int, int], tz: ZoneInfo) -> list[date]:
    """Every local date from the day the window starts to the day it ends."""
    first = datetime.fromtimestamp(window[0], tz).date()
    last = datetime.fromtimestamp(window[1], tz).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def plan_vehicle(ctx: PlanContext) -> VehiclePlan:
    """All the vehicle's days; it starts parked at its fleet's site with the ignition off and no card."""
    plan = VehiclePlan()
    for day in local_days(ctx.window, ctx.tz):
        if ctx.spec.fleet.kind == "haulier":
            _haulier_day(ctx, plan, day)
        else:
            _rental_day(ctx, plan, day)
    return plan


def _haulier_day(ctx: PlanContext, plan: VehiclePlan, day: date) -> None:
    hours = HAULIER_HOURS[DAY_NAMES[day.weekday()]]
    if hours is None:
        return
    rng, tz = ctx.rng, ctx.tz
    opens, closes = local_epoch(day, hours[0], tz), local_epoch(day, hours[1], tz)
    weekday = day.weekday() < 5
    shift_start = opens + rng.randint(30, 150 if weekday else 60) * 60
    swap_at = local_epoch(day, "12:30", tz) + rng.randint(0, 90) * 60 if weekday else None
    start, end = ctx.window
    if "swap" in ctx.features and weekday and end - start < 12 * 3600:
        wanted = start + (end - start) // 2
        if opens + 3 * 3600 <= wanted <= closes - 4 * 3600:
            swap_at = wanted
            shift_start = min(shift_start, wanted - 2 * 3600)
    if swap_at is not None and rng.random() > 0.85 and "swap" not in ctx.features:
        swap_at = None
    if ctx.align_shifts and opens <= start <= closes - 7200:
        shift_start = start - rng.randint(30, 200)
        swap_at = None
    first, second = ctx.spec.cards
    drift = _drift(ctx, opens, shift_start)
    late = max(0, drift)
    plan.spans.append(("depot", plan.spans[-1][2] if plan.spans else start - 86400, shift_start + drift))
    plan.activities.append(Wait(until=shift_start + drift, place="depot"))
    if drift:
        plan.activities.append(Mark("case_start", {"kind": "schedule_drift", "minutes": drift // 60}))
    if ctx.spec.driving.yard_moves:
        plan.activities += yard_moves(rng)
    plan.activities.append(Set({"refuel": True}))
    plan.activities += depart_sequence(first, rng.randint(60, 240))
    t = shift_start + 330
    driving = _DrivingClock(ctx)
    t = _trip(ctx, plan, day, 1, first, t, (swap_at if swap_at else closes - 3600) - late, drift, driving)
    if swap_at is None:
        plan.activities += park_sequence(remove_card=True)
        _end_of_shift(ctx, plan, drift)
        plan.spans.append(("depot", t + drift, closes + 3600))
        return
    gap = rng.randint(8, 25) * 60
    plan.activities.append(Mark("swap_start", {"card_out": first, "card_in": second}))
    plan.activities += park_sequence(remove_card=True)
    plan.activities.append(Wait(seconds=gap, place="depot"))
    plan.activities += depart_sequence(second, rng.randint(60, 180))
    plan.activities.append(Mark("swap_end", {"card_out": first, "card_in": second}))
    plan.spans.append(("depot", t + drift, t + drift + gap))
    t += gap + 300
    t = _trip(ctx, plan, day, 2, second, t, closes - 4500 - late, drift, _DrivingClock(ctx))
    plan.activities += park_sequence(remove_card=True)
    _end_of_shift(ctx, plan, drift)
    plan.spans.append(("depot", t + drift, closes + 3600))


def _drift(ctx: PlanContext, opens: int, shift_start: int) -> int:
    """How many seconds early (negative) or late the day runs against its plan; never before the fleet opens."""
    low, high = ctx.spec.driving.schedule_drift_min
    if low == high == 0 or ctx.align_shifts:
        return 0
    drift = ctx.rng.randint(low, high) * 60
    return max(drift, opens + 300 - shift_start)


def _end_of_shift(ctx: PlanContext, plan: VehiclePlan, drift: int) -> None:
    if ctx.spec.driving.yard_moves:
        plan.activities += yard_moves(ctx.rng)
    if drift:
        plan.activities.append(Mark("case_end", {"kind": "schedule_drift"}))


def yard_moves(rng: random.Random) -> list[Activity]:
    """A shunter moves the truck round the depot yard and back at walking pace, ignition on and no card: the yard
    is private ground, outside the carriage by road that Regulation (EC) 561/2006 and its tachograph rules cover."""
    legs = tuple((rng.uniform(-90.0, 90.0), rng.uniform(-90.0, 90.0)) for _ in range(rng.randint(1, 3)))
    return [Mark("case_start", {"kind": "yard_move"}), Set({"cab_door_open": True}), Wait(seconds=4),
            Set({"cab_door_open": False}), Set({"ignition": True}), Wait(seconds=rng.randint(20, 60)),
            Set({"parking_brake": False}), Shunt(legs, rng.uniform(1.5, 3.0)), Set({"parking_brake": True}),
            Wait(seconds=10), Set({"ignition": False}), Wait(seconds=rng.randint(60, 600)),
            Mark("case_end", {"kind": "yard_move"})]


@dataclass
class _DrivingClock:
    """Estimated driving since the last break, and when the driver will take the next part of it."""

    ctx: PlanContext
    driven_s: float = 0.0
    parts_left: list[int] = field(default_factory=list)
    due_s: float = 0.0

    def __post_init__(self) -> None:
        if self.ctx.spec.driving.break_rules:
            self.parts_left = list(SPLIT_BREAK_S)
            self.due_s = self.ctx.rng.randint(*FIRST_PART_AFTER_S)

    def break_due(self, drive_s: float) -> int | None:
        """The break (seconds) the driver takes during a drive of this length, if one falls due."""
        self.driven_s += drive_s
        if not self.parts_left or self.driven_s < self.due_s:
            return None
        length = self.parts_left.pop(0)
        self.driven_s = 0.0
        self.due_s = BREAK_AFTER_DRIVING_S - self.due_s - 1800 if self.parts_left else BREAK_AFTER_DRIVING_S
        return length


def _roadside(ctx: PlanContext, path: tuple[int, ...] | list[int]) -> int | None:
    """A path index in the leg's middle where a truck can pull over: a street node away from every zone."""
    net = ctx.net
    middle = [k for k in range(2, len(path) - 2)
              if not any(net.edges[e].near_zones or net.edges[e].zone_id for _, e in net.adjacency[path[k]])]
    if not middle:
        return None
    middle.sort(key=lambda k: abs(k - len(path) // 2))
    return middle[0]


def _pull_over(steps: list[Activity], kind: str, seconds: int, refuel: bool = False) -> list[Activity]:
    """Park at the roadside (card stays in, as the tachograph records the break), and drive on."""
    out: list[Activity] = [Mark("case_start", {"kind": kind}), *park_sequence(remove_card=False)]
    if refuel:
        out.append(Set({"refuel": True}))
    out += [Wait(seconds=seconds), *depart_sequence(None, 30), Mark("case_end", {"kind": kind})]
    return [*steps, *out]


def _legs(ctx: PlanContext, leg: Drive, drive_s: float, clock: _DrivingClock, refuel: bool,
          queue: bool) -> tuple[list[Activity], int]:
    """The drive to the next stop, cut where the driver pulls over (a break, fuel) or queues before the dock;
    returns the activities and the extra seconds the planner allowed for them."""
    rng, path, detour = ctx.rng, leg.path, leg.detour
    stops: list[tuple[int, str, int]] = []
    pause = clock.break_due(drive_s)
    mid = _roadside(ctx, path) if pause or refuel else None
    if mid is not None and (detour is None or not detour[0] <= mid <= detour[1]):
        if pause:
            stops.append((mid, "driver_break", pause))
        elif refuel:
            stops.append((mid, "refuel", rng.randint(10, 20) * 60))
    if queue and len(path) >= 4 and (detour is None or detour[1] < len(path) - 3):
        stops.append((len(path) - 3, "dock_queue", rng.randint(10, 40) * 60))
    if not stops:
        return [leg], 0
    out: list[Activity] = []
    allowed = 0
    at = 0
    for k, kind, seconds in sorted(stops):
        if k <= at:
            continue
        shift = None if detour is None else (detour[0] - at, detour[1] - at)
        out.append(Drive(tuple(path[at:k + 1]), "trip", None, detour=shift if shift and shift[0] >= 0 else None))
        if kind == "dock_queue":
            # Engine idling on the street while the trucks ahead are unloaded.
            out += [Mark("case_start", {"kind": kind}), Set({"parking_brake": True}), Wait(seconds=seconds),
                    Set({"parking_brake": False}), Mark("case_end", {"kind": kind})]
        else:
            out = _pull_over(out, kind, seconds, refuel=kind == "refuel")
        # Planners budget for breaks, fuel and the usual wait at a busy dock; where they do not, the day would
        # run later and later, which the schedule drift already covers.
        allowed += seconds
        at = k
    rest = None if detour is None or detour[1] <= at else (max(0, detour[0] - at), detour[1] - at)
    out.append(replace(leg, path=tuple(path[at:]), detour=rest))
    return out, allowed


def _trip(ctx: PlanContext, plan: VehiclePlan, day: date, number: int, card: str, t: int, latest_end: int,
          drift: int = 0, clock: _DrivingClock | None = None) -> int:
    """One trip from the depot through customers and back; returns its estimated end (in plan time; the
    vehicle runs `drift` seconds off it)."""
    spec, net, rng = ctx.spec, ctx.net, ctx.rng
    clock = clock or _DrivingClock(ctx)
    # Topped up at the depot before the shift, so a fuel stop comes on a later leg, if at all.
    refuel_at = rng.randint(2, 3) if spec.driving.refuel_p and rng.random() < spec.driving.refuel_p else None
    depot = spec.fleet.site_node
    trip = TripPlan(f"{spec.vehicle_id}-{day:%Y%m%d}-{number}", spec.vehicle_id, card, t, t, [depot], [])
    trip_start = t
    current = depot
    visited: set[int] = set()
    while True:
        feature = _due_feature(ctx, t)
        dwell = rng.randint(8, 25) * 60 if spec.category != "N3" else rng.randint(15, 40) * 60
        target, path, zone = _next_stop(ctx, current, visited, feature, t, dwell)
        drive_s = int(estimate_drive_s(net, path, spec.style))
        back = estimate_drive_s(net, net.route(target, depot), spec.style)
        if trip.stops and t + drive_s + dwell + back > latest_end:
            break
        planned = path
        detour = _detour(ctx, path) if feature == "detour" or rng.random() < spec.driving.detour_p else None
        if detour is not None:
            if feature == "detour":
                ctx.features.discard("detour")
            path, span = detour
        else:
            span = None
        if feature == "tunnel":
            ctx.features.discard("tunnel")
        queue = bool(spec.driving.dock_queue_p) and zone is None and rng.random() < spec.driving.dock_queue_p
        leg = Drive(tuple(path), "trip", "zone" if zone else "customer", detour=span,
                    zone_delivery=zone.zone_id if zone else None, planned_departure=t + drive_s + dwell + drift)
        legs, allowed = _legs(ctx, leg, drive_s, clock, refuel_at == len(trip.stops) + 1, queue)
        arrival = t + drive_s + allowed
        departure = arrival + dwell
        plan.activities += legs
        plan.activities += stop_sequence(departure + drift, min_dwell_s=300, cargo=True)
        trip.route += list(planned[1:])
        trip.stops.append((target, arrival, departure))
        visited.add(target)
        current, t = target, departure
        if zone is not None and feature == "zone_delivery":
            ctx.features.discard("zone_delivery")
    path = net.route(current, depot)
    back_s = estimate_drive_s(net, path, spec.style)
    legs, allowed = _legs(ctx, Drive(tuple(path), "trip", "depot"), back_s, clock, False, False)
    plan.activities += legs
    t += int(back_s) + allowed
    trip.route += list(path[1:])
    trip.planned_end = t + 15 * 60
    trip.planned_start = trip_start - 5 * 60
    plan.trips.append(trip)
    plan.spans.append(("trip", trip_start, t))
    return t


def _due_feature(ctx: PlanContext, t: int) -> str | None:
    """A hard case this vehicle still has to show, once the plan reaches the bundle window."""
    start, end = ctx.window
    if not (start + 120 <= t <= end - 1200):
        return None
    for name in ("zone_delivery", "tunnel", "detour"):
        if name in ctx.features:
            return name
    return None


def _next_stop(ctx: PlanContext, current: int, visited: set[int], feature: str | None, t: int,
               dwell: int) -> tuple[int, tuple[int, ...], ZoneSite | None]:
    net, rng, spec = ctx.net, ctx.rng, ctx.spec
    if feature == "zone_delivery" or (spec.category != "N3" and rng.random() < 0.15):
        zones = [z for z in _delivery_zones(ctx) if z.stop_node is not None and z.stop_node != current]
        zones.sort(key=lambda z: z.stop_node in visited)
        for zone in zones:
            path = net.route(current, zone.stop_node)  # type: ignore[arg-type]
            arrival = t + estimate_drive_s(net, path, spec.style)
            inside = in_delivery_window(zone, int(arrival) - 900, ctx.tz)
            if inside and in_delivery_window(zone, int(arrival) + dwell + 900, ctx.tz):
                return path[-1], path, zone
    if feature == "tunnel" and ctx.city.tunnels:
        eid = rng.choice(ctx.city.tunnels)
        edge = net.edges[eid]
        u, v = (edge.u, edge.v) if rng.random() < 0.5 else (edge.v, edge.u)
        target = min((c.node for c in ctx.city.customers if c.node not in visited),
                     key=lambda n: net.distance_m(n, v))
        try:
            path = (*net.route(current, u, frozenset({v})), v, *net.route(v, target, frozenset({u}))[1:])
            return target, path, None
        except NoRouteError:
            pass  # no way through this tunnel from here (a dead end behind it): an ordinary stop instead
    wanted = "industrial" if spec.category == "N3" else "retail"
    open_customers = [c for c in ctx.city.customers if c.node not in visited and c.node != current]
    if ctx.align_shifts and current == spec.fleet.site_node:
        # A demo wants its trucks on the road for its whole first minutes: the first customer is across town.
        open_customers = [c for c in open_customers if net.distance_m(current, c.node) > 4000] or open_customers
    customers = [c.node for c in open_customers]
    preferred = [c.node for c in open_customers if c.kind == wanted]
    pool = preferred if len(preferred) >= 4 and rng.random() < 0.8 else customers
    nearest = sorted(pool, key=lambda n: net.distance_m(current, n))[:8]
    target = rng.choice(nearest)
    return target, net.route(current, target), None


def in_delivery_window(zone: ZoneSite, t: int, tz: ZoneInfo) -> bool:
    """Whether a local time falls inside one of the zone's delivery windows (all days)."""
    moment = datetime.fromtimestamp(t, tz)
    minute = moment.hour * 60 + moment.minute
    for window in zone.properties["access"].get("delivery_windows", []):
        if parse_hhmm(window["from"], "from") <= minute < parse_hhmm(window["to"], "to"):
            return True
    return False


def _delivery_zones(ctx: PlanContext) -> list[ZoneSite]:
    """The pedestrian streets this vehicle may deliver into (its category allowed), in random order."""
    zones = [z for z in ctx.city.zones if z.shape == "street"
             and ctx.spec.category in z.properties["access"]["categories_allowed"]]
    ctx.rng.shuffle(zones)
    return zones


def _detour(ctx: PlanContext, path: tuple[int, ...]) -> tuple[list[int], tuple[int, int]] | None:
    """Round one block of the path (road works): the vehicle leaves its corridor for a few hundred metres."""
    net, rng = ctx.net, ctx.rng
    grid_at = [(k, net.grid_of[n]) for k, n in enumerate(path)
               if n in net.grid_of and max(map(abs, net.grid_of[n])) <= 11]
    pairs = []
    for (ka, (ia, ja)), (kb, (ib, jb)) in itertools.pairwise(grid_at):
        if abs(ia - ib) + abs(ja - jb) != 1 or ka < 2 or kb > len(path) - 3:
            continue
        if any(net.edge_between(path[k], path[k + 1]).tunnel for k in range(ka, kb)):
            continue
        pairs.append((ka, kb, ia, ja, ib, jb))
    rng.shuffle(pairs)
    for ka, kb, ia, ja, ib, jb in pairs:
        for side in (1, -1):
            di, dj = (0, side) if ja == jb else (side, 0)
            a2, b2 = net.grid.get((ia + di, ja + dj)), net.grid.get((ib + di, jb + dj))
            if a2 is None or b2 is None or a2 in path or b2 in path:
                continue
            legs = [net.route(path[ka], a2), net.route(a2, b2), net.route(b2, path[kb])]
            if any(len(leg) > 3 for leg in legs):
                continue
            around = [*legs[0], *legs[1][1:], *legs[2][1:]]
            new_path = [*path[:ka], *around, *path[kb + 1:]]
            return new_path, (ka, ka + len(around) - 1)
    return None


def _rental_day(ctx: PlanContext, plan: VehiclePlan, day: date) -> None:
    rng, tz, net, spec = ctx.rng, ctx.tz, ctx.net, ctx.spec
    start, end = ctx.window
    count = rng.choices((0, 1, 2), (0.25, 0.5, 0.25))[0]
    opens = local_epoch(day, "07:00", tz)
    starts = sorted(opens + rng.randint(0, 10 * 3600) for _ in range(count))
    day_end = opens + 17 * 3600
    if ctx.align_shifts and opens - 7 * 3600 <= start < day_end:
        starts = [start - rng.randint(60, 900)]
    elif end - start < 12 * 3600 and opens - 7 * 3600 <= start < day_end and rng.random() < 0.8:
        starts = [start - rng.randint(0, 40 * 60) + (end - start) // 6 * rng.randint(0, 2)]
    station = spec.fleet.site_node
    t_free = plan.spans[-1][2] if plan.spans else start - 86400
    for hire_start in starts:
        if hire_start < t_free + 1800:
            continue
        plan.spans.append(("station", t_free, hire_start))
        plan.activities.append(Wait(until=hire_start, place="station"))
        plan.activities += depart_sequence(None, rng.randint(20, 90))
        t = hire_start + 150
        current = station
        for _ in range(rng.randint(2, 4)):
            target = rng.choice(ctx.city.customers).node if rng.random() < 0.6 else _random_street_node(ctx)
            if target == current:
                continue
            path = net.route(current, target)
            dwell = rng.randint(5, 60) * 60
            plan.activities.append(Drive(path, "hire", "customer"))
            plan.activities += park_sequence(remove_card=False)
            if rng.random() < 0.6:
                plan.activities += [Wait(seconds=30), Set({"cargo_door_open": True}),
                                    Wait(seconds=rng.randint(60, 600)),
                                    Set({"cargo_door_open": False})]
            plan.activities.append(Wait(seconds=dwell, place="customer"))
            plan.activities += depart_sequence(None, rng.randint(15, 60))
            t += int(estimate_drive_s(net, path, spec.style)) + dwell + 600
            current = target
        path = net.route(current, station)
        plan.activities.append(Drive(path, "hire", "station"))
        plan.activities += park_sequence(remove_card=False)
        plan.activities.append(Set({"refuel": True}))
        t += int(estimate_drive_s(net, path, spec.style)) + 120
        plan.spans.append(("hire", hire_start, t))
        t_free = t
    plan.spans.append(("station", t_free, local_epoch(day, "23:59", tz) + 60))


def _random_street_node(ctx: PlanContext) -> int:
    net, rng = ctx.net, ctx.rng
    while True:
        node = net.grid.get((rng.randint(-10, 10), rng.randint(-10, 10)))
        near = node is not None and any(net.edges[e].near_zones or net.edges[e].zone_id for _, e in net.adjacency[node])
        if node is not None and not near:
            return node

