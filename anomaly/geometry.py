"""Planar geometry in a local metric frame, in plain Python: cheaper per record than building shapely points.

A shapely ``Point`` costs about 10 µs to build; the detector asks "how far from the route line", "inside this
polygon?" and "where does my course meet it?" for every record, so those questions are answered here on
pre-projected coordinates. Results are plain floats, the same on every run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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


_ROW = 1 << 21
"""Cell (i, j) is keyed i * _ROW + j: an int hashes faster than a tuple; |j| < 2**20 cells is 157,000 km at 150 m."""

_NUDGE_M = 1e-6
"""Cell bounds are widened by this much against the rounding of sampled points."""

LEVEL_FACTOR = 8
"""Each coarser grid of a route has cells this many times as wide."""


class _SegmentGrid:
    """The route's segments (by index) by the square cells of one size that they pass through."""

    __slots__ = ("cell_m", "cells")

    def __init__(self, xs: tuple[float, ...], ys: tuple[float, ...], cell_m: float) -> None:
        self.cell_m = cell_m
        cells: dict[int, list[int]] = {}
        for index in range(len(xs) - 1):
            for i, j in _cells_touched((xs[index], ys[index], xs[index + 1], ys[index + 1]), cell_m):
                cells.setdefault(i * _ROW + j, []).append(index)
        self.cells = {key: tuple(value) for key, value in cells.items()}


class RouteXY:
    """A route line in metres with grids of its segments, fine to coarse, for a cheap exact nearest-distance query.

    The work per query depends on how many segments lie near the point, not on the route's length: a point near
    the line is settled in the fine grid (150 m cells), one kilometres away in a coarser one (1.2 km, 9.6 km), and
    only a point hundreds of kilometres from every segment looks at them all. The vertices are kept as two tuples
    of coordinates (segment i runs from vertex i to i + 1): a tuple per segment would cost three times the memory.
    """

    __slots__ = ("grids", "max_ring", "max_x", "max_y", "min_x", "min_y", "xs", "ys")

    def __init__(self, points: Sequence[Point], cell_m: float = 150.0, max_ring: int = 6, levels: int = 3) -> None:
        self.max_ring = max_ring
        vertices = list(points) if len(points) > 1 else [points[0], points[0]]
        self.xs = tuple(p[0] for p in vertices)
        self.ys = tuple(p[1] for p in vertices)
        self.grids = tuple(_SegmentGrid(self.xs, self.ys, cell_m * LEVEL_FACTOR**level) for level in range(levels))
        self.min_x, self.max_x = min(self.xs), max(self.xs)
        self.min_y, self.max_y = min(self.ys), max(self.ys)

    @property
    def segments(self) -> tuple[tuple[float, float, float, float], ...]:
        """Each segment as (ax, ay, bx, by)."""
        xs, ys = self.xs, self.ys
        return tuple((xs[i], ys[i], xs[i + 1], ys[i + 1]) for i in range(len(xs) - 1))

    def distance(self, x: float, y: float) -> float:
        """Exact distance to the line."""
        return self.nearest(x, y)[0]

    def nearest(self, x: float, y: float) -> tuple[float, int]:
        """Exact distance to the line and the index of a nearest segment: rings of cells outward until nothing
        further out can be nearer."""
        xs, ys = self.xs, self.ys
        max_ring = self.max_ring
        # No segment is nearer than the bounding box: start in the first grid whose search can reach that far.
        dx = self.min_x - x if x < self.min_x else (x - self.max_x if x > self.max_x else 0.0)
        dy = self.min_y - y if y < self.min_y else (y - self.max_y if y > self.max_y else 0.0)
        floor_sq = dx * dx + dy * dy
        best = math.inf
        best_index = 0
        seen: set[int] = set()
        for grid in self.grids:
            cell_m = grid.cell_m
            reach_max = max_ring * cell_m
            if reach_max * reach_max < floor_sq:
                continue
            cells = grid.cells
            cx, cy = math.floor(x / cell_m), math.floor(y / cell_m)
            for ring in range(max_ring + 1):
                for key in _ring_keys(cx, cy, ring):
                    found = cells.get(key)
                    if found is None:
                        continue
                    for index in found:
                        if index in seen:
                            continue
                        seen.add(index)
                        d = _segment_distance_sq(x, y, xs[index], ys[index], xs[index + 1], ys[index + 1])
                        if d < best:
                            best = d
                            best_index = index
                # Every segment not seen yet lies wholly in cells of the next ring or beyond: at least ring cells
                # away.
                reach = ring * cell_m
                if best <= reach * reach:
                    return math.sqrt(best), best_index
        for index in range(len(xs) - 1):
            d = _segment_distance_sq(x, y, xs[index], ys[index], xs[index + 1], ys[index + 1])
            if d < best:
                best = d
                best_index = index
        return math.sqrt(best), best_index

    def bound_near(self, x: float, y: float, segment: int, ahead: int) -> tuple[float, int]:
        """The distance to the nearest of the segments from one before ``segment`` to ``ahead`` after it, and which:
        never less than the distance to the whole line (the same arithmetic over fewer segments), so a cheap
        upper bound while a vehicle follows the line."""
        xs, ys = self.xs, self.ys
        last = len(xs) - 2
        first = segment - 1 if segment > 0 else 0
        stop = segment + ahead if segment + ahead < last else last
        best = math.inf
        best_index = first
        for index in range(first, stop + 1):
            d = _segment_distance_sq(x, y, xs[index], ys[index], xs[index + 1], ys[index + 1])
            if d < best:
                best = d
                best_index = index
        return math.sqrt(best), best_index

    def crosses(self, polygon: PolygonXY, margin_m: float = 0.0) -> bool:
        """True when the line passes through (or within margin_m of) the polygon."""
        for ax, ay, bx, by in self.segments:
            if polygon.contains(ax, ay) or polygon.contains(bx, by):
                return True
            for px, py, qx, qy in polygon.edges:
                if _segments_intersect(ax, ay, bx, by, px, py, qx, qy):
                    return True
                if margin_m > 0 and min(
                    _segment_distance_sq(px, py, ax, ay, bx, by), _segment_distance_sq(ax, ay, px, py, qx, qy)
                ) <= margin_m * margin_m:
                    return True
        return False


def _cells_touched(segment: tuple[float, float, float, float], cell_m: float) -> set[tuple[int, int]]:
    """A superset of the grid cells a segment passes through, and not much more."""
    ax, ay, bx, by = segment
    x0, x1 = math.floor(min(ax, bx) / cell_m), math.floor(max(ax, bx) / cell_m)
    y0, y1 = math.floor(min(ay, by) / cell_m), math.floor(max(ay, by) / cell_m)
    if (x1 - x0 + 1) * (y1 - y0 + 1) <= 16:
        return {(i, j) for i in range(x0, x1 + 1) for j in range(y0, y1 + 1)}
    # A long one: sample it every quarter cell. Between two samples it stays in their bounding box, which
    # touches at most 2 x 2 cells (widened by a micrometre against rounding).
    steps = max(1, math.ceil(math.hypot(bx - ax, by - ay) / (cell_m / 4)))
    touched: set[tuple[int, int]] = set()
    px, py = ax, ay
    for k in range(1, steps + 1):
        t = k / steps
        qx, qy = (bx, by) if k == steps else (ax + t * (bx - ax), ay + t * (by - ay))
        i0, i1 = math.floor((min(px, qx) - _NUDGE_M) / cell_m), math.floor((max(px, qx) + _NUDGE_M) / cell_m)
        j0, j1 = math.floor((min(py, qy) - _NUDGE_M) / cell_m), math.floor((max(py, qy) + _NUDGE_M) / cell_m)
        for i in range(i0, i1 + 1):
            for j in range(j0, j1 + 1):
                touched.add((i, j))
        px, py = qx, qy
    return touched


def _ring_keys(cx: int, cy: int, ring: int) -> list[int]:
    """The keys of the cells at Chebyshev distance ring from (cx, cy)."""
    if ring == 0:
        return [cx * _ROW + cy]
    top, bottom = cy + ring, cy - ring
    keys = []
    for i in range(cx - ring, cx + ring + 1):
        keys.append(i * _ROW + top)
        keys.append(i * _ROW + bottom)
    left, right = (cx - ring) * _ROW, (cx + ring) * _ROW
    for j in range(bottom + 1, top):
        keys.append(left + j)
        keys.append(right + j)
    return keys


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
