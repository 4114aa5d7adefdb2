"""Planar geometry in a local metric frame, in plain Python: cheaper per record than building shapely points.

A shapely ``Point`` costs about 10 µs to build; the detector asks "how far from the route line", "inside this
polygon?" and "where does my course meet it?" for every record, so those questions are answered here on
pre-projected coordinates. Results are plain floats, the same on every run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from telematics.geo import LocalFrame

Point = tuple[float, float]


def _segment_distance_sq(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    dx, dy = bx - ax, by - ay
    length_sq = dx * dx + dy * dy
    if length_sq <= 0.0:
        ex, ey = px - ax, py - ay
        return ex * ex + ey * ey
    t = ((px - ax) * dx + (py - ay) * dy) / length_sq
    if t < 0.0:
        t = 0.0
    elif t > 1.0:
        t = 1.0
    ex, ey = px - (ax + t * dx), py - (ay + t * dy)
    return ex * ex + ey * ey


class PolygonXY:
    """A simple polygon (outer ring) in metres: containment, distance to the outline, and ray hits."""

    __slots__ = ("edges", "max_x", "max_y", "min_x", "min_y")

    def __init__(self, ring: Sequence[Point]) -> None:
        points = list(ring)
        if points[0] != points[-1]:
            points.append(points[0])
        self.edges = tuple(
            (points[i][0], points[i][1], points[i + 1][0], points[i + 1][1]) for i in range(len(points) - 1)
        )
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        self.min_x, self.max_x, self.min_y, self.max_y = min(xs), max(xs), min(ys), max(ys)

    def contains(self, x: float, y: float) -> bool:
        if x < self.min_x or x > self.max_x or y < self.min_y or y > self.max_y:
            return False
        inside = False
        for ax, ay, bx, by in self.edges:
            if (ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
                inside = not inside
        return inside

    def boundary_distance(self, x: float, y: float) -> float:
        best = math.inf
        for ax, ay, bx, by in self.edges:
            d = _segment_distance_sq(x, y, ax, ay, bx, by)
            if d < best:
                best = d
        return math.sqrt(best)

    def ray_hit(self, x: float, y: float, course_deg: float, max_m: float) -> float | None:
        """Metres along the course (0 = north, clockwise) to the first crossing of the outline, within max_m."""
        rad = math.radians(course_deg)
        dx, dy = math.sin(rad), math.cos(rad)
        best: float | None = None
        for ax, ay, bx, by in self.edges:
            ex, ey = bx - ax, by - ay
            denom = dx * ey - dy * ex
            if denom == 0.0:
                continue
            wx, wy = ax - x, ay - y
            t = (wx * ey - wy * ex) / denom
            u = (wx * dy - wy * dx) / denom
            if 0.0 <= u <= 1.0 and 0.0 <= t <= max_m and (best is None or t < best):
                best = t
        return best


BOX_FANOUT: Final = 8
"""Segments in a box of a route's finest level of boxes, and boxes of one level in a box of the next."""

_PRUNE_SLACK: Final = 1e-6
"""A box is skipped only when it is farther than the best distance found by this fraction (of the squared metres,
plus as many squared metres): a segment's computed distance may fall below its box's by a unit in the last place,
and a tie must still be looked at, so the answer is always the least of all the segments' computed distances."""


class _Boxes:
    """One level of a route's boxes: box i bounds a run of BOX_FANOUT segments (or of boxes of the level below)."""

    __slots__ = ("max_x", "max_y", "min_x", "min_y")

    def __init__(
        self, min_x: tuple[float, ...], min_y: tuple[float, ...], max_x: tuple[float, ...], max_y: tuple[float, ...]
    ) -> None:
        self.min_x = min_x
        self.min_y = min_y
        self.max_x = max_x
        self.max_y = max_y

    @staticmethod
    def over_segments(xs: Sequence[float], ys: Sequence[float]) -> _Boxes:
        """The finest level: box i bounds the vertices of segments i * BOX_FANOUT up to the next run."""
        segments = len(xs) - 1
        runs = range(0, segments, BOX_FANOUT)
        ends = [min(first + BOX_FANOUT, segments) + 1 for first in runs]
        return _Boxes(
            tuple(min(xs[first:end]) for first, end in zip(runs, ends, strict=True)),
            tuple(min(ys[first:end]) for first, end in zip(runs, ends, strict=True)),
            tuple(max(xs[first:end]) for first, end in zip(runs, ends, strict=True)),
            tuple(max(ys[first:end]) for first, end in zip(runs, ends, strict=True)),
        )

    def coarser(self) -> _Boxes:
        """The next level: each box bounds BOX_FANOUT boxes of this one."""
        runs = range(0, len(self.min_x), BOX_FANOUT)
        return _Boxes(
            tuple(min(self.min_x[first : first + BOX_FANOUT]) for first in runs),
            tuple(min(self.min_y[first : first + BOX_FANOUT]) for first in runs),
            tuple(max(self.max_x[first : first + BOX_FANOUT]) for first in runs),
            tuple(max(self.max_y[first : first + BOX_FANOUT]) for first in runs),
        )

    def distance_sq(self, box: int, x: float, y: float) -> float:
        """Squared metres from the point to the box (0 inside it)."""
        low_x, high_x, low_y, high_y = self.min_x[box], self.max_x[box], self.min_y[box], self.max_y[box]
        dx = low_x - x if x < low_x else (x - high_x if x > high_x else 0.0)
        dy = low_y - y if y < low_y else (y - high_y if y > high_y else 0.0)
        return dx * dx + dy * dy


class RouteXY:
    """A route line in metres with boxes over runs of its segments, for a cheap exact nearest-distance query.

    A route's consecutive segments lie close together, so boxes over runs of BOX_FANOUT segments, boxes over runs of
    those, and so on up to one box, make a tree as deep as the logarithm of the route's length. A query opens the
    nearest boxes first and skips every box farther than the best distance found so far: its work depends on how
    many segments lie near the point, not on the route's length. Segment i runs from vertex i to i + 1.

    The vertices are the points as given: in metres, or (a planned trip's route) (lon, lat) in degrees with the
    frame that puts them in metres. A day's trips share most of their points (telematics/bundle.py), so a route
    keeps the shared points and projects a vertex when a query reads it (few do: those near the point); its own
    memory is a few coordinates for each run of segments.
    """

    __slots__ = ("boxes", "frame", "max_x", "max_y", "min_x", "min_y", "points")

    def __init__(self, points: Sequence[Point], frame: LocalFrame | None = None) -> None:
        self.points = tuple(points) if len(points) > 1 else (points[0], points[0])
        self.frame = frame
        vertices = [self.vertex(i) for i in range(len(self.points))]
        xs = [x for x, _ in vertices]
        ys = [y for _, y in vertices]
        level = _Boxes.over_segments(xs, ys)
        levels = [level]
        while len(level.min_x) > 1:
            level = level.coarser()
            levels.append(level)
        self.boxes = tuple(levels)
        """The levels of boxes, finest first; the last has one box."""
        self.min_x, self.max_x = min(xs), max(xs)
        self.min_y, self.max_y = min(ys), max(ys)

    def vertex(self, i: int) -> Point:
        """Vertex i in metres."""
        a, b = self.points[i]
        frame = self.frame
        return (a, b) if frame is None else frame.to_xy(b, a)

    @property
    def segments(self) -> tuple[tuple[float, float, float, float], ...]:
        """Each segment as (ax, ay, bx, by)."""
        vertices = [self.vertex(i) for i in range(len(self.points))]
        return tuple((*vertices[i], *vertices[i + 1]) for i in range(len(vertices) - 1))

    def distance(self, x: float, y: float) -> float:
        """Exact distance to the line."""
        return self.nearest(x, y)[0]

    def nearest(self, x: float, y: float) -> tuple[float, int]:
        """Exact distance to the line (the least of every segment's) and the index of a nearest segment: boxes
        opened nearest first, down to their segments, skipping those farther than the best found."""
        best, index = self._nearest_under(len(self.boxes) - 1, 0, x, y, math.inf, 0)
        return math.sqrt(best), index

    def _nearest_under(
        self, level: int, box: int, x: float, y: float, best: float, best_index: int
    ) -> tuple[float, int]:
        """The least of best and the squared distances of the segments under a box, and its segment."""
        first = box * BOX_FANOUT
        if level == 0:
            return self._nearest_of(first, min(first + BOX_FANOUT, len(self.points) - 1) - 1, x, y, best, best_index)
        below = self.boxes[level - 1]
        last = min(first + BOX_FANOUT, len(below.min_x))
        # The nearest box first: it most often holds the answer, and then the others are skipped.
        nearest, nearest_sq = first, math.inf
        for child in range(first, last):
            d = below.distance_sq(child, x, y)
            if d < nearest_sq:
                nearest, nearest_sq = child, d
        if nearest_sq <= best + _PRUNE_SLACK * (best + 1.0):
            best, best_index = self._nearest_under(level - 1, nearest, x, y, best, best_index)
        for child in range(first, last):
            if child != nearest and below.distance_sq(child, x, y) <= best + _PRUNE_SLACK * (best + 1.0):
                best, best_index = self._nearest_under(level - 1, child, x, y, best, best_index)
        return best, best_index

    def _nearest_of(self, first: int, last: int, x: float, y: float, best: float, best_index: int) -> tuple[float, int]:
        """The least of best and the squared distances of segments first to last, and its segment."""
        ax, ay = self.vertex(first)
        for index in range(first, last + 1):
            bx, by = self.vertex(index + 1)
            d = _segment_distance_sq(x, y, ax, ay, bx, by)
            if d < best:
                best = d
                best_index = index
            ax, ay = bx, by
        return best, best_index

    def bound_near(self, x: float, y: float, segment: int, ahead: int) -> tuple[float, int]:
        """The distance to the nearest of the segments from one before ``segment`` to ``ahead`` after it, and which:
        never less than the distance to the whole line (the same arithmetic over fewer segments), so a cheap
        upper bound while a vehicle follows the line."""
        last = len(self.points) - 2
        first = segment - 1 if segment > 0 else 0
        stop = segment + ahead if segment + ahead < last else last
        best, best_index = self._nearest_of(first, stop, x, y, math.inf, first)
        return math.sqrt(best), best_index

    def crosses(self, polygon: PolygonXY, margin_m: float = 0.0) -> bool:
        """True when the line passes through (or within margin_m of) the polygon. Only the runs of segments whose box
        comes within margin_m (and a metre of slack for rounding) of the polygon's box are looked at: a segment that
        meets the polygon or passes within margin_m of it lies in such a box, so the answer is that of every segment."""
        reach = margin_m + 1.0
        bounds = (polygon.min_x - reach, polygon.min_y - reach, polygon.max_x + reach, polygon.max_y + reach)
        return self._crosses_under(len(self.boxes) - 1, 0, polygon, margin_m, bounds)

    def _crosses_under(
        self, level: int, box: int, polygon: PolygonXY, margin_m: float, bounds: tuple[float, float, float, float]
    ) -> bool:
        boxes = self.boxes[level]
        low_x, low_y, high_x, high_y = bounds
        if boxes.max_x[box] < low_x or boxes.min_x[box] > high_x:
            return False
        if boxes.max_y[box] < low_y or boxes.min_y[box] > high_y:
            return False
        first = box * BOX_FANOUT
        if level == 0:
            return self._run_crosses(first, min(first + BOX_FANOUT, len(self.points) - 1) - 1, polygon, margin_m)
        last = min(first + BOX_FANOUT, len(self.boxes[level - 1].min_x))
        return any(self._crosses_under(level - 1, child, polygon, margin_m, bounds) for child in range(first, last))

    def _run_crosses(self, first: int, last: int, polygon: PolygonXY, margin_m: float) -> bool:
        """crosses, for segments first to last."""
        ax, ay = self.vertex(first)
        for index in range(first, last + 1):
            bx, by = self.vertex(index + 1)
            if polygon.contains(ax, ay) or polygon.contains(bx, by):
                return True
            for px, py, qx, qy in polygon.edges:
                if _segments_intersect(ax, ay, bx, by, px, py, qx, qy):
                    return True
                if margin_m > 0 and min(
                    _segment_distance_sq(px, py, ax, ay, bx, by), _segment_distance_sq(ax, ay, px, py, qx, qy)
                ) <= margin_m * margin_m:
                    return True
            ax, ay = bx, by
        return False


def _orient(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> float:
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


def _segments_intersect(
    ax: float, ay: float, bx: float, by: float, cx: float, cy: float, dx: float, dy: float
) -> bool:
    d1, d2 = _orient(cx, cy, dx, dy, ax, ay), _orient(cx, cy, dx, dy, bx, by)
    d3, d4 = _orient(ax, ay, bx, by, cx, cy), _orient(ax, ay, bx, by, dx, dy)
    return ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0))


def angle_diff_deg(a: float, b: float) -> float:
    """Smallest absolute difference between two courses, 0-180."""
    d = abs(a - b) % 360.0
    return 360.0 - d if d > 180.0 else d
