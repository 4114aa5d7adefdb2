"""Plans each vehicle's days: haulier shifts (trips, stops, driver swaps) and rental hires, with estimated times."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from can_sim.scenarios.activities import Activity, Drive, Mark, Set, Wait, depart_sequence, park_sequence, stop_sequence
from can_sim.scenarios.fleets import HAULIER_HOURS, VehicleSpec
from can_sim.scenarios.kinematics import estimate_drive_s
from can_sim.scenarios.layout import CityMap, ZoneSite
from can_sim.scenarios.network import RoadNetwork
from telematics.schedule import DAY_NAMES, parse_hhmm

HARD_CASE_FEATURES = ("tunnel", "detour", "zone_delivery", "swap")


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
    plan.spans.append(("depot", plan.spans[-1][2] if plan.spans else start - 86400, shift_start))
    plan.activities.append(Wait(until=shift_start, place="depot"))
    plan.activities.append(Set({"refuel": True}))
    plan.activities += depart_sequence(first, rng.randint(60, 240))
    t = shift_start + 330
    t = _trip(ctx, plan, day, 1, first, t, swap_at if swap_at else closes - 3600)
    if swap_at is None:
        plan.activities += park_sequence(remove_card=True)
        plan.spans.append(("depot", t, closes + 3600))
        return
    gap = rng.randint(8, 25) * 60
    plan.activities.append(Mark("swap_start", {"card_out": first, "card_in": second}))
    plan.activities += park_sequence(remove_card=True)
    plan.activities.append(Wait(seconds=gap, place="depot"))
    plan.activities += depart_sequence(second, rng.randint(60, 180))
    plan.activities.append(Mark("swap_end", {"card_out": first, "card_in": second}))
    plan.spans.append(("depot", t, t + gap))
    t += gap + 300
    t = _trip(ctx, plan, day, 2, second, t, closes - 4500)
    plan.activities += park_sequence(remove_card=True)
    plan.spans.append(("depot", t, closes + 3600))


def _trip(ctx: PlanContext, plan: VehiclePlan, day: date, number: int, card: str, t: int, latest_end: int) -> int:
    """One trip from the depot through customers and back; returns its estimated end."""
    spec, net, rng = ctx.spec, ctx.net, ctx.rng
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
        detour = _detour(ctx, path) if feature == "detour" or rng.random() < 0.08 else None
        if detour is not None:
            if feature == "detour":
                ctx.features.discard("detour")
            path, span = detour
        else:
            span = None
        if feature == "tunnel":
            ctx.features.discard("tunnel")
        arrival = t + drive_s
        departure = arrival + dwell
        plan.activities.append(Drive(tuple(path), "trip", "zone" if zone else "customer", detour=span,
                                     zone_delivery=zone.zone_id if zone else None, planned_departure=departure))
        plan.activities += stop_sequence(departure, min_dwell_s=300, cargo=True)
        trip.route += list(planned[1:])
        trip.stops.append((target, arrival, departure))
        visited.add(target)
        current, t = target, departure
        if zone is not None and feature == "zone_delivery":
            ctx.features.discard("zone_delivery")
    path = net.route(current, depot)
    plan.activities.append(Drive(path, "trip", "depot"))
    t += int(estimate_drive_s(net, path, spec.style))
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
        path = (*net.route(current, u, frozenset({v})), v, *net.route(v, target, frozenset({u}))[1:])
        return target, path, None
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
