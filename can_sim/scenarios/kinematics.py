"""Vehicle motion along a course: speed limits, corners, red lights and jams, integrated once a second."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from can_sim.scenarios.network import RoadNetwork, turn_angle_deg

MAX_BRAKE_MPS2 = 7.0
"""What tyres and brakes can do; only a crash stops a vehicle faster."""
CREEP_MPS = 0.4
ATTACK_LATERAL_MPS2 = 4.5
"""Someone driving at a crowd takes corners far harder than a working driver."""


@dataclass(frozen=True, slots=True)
class DriveStyle:
    """How a driver drives: share of the limit, top speed, accelerating, braking, cornering, lights and jams."""

    speed_factor: float = 0.95
    vmax_mps: float = 80 / 3.6
    accel_mps2: float = 1.0
    decel_mps2: float = 1.5
    lateral_mps2: float = 1.8
    red_light_p: float = 0.45
    jam_p: float = 0.06
    jam_dwell_s: tuple[int, int] = (10, 90)
    override_limit_mps: float | None = None
    """Drive every segment at this speed whatever the limit (an attacker, a walking-pace delivery)."""


@dataclass
class Course:
    """A polyline to drive with per-segment limits and the points where speed is capped or the vehicle stops."""

    xs: list[float]
    ys: list[float]
    cum: list[float]
    limits: list[float]
    headings: list[float]
    tunnel: list[bool]
    watch: list[tuple[str, ...]]
    nodes: list[int | None]
    caps: list[tuple[float, float]] = field(default_factory=list)
    """(s, speed cap) soft constraints, sorted by s."""
    stops: list[tuple[float, int, float]] = field(default_factory=list)
    """(s, dwell seconds, deceleration) hard stops, sorted by s; the last is the end of the course."""
    slow: list[tuple[float, float, float]] = field(default_factory=list)
    """(from s, to s, speed) stretches driven no faster than the speed (the approach to a pedestrian street)."""
    end_s: float = 0.0
    end_speed: float = 0.0

    @property
    def length_m(self) -> float:
        return self.cum[-1]

    def cut_at(self, s_cut: float, end_speed: float) -> None:
        """End the course early at s_cut (a vertex), stopping there or passing it at end_speed."""
        self.end_s = s_cut
        self.end_speed = end_speed
        self.stops = [st for st in self.stops if st[0] < s_cut - 0.5]
        if end_speed <= 0:
            self.stops.append((s_cut, 0, self.stops[-1][2] if self.stops else 1.5))
        else:
            self.caps = [c for c in self.caps if c[0] < s_cut] + [(s_cut, end_speed)]

    def next_node_after(self, s_min: float, s_max: float) -> tuple[int, float] | None:
        """The first vertex on a graph node between s_min and s_max: (vertex index, s)."""
        for k, s in enumerate(self.cum):
            if s_min <= s <= s_max and self.nodes[k] is not None:
                return k, s
        return None


def build_course(
    net: RoadNetwork,
    path: Sequence[int],
    style: DriveStyle,
    rng: random.Random,
    *,
    tail: Sequence[tuple[float, float]] = (),
    tail_limit_mps: float | None = None,
    watch_tail: tuple[str, ...] = (),
    crash_decel: float | None = None,
    fast_from: int | None = None,
    fast_mps: float | None = None,
) -> Course:
    """A course along graph nodes, optionally continued off the network through `tail` points (into a zone)."""
    xs = [net.xs[n] for n in path] + [p[0] for p in tail]
    ys = [net.ys[n] for n in path] + [p[1] for p in tail]
    nodes: list[int | None] = [*path, *([None] * len(tail))]
    cum = [0.0]
    limits, headings, tunnel, watch = [], [], [], []
    for k in range(len(xs) - 1):
        dx, dy = xs[k + 1] - xs[k], ys[k + 1] - ys[k]
        cum.append(cum[-1] + math.hypot(dx, dy))
        headings.append(math.degrees(math.atan2(dx, dy)) % 360.0)
        if k < len(path) - 1:
            edge = net.edge_between(path[k], path[k + 1])
            limit = edge.limit_kmh / 3.6 * style.speed_factor
            tunnel.append(edge.tunnel)
            watch.append(edge.near_zones + ((edge.zone_id,) if edge.zone_id else ()))
        else:
            limit = tail_limit_mps or style.vmax_mps
            tunnel.append(False)
            watch.append(watch_tail)
        if style.override_limit_mps is not None and k < len(path) - 1:
            limit = style.override_limit_mps
        if fast_from is not None and fast_mps is not None and k >= fast_from:
            limit = fast_mps
        limits.append(min(limit, style.vmax_mps))
    course = Course(xs, ys, cum, limits, headings, tunnel, watch, nodes, end_s=cum[-1])
    _constraints(course, net, path, style, rng, len(xs) if fast_from is None else fast_from)
    course.stops.append((cum[-1], 0, crash_decel or style.decel_mps2))
    return course


def _constraints(course: Course, net: RoadNetwork, path: Sequence[int], style: DriveStyle, rng: random.Random,
                 calm_until: int) -> None:
    """Corner and limit caps, red lights and jams; from vertex calm_until on the driver ignores lights and jams."""
    xs, ys, cum, limits = course.xs, course.ys, course.cum, course.limits
    for k in range(1, len(xs) - 1):
        cap = limits[k] if limits[k] < limits[k - 1] else math.inf
        angle = turn_angle_deg(xs[k - 1], ys[k - 1], xs[k], ys[k], xs[k + 1], ys[k + 1])
        if angle > 3.0:
            radius = max(6.0, 12.0 * 90.0 / angle)
            lateral = style.lateral_mps2 if k < calm_until else ATTACK_LATERAL_MPS2
            cap = min(cap, math.sqrt(lateral * radius))
        if cap < math.inf:
            course.caps.append((cum[k], cap))
        node = course.nodes[k]
        if (node is not None and k < min(len(path) - 1, calm_until) and net.lights[node]
                and rng.random() < style.red_light_p):
            course.stops.append((cum[k], rng.randint(10, 60), style.decel_mps2))
    for k in range(1, min(len(path), calm_until) - 1):
        if net.edge_between(path[k], path[k + 1]).zone_id and not net.edge_between(path[k - 1], path[k]).zone_id:
            # A driver about to enter a pedestrian street to deliver slows well before its entrance.
            for before, until, kmh in ((150.0, 50.0, 30.0), (50.0, 0.0, 15.0)):
                if cum[k] - before > 0:
                    course.caps.append((cum[k] - before, kmh / 3.6))
                    course.slow.append((cum[k] - before, cum[k] - until, kmh / 3.6))
    course.caps.sort()
    for k in range(min(len(path), calm_until) - 1):
        edge = net.edge_between(path[k], path[k + 1])
        if edge.road in ("arterial", "motorway") and edge.length_m > 200 and rng.random() < style.jam_p:
            s = cum[k] + rng.uniform(0.2, 0.6) * edge.length_m
            for _ in range(rng.randint(1, 3)):
                course.stops.append((s, rng.randint(*style.jam_dwell_s), style.decel_mps2))
                s += rng.uniform(15, 50)
                if s > cum[k + 1] - 20:
                    break
    course.stops.sort()


def drive(course: Course, v0: float, style: DriveStyle) -> Iterator[tuple[float, float, float, int]]:
    """Advance one second at a time: yields (x, y, speed m/s, segment); returns the speed at the end."""
    cum, limits, xs, ys = course.cum, course.limits, course.xs, course.ys
    seg_len = [cum[k + 1] - cum[k] for k in range(len(cum) - 1)]
    last_seg = len(limits) - 1
    accel, decel = style.accel_mps2, style.decel_mps2
    s, v, seg, ci, si = 0.0, v0, 0, 0, 0
    sqrt = math.sqrt
    while True:
        caps, stops, end = course.caps, course.stops, course.end_s
        while seg < last_seg and s >= cum[seg + 1]:
            seg += 1
        while ci < len(caps) and caps[ci][0] < s:
            ci += 1
        vmax = limits[seg]
        for a, b, slow in course.slow:
            if a <= s <= b and slow < vmax:
                vmax = slow
        horizon = v * v / (2 * decel) + 3 * v + 30
        k = ci
        # The speed at the end of this second that still lets the vehicle brake down to the cap in time,
        # counting the distance covered during the second itself: v'^2 + b v' - (cap^2 + 2 b d - b v) <= 0.
        while k < len(caps) and caps[k][0] - s <= horizon:
            inner = decel * decel + 4 * (caps[k][1] ** 2 + 2 * decel * (caps[k][0] - s) - decel * v)
            allowed = max(0.0, (sqrt(inner) - decel) / 2) if inner > 0 else 0.0
            if allowed < vmax:
                vmax = allowed
            k += 1
        stop_s = stops[si][0] if si < len(stops) else math.inf
        if stop_s - s <= horizon + 100:
            b = stops[si][2]
            inner = b * b + 4 * (2 * b * (stop_s - s) - b * v)
            allowed = max(0.0, (sqrt(inner) - b) / 2) if inner > 0 else 0.0
            if allowed < vmax:
                vmax = allowed
        v_new = min(v + accel, vmax)
        if v_new < v - MAX_BRAKE_MPS2:
            v_new = max(0.0, v - MAX_BRAKE_MPS2)
        if v_new < CREEP_MPS and stop_s - s > 1.0:
            v_new = CREEP_MPS
        ds = 0.5 * (v + v_new)
        if s + ds >= stop_s - 0.3:
            s, v = stop_s, 0.0
            while seg < last_seg and s >= cum[seg + 1]:
                seg += 1
            frac = (s - cum[seg]) / seg_len[seg] if seg_len[seg] else 0.0
            x, y = xs[seg] + (xs[seg + 1] - xs[seg]) * frac, ys[seg] + (ys[seg + 1] - ys[seg]) * frac
            yield x, y, 0.0, seg
            dwell = stops[si][1]
            si += 1
            if s >= end - 0.01:
                return 0.0
            for _ in range(dwell):
                yield x, y, 0.0, seg
            continue
        s += ds
        v = v_new
        ended = s >= end
        if ended:
            s = end
        while seg < last_seg and s > cum[seg + 1]:
            seg += 1
        frac = (s - cum[seg]) / seg_len[seg] if seg_len[seg] else 0.0
        yield xs[seg] + (xs[seg + 1] - xs[seg]) * frac, ys[seg] + (ys[seg + 1] - ys[seg]) * frac, v, seg
        if ended:
            return v


def estimate_drive_s(net: RoadNetwork, path: Sequence[int], style: DriveStyle) -> float:
    """A planner's guess of a drive's duration: average speeds by road, lights and corners."""
    total = 0.0
    for k in range(len(path) - 1):
        edge = net.edge_between(path[k], path[k + 1])
        speed = min(edge.limit_kmh / 3.6 * style.speed_factor, style.vmax_mps) * 0.8
        total += edge.length_m / speed
        if net.lights[path[k + 1]]:
            total += style.red_light_p * 35.0 + 4.0
        if edge.road in ("arterial", "motorway") and edge.length_m > 200:
            total += style.jam_p * 80.0
    return 0.82 * total + 20.0
