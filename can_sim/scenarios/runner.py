"""Runs one vehicle through its plan second by second, handing it to an incident script when the incident begins."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from typing import Any
from zoneinfo import ZoneInfo

from can_sim.scenarios.activities import Activity, Drive, Mark, Set, Shunt, Wait
from can_sim.scenarios.device import Device, TrueState
from can_sim.scenarios.fleets import HAULIER_HOURS, VehicleSpec
from can_sim.scenarios.kinematics import Course, DriveStyle, build_course, drive
from can_sim.scenarios.labels import HardCase, IncidentLabel, rfc3339
from can_sim.scenarios.layout import NEAR_ZONE_M, CityMap, ZoneSite, distance_to_ring
from can_sim.scenarios.network import RoadNetwork
from can_sim.scenarios.plans import VehiclePlan, in_delivery_window, local_days, local_epoch
from telematics.errors import OperationFailed
from telematics.schedule import DAY_NAMES, parse_hhmm

STATIONARY_TRIGGERS = ("unattended", "night", "rental")
DRIVE_TRIGGERS = ("drive_stop", "drive_on", "rental")
ARRIVAL_TRIGGERS = ("stop", "unattended")
CRASH_DECEL_MPS2 = 6.0

Script = Callable[["VehicleRun", "Takeover"], Iterator[Activity]]


class ScriptError(OperationFailed):
    """An incident script asked for something the vehicle cannot do where it is (e.g. drive while off the road)."""


@dataclass
class Takeover:
    """An incident armed on a vehicle: the script takes over at the first chance of its trigger kind after `at`."""

    trigger: str
    at: int
    script: Script
    label: IncidentLabel
    resumable: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    """Script knobs: "zone_id" (the zone to ram), "quick" (short pauses, for demos), "ends_in_ramming"."""


@dataclass
class _ZoneSpan:
    start: int
    min_distance: float
    max_speed: float
    purpose: str | None
    entered: int | None = None
    left: int | None = None
    max_speed_inside: float = 0.0


@dataclass
class _Fired:
    remainder: tuple[int, ...] = ()
    drive: Drive | None = None
    details: dict[str, Any] = field(default_factory=dict)


def operating_at(spec: VehicleSpec, t: int) -> bool:
    """Whether a time lies inside the vehicle's fleet operating hours (rental fleets: always)."""
    return spec.fleet.kind != "haulier" or haulier_operating_at(spec.fleet.city.timezone, t)


def haulier_operating_at(timezone: str, t: int) -> bool:
    """Whether a time lies inside the haulier fleets' operating hours in that time zone."""
    moment = datetime.fromtimestamp(t, ZoneInfo(timezone))
    hours = HAULIER_HOURS[DAY_NAMES[moment.weekday()]]
    minute = moment.hour * 60 + moment.minute
    return hours is not None and parse_hhmm(hours[0], "from") <= minute < parse_hhmm(hours[1], "to")


class VehicleRun:
    """One vehicle's simulation: true state, device, hard-case spans and the incident it may suffer."""

    def __init__(self, spec: VehicleSpec, city: CityMap, plan: VehiclePlan, window: tuple[int, int],
                 takeover: Takeover | None, seed: int) -> None:
        self.spec = spec
        self.city = city
        self.net: RoadNetwork = city.network
        self.plan = plan
        self.window = window
        self.rng = random.Random(f"{seed}/{spec.vehicle_id}/sim")
        self.zones = {z.zone_id: z for z in city.zones}
        base = spec.fleet.site_node
        tz = ZoneInfo(city.city.timezone)
        t0 = local_epoch(local_days(window, tz)[0], "00:00", tz)
        self.st = TrueState(t=t0, x=self.net.xs[base], y=self.net.ys[base], node=base,
                            odometer_m=spec.odometer_km * 1000.0, fuel_pct=spec.fuel_pct,
                            trailer_connected=spec.has_trailer, place=spec.fleet.site_kind)
        self.device = Device(spec.vehicle_id, spec.device, self.net.projection, seq0=spec.seq0, window=window,
                             rng=random.Random(f"{seed}/{spec.vehicle_id}/device"), vmax_kmh=spec.style.vmax_mps * 3.6)
        self.pending = takeover
        self.label: IncidentLabel | None = takeover.label if takeover else None
        self.hard_cases: list[HardCase] = []
        self._zone_spans: dict[str, _ZoneSpan] = {}
        self._tunnel_start: int | None = None
        self._swap_start: int | None = None
        self._open_cases: dict[str, tuple[int, dict[str, Any]]] = {}
        self._fired: _Fired | None = None

    # ----------------------------------------------------------------- driving the plan

    def records(self) -> Iterator[tuple[int, int, bytes]]:
        """(arrival ms, order, line) of every record, in arrival order."""
        sources: list[Iterator[Activity]] = [iter(self.plan.activities)]
        end = self.window[1]
        device = self.device
        idle = Wait(until=end)
        while self.st.t < end:
            act = next(sources[-1], None) if sources else idle
            if act is None:
                sources.pop()
                continue
            yield from self._do(act)
            if self._fired is not None:
                sources = self._switch(sources)
            yield from device.release(self.st.t)
        self._close_zone_spans(set())
        for kind, (start, details) in sorted(self._open_cases.items()):
            self.hard_cases.append(HardCase(kind, self.spec.vehicle_id, start, end, details))
        self._open_cases.clear()
        if self.label is not None and self.label.end is None and self.label.start is not None:
            self.label.end = end
        yield from device.drain()

    def _switch(self, sources: list[Iterator[Activity]]) -> list[Iterator[Activity]]:
        fired, takeover = self._fired, self.pending
        assert fired is not None and takeover is not None
        self._fired = None
        self.pending = None
        script = takeover.script(self, takeover)
        if not takeover.resumable:
            return [script]
        if fired.drive is not None and len(fired.remainder) > 1:
            resume = Drive(fired.remainder, fired.drive.purpose, fired.drive.destination,
                           zone_delivery=fired.drive.zone_delivery)
            return [*sources, chain(script, [resume])]
        return [*sources, script]

    def _do(self, act: Activity) -> Iterator[tuple[int, int, bytes]]:
        """Carry out one activity; a drive hands over records as it goes (memory stays small)."""
        if isinstance(act, Drive):
            yield from self._drive(act)
        elif isinstance(act, Wait):
            if act.place is not None:
                self.st.place = act.place
            until = act.until if act.until is not None else self.st.t + act.seconds
            self._wait(min(max(until, self.st.t + act.minimum), self.window[1]))
        elif isinstance(act, Set):
            self._set(act.changes)
        elif isinstance(act, Mark):
            self._mark(act)
        elif isinstance(act, Shunt):
            self._shunt(act)

    def _set(self, changes: dict[str, Any]) -> None:
        st = self.st
        for key, value in changes.items():
            if key == "refuel":
                if st.fuel_pct < 50:
                    st.fuel_pct = self.rng.uniform(88, 98)
            elif key == "silent_in":
                st.silent_at = st.t + int(value)
            else:
                setattr(st, key, value)
        self.device.observe(st, event=True)

    def _mark(self, act: Mark) -> None:
        t = self.st.t
        if act.name == "case_start":
            details = {k: v for k, v in act.details.items() if k != "kind"}
            self._open_cases[act.details["kind"]] = (t, details)
        elif act.name == "case_end":
            opened = self._open_cases.pop(act.details["kind"], None)
            if opened is not None:
                self.hard_cases.append(HardCase(act.details["kind"], self.spec.vehicle_id, opened[0], t, opened[1]))
        elif act.name == "swap_start":
            self._swap_start = t
        elif act.name == "swap_end" and self._swap_start is not None:
            swap = HardCase("driver_swap", self.spec.vehicle_id, self._swap_start, t, dict(act.details))
            self.hard_cases.append(swap)
            self._swap_start = None
        elif self.label is not None and act.name == "start":
            self.label.start = t
        elif self.label is not None and act.name == "end":
            self.label.end = t
        elif self.label is not None:
            self.label.details[act.name] = {"ts": rfc3339(t), **act.details} if act.details else rfc3339(t)

    # ----------------------------------------------------------------- standing still

    def _wait(self, until: int) -> None:
        st, device, takeover = self.st, self.device, self.pending
        st.speed = 0.0
        started = st.t
        while st.t < until:
            nxt = min(until, max(device.next_due(st), st.t + 1))
            if st.silent_at is not None and st.t < st.silent_at < nxt:
                nxt = st.silent_at
            if takeover is not None and takeover.trigger in STATIONARY_TRIGGERS and self._unattended(takeover):
                fire_at = max(takeover.at, started + 60)
                if fire_at <= nxt:
                    st.t = max(st.t, fire_at)
                    device.observe(st)
                    self._fired = _Fired()
                    return
            st.t = nxt
            if st.silent_at is not None and st.t >= st.silent_at:
                st.silent = True
            device.observe(st)

    def _shunt(self, act: Shunt) -> None:
        """Yard moves: straight at walking pace to each offset and back; the vehicle ends where it began."""
        st, device = self.st, self.device
        home = (st.x, st.y)
        for tx, ty in (*((home[0] + dx, home[1] + dy) for dx, dy in act.legs), home):
            while st.t < self.window[1]:
                dx, dy = tx - st.x, ty - st.y
                gap = math.hypot(dx, dy)
                if gap < 0.5:
                    break
                step = min(act.speed_mps, gap)
                st.t += 1
                st.heading = math.degrees(math.atan2(dx, dy)) % 360.0
                st.x += dx / gap * step
                st.y += dy / gap * step
                st.speed = step
                st.odometer_m += step
                device.observe(st)
        st.x, st.y = home
        st.speed = 0.0

    def _unattended(self, takeover: Takeover) -> bool:
        st = self.st
        if st.ignition or st.speed > 0:
            return False
        if takeover.trigger == "night":
            return st.place == "depot" and (
                bool(takeover.options.get("in_working_hours")) or not operating_at(self.spec, max(st.t, takeover.at))
            )
        if takeover.trigger == "unattended":
            return st.driver_card_id is None and st.place in ("depot", "station", "customer")
        return True

    # ----------------------------------------------------------------- moving

    def _drive(self, act: Drive) -> Iterator[tuple[int, int, bytes]]:
        st, net = self.st, self.net
        if st.node is None:
            raise ScriptError(f"{self.spec.vehicle_id}: asked to drive while off the road network")
        path = act.path
        if act.zone_delivery is not None and not self._delivery_allowed(act, path):
            path = path[:-1]
        if path[0] != st.node:
            path = net.route(st.node, path[-1])
        if len(path) < 2 and not act.tail:
            st.place = act.destination
            return
        style = act.style or self.spec.style
        course = build_course(net, path, style, self.rng, tail=act.tail,
                              watch_tail=(act.target_zone,) if act.target_zone else (),
                              crash_decel=CRASH_DECEL_MPS2 if act.crash else None, fast_from=act.fast_from,
                              fast_mps=_attack_speed(self, style) if act.fast_from is not None else None)
        cut = yield from self._run(course, style, act, path)
        if cut is not None:
            st.node = path[cut]
            st.place = None
            self._fired = _Fired(tuple(path[cut:]), act)
            return
        st.node = path[-1] if not act.tail else None
        st.place = act.destination
        takeover = self.pending
        if (takeover is not None and takeover.trigger in ARRIVAL_TRIGGERS and act.purpose == "trip"
                and act.destination == "customer" and st.t >= takeover.at):
            self._fired = _Fired()

    def _delivery_allowed(self, act: Drive, path: tuple[int, ...]) -> bool:
        """A delivery into a pedestrian zone happens only well inside its delivery window."""
        zone = self.zones[act.zone_delivery or ""]
        tz = ZoneInfo(self.city.city.timezone)
        eta = self.st.t + int(self.net.path_length_m(path) / 6.0)
        leave = max(act.planned_departure or eta, eta + 400) + 400
        return in_delivery_window(zone, eta - 600, tz) and in_delivery_window(zone, leave, tz)

    def _run(self, course: Course, style: DriveStyle, act: Drive,
             path: tuple[int, ...]) -> Generator[tuple[int, int, bytes], None, int | None]:
        """Drive the course, handing over records as they arrive; returns the path index where an incident
        cut the drive short, if it did."""
        st, device = self.st, self.device
        end = self.window[1]
        per_m = self.spec.fuel_pct_per_km / 1000.0
        headings, tunnel, watch = course.headings, course.tunnel, course.watch
        takeover = self.pending
        can_cut = takeover is not None and takeover.trigger in DRIVE_TRIGGERS and act.purpose in ("trip", "hire")
        cut: int | None = None
        detour = act.detour
        detour_from: int | None = None
        for x, y, v, seg in drive(course, st.speed, style):
            st.t += 1
            step = math.hypot(x - st.x, y - st.y)
            st.odometer_m += step
            st.fuel_pct -= step * per_m
            st.x, st.y, st.speed = x, y, v
            if v > 0.3:
                st.heading = headings[seg]
            if tunnel[seg] != st.in_tunnel:
                self._tunnel(tunnel[seg], course.cum[seg + 1] - course.cum[seg])
            zones = watch[seg]
            if zones or self._zone_spans:
                self._watch(x, y, v, zones, act)
            if st.silent_at is not None and st.t >= st.silent_at:
                st.silent = True
            device.observe(st)
            if detour is not None:
                if detour_from is None and seg >= detour[0]:
                    detour_from = st.t
                elif detour_from is not None and seg >= detour[1]:
                    self.hard_cases.append(HardCase("detour", self.spec.vehicle_id, detour_from, st.t,
                                                    {"detour_length_m": round(course.cum[detour[1]]
                                                                              - course.cum[detour[0]])}))
                    detour = None
            if can_cut and takeover is not None and st.t >= takeover.at:
                cut = self._cut(course, style, takeover, x, y, seg)
                if cut is not None:
                    can_cut = False
            if st.t >= end:
                break
            if st.t % 60 == 0:
                yield from device.release(st.t)
        if st.in_tunnel:
            self._tunnel(False, 0.0)
        return cut

    def _cut(self, course: Course, style: DriveStyle, takeover: Takeover, x: float, y: float, seg: int) -> int | None:
        """Pick the node where the incident begins: far enough ahead to stop, away from the leg's ends."""
        st = self.st
        s = course.cum[seg] + math.hypot(x - course.xs[seg], y - course.ys[seg])
        braking = st.speed * st.speed / (2 * style.decel_mps2) + 25.0
        if takeover.trigger == "drive_stop":
            found = course.next_node_after(max(s + braking, 300.0), course.length_m - 300.0)
        else:
            found = course.next_node_after(s + braking, course.length_m - 60.0)
        if found is None:
            return None
        k, s_cut = found
        course.cut_at(s_cut, 15 / 3.6 if takeover.trigger == "drive_on" else 0.0)
        return k

    def _tunnel(self, entering: bool, length_m: float) -> None:
        st = self.st
        st.in_tunnel = entering
        if entering:
            self._tunnel_start = st.t
            self._tunnel_length = length_m
            return
        st.gnss_back_at = st.t + self.rng.randint(2, 6)
        if self._tunnel_start is not None:
            self.hard_cases.append(HardCase("tunnel", self.spec.vehicle_id, self._tunnel_start, st.gnss_back_at,
                                            {"length_m": round(self._tunnel_length)}))
        self._tunnel_start = None

    def _watch(self, x: float, y: float, v: float, zones: tuple[str, ...], act: Drive) -> None:
        t = self.st.t
        for zone_id in zones:
            zone = self.zones[zone_id]
            inside = zone.contains(x, y)
            distance = 0.0 if inside else distance_to_ring(x, y, zone.ring_xy)
            span = self._zone_spans.get(zone_id)
            if span is None:
                if distance >= NEAR_ZONE_M:
                    continue
                purpose = ("delivery" if act.zone_delivery == zone_id
                           else "attack" if act.target_zone == zone_id else None)
                span = self._zone_spans[zone_id] = _ZoneSpan(t, distance, v, purpose)
            span.min_distance = min(span.min_distance, distance)
            span.max_speed = max(span.max_speed, v)
            if inside:
                span.max_speed_inside = max(span.max_speed_inside, v)
                if span.entered is None:
                    span.entered = t
                    if span.purpose == "attack" and self.label is not None and self.label.zone_entry is None:
                        self.label.zone_entry = t
                        self.label.entry_speed_kmh = round(v * 3.6, 1)
            elif span.entered is not None and span.left is None:
                span.left = t
        self._close_zone_spans(set(zones))

    def _close_zone_spans(self, keep: set[str]) -> None:
        for zone_id in [z for z in self._zone_spans if z not in keep]:
            span = self._zone_spans.pop(zone_id)
            vid, t = self.spec.vehicle_id, self.st.t
            if span.entered is not None:
                if span.purpose == "attack":
                    continue
                kind = "zone_delivery" if span.purpose == "delivery" else "zone_entry_unplanned"
                self.hard_cases.append(HardCase(kind, vid, span.entered, span.left or t, {
                    "zone_id": zone_id, "max_speed_kmh": round(span.max_speed_inside * 3.6, 1)}))
            elif span.min_distance < NEAR_ZONE_M:
                self.hard_cases.append(HardCase("alongside_zone", vid, span.start, t, {
                    "zone_id": zone_id, "min_distance_m": round(span.min_distance, 1),
                    "max_speed_kmh": round(span.max_speed * 3.6, 1)}))

    # ----------------------------------------------------------------- helpers for incident scripts

    def far_node(self, min_m: float, max_m: float, around: int | None = None) -> int:
        """A street or ring node at a distance in range from the vehicle (or a node), away from every zone."""
        net, st = self.net, self.st
        cx, cy = (st.x, st.y) if around is None else (net.xs[around], net.ys[around])
        candidates = [n for n in sorted(net.grid_of)
                      if min_m <= math.hypot(net.xs[n] - cx, net.ys[n] - cy) <= max_m
                      and not any(net.edges[e].near_zones or net.edges[e].zone_id for _, e in net.adjacency[n])]
        if not candidates:
            candidates = sorted(net.grid_of)
        return self.rng.choice(candidates)

    def attack_zone(self, kinds: tuple[str, ...], zone_id: str | None = None) -> ZoneSite:
        """The zone the attacker heads for: the named one, else the nearest of the preferred kinds active now."""
        if zone_id is not None:
            return self.zones[zone_id]
        st = self.st
        active = {z.zone_id for z in self.city.zones if z.active_at(st.t) and z.active_at(st.t + 2700)}

        def distance(zone: ZoneSite) -> float:
            first = zone.approach[0]
            return math.hypot(self.net.xs[first] - st.x, self.net.ys[first] - st.y)

        for kind in kinds:
            choices = [z for z in self.city.zones if z.kind == kind and z.zone_id in active]
            if choices:
                return min(choices, key=distance)
        return min((z for z in self.city.zones if z.zone_id in active), key=distance)

    def attack_drive(self, zone: ZoneSite, style: DriveStyle | None = None) -> Drive:
        """Drive to the zone's run-up, then accelerate along it and into the zone until stopped."""
        net, st = self.net, self.st
        w2, w, x = zone.approach
        first = net.route(st.node if st.node is not None else w2, w2, frozenset({w, x}))
        run_up = net.route(w2, w) + net.route(w, x)[1:]
        return Drive((*first, *run_up[1:]), "script", None, style=style, tail=zone.run_in, target_zone=zone.zone_id,
                     crash=True, fast_from=len(first) - 1)


def _attack_speed(run: VehicleRun, style: DriveStyle) -> float:
    low, high = (60.0, 75.0) if run.spec.category != "N1" else (65.0, 90.0)
    return min(style.vmax_mps, run.rng.uniform(low, high) / 3.6)
