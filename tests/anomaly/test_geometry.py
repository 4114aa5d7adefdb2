"""anomaly/geometry.py is hand-written for speed: shapely 2 is the reference it must agree with.

Out of scope, and so not generated here: rings that cross themselves (zones are validated as simple polygons on
import), and frames near the poles or across the antimeridian (our local metric frames are centred on each zone
or trip, tens of kilometres across).
"""

from __future__ import annotations

import math

import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from anomaly.geometry import BOX_FANOUT, PolygonXY, RouteXY, _segment_distance_sq, _segments_intersect
from telematics.geo import LocalFrame

COORD = st.integers(-500_000, 500_000).map(lambda cm: cm / 100)
"""Metres in a local frame, to the centimetre (a fix has no finer meaning)."""
POINT = st.tuples(COORD, COORD)


@st.composite
def star_polygons(draw: st.DrawFn) -> list[tuple[float, float]]:
    """A simple polygon: vertices at increasing angles around a centre (a star-shaped ring never crosses itself)."""
    cx, cy = draw(POINT)
    n = draw(st.integers(3, 24))
    angles = sorted(draw(st.lists(st.floats(0.0, 2 * math.pi, exclude_max=True), min_size=n, max_size=n,
                                  unique=True)))
    radii = draw(st.lists(st.floats(20.0, 800.0), min_size=n, max_size=n))
    ring = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in zip(angles, radii, strict=True)]
    polygon = shapely.Polygon(ring)
    if not polygon.is_valid or polygon.area < 100.0:
        return [(cx, cy), (cx + 100.0, cy), (cx + 100.0, cy + 100.0), (cx, cy + 100.0)]
    return ring


@settings(max_examples=300, deadline=None)
@given(star_polygons(), POINT)
def test_point_in_polygon_and_distance_to_its_outline_agree_with_shapely(
    ring: list[tuple[float, float]], point: tuple[float, float]
) -> None:
    ours = PolygonXY(ring)
    theirs = shapely.Polygon(ring)
    x, y = point
    reference = theirs.exterior.distance(shapely.Point(x, y))
    assert math.isclose(ours.boundary_distance(x, y), reference, rel_tol=1e-9, abs_tol=1e-6)
    if reference > 1e-6:  # on the outline itself either answer is right
        assert ours.contains(x, y) == theirs.contains(shapely.Point(x, y))


@settings(max_examples=200, deadline=None)
@given(st.lists(POINT, min_size=2, max_size=40), POINT)
def test_distance_to_a_route_agrees_with_shapely(route: list[tuple[float, float]], point: tuple[float, float]) -> None:
    if len(set(route)) < 2:
        route = [route[0], (route[0][0] + 10.0, route[0][1])]
    reference = shapely.LineString(route).distance(shapely.Point(*point))
    assert math.isclose(RouteXY(route).distance(*point), reference, rel_tol=1e-9, abs_tol=1e-6)


@settings(max_examples=200, deadline=None)
@given(star_polygons(), POINT, st.floats(0.0, 360.0, exclude_max=True))
def test_a_ray_hits_the_outline_where_shapely_says(
    ring: list[tuple[float, float]], start: tuple[float, float], course_deg: float
) -> None:
    ours = PolygonXY(ring)
    x, y = start
    if ours.contains(x, y):
        return  # ray_hit is asked from outside a zone only
    reach = 20_000.0
    rad = math.radians(course_deg)
    end = (x + reach * math.sin(rad), y + reach * math.cos(rad))  # course 0 = north = +y
    crossing = shapely.LineString([start, end]).intersection(shapely.Polygon(ring).exterior)
    hit = ours.ray_hit(x, y, course_deg, reach)
    if crossing.is_empty:
        assert hit is None
    else:
        expected = shapely.Point(start).distance(crossing)
        assert hit is not None and math.isclose(hit, expected, rel_tol=1e-6, abs_tol=1e-3)


LONG_ROUTE_POINT = st.tuples(st.floats(-60_000, 60_000), st.floats(-60_000, 60_000))


@settings(max_examples=200, deadline=None)
@given(st.lists(LONG_ROUTE_POINT, min_size=2, max_size=300), st.tuples(st.floats(-2e6, 2e6), st.floats(-2e6, 2e6)))
def test_the_box_search_finds_exactly_the_nearest_segment_near_and_far(
    route: list[tuple[float, float]], point: tuple[float, float]
) -> None:
    """The boxes only skip segments; the answer is the same float as looking at every segment."""
    line = RouteXY(route)
    every_segment = min(_segment_distance_sq(*point, *segment) for segment in line.segments)
    assert line.distance(*point) == math.sqrt(every_segment)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(LONG_ROUTE_POINT, min_size=2, max_size=60),
    LONG_ROUTE_POINT,
    st.integers(0, 80),
    st.integers(0, 8),
)
def test_the_bound_from_nearby_segments_is_never_below_the_distance_and_reaches_it_at_the_nearest(
    route: list[tuple[float, float]], point: tuple[float, float], segment: int, ahead: int
) -> None:
    line = RouteXY(route)
    segment = min(segment, len(line.segments) - 1)
    distance, nearest = line.nearest(*point)
    assert distance == line.distance(*point)
    bound, found = line.bound_near(*point, segment, ahead)
    assert bound >= distance
    assert bound == math.sqrt(_segment_distance_sq(*point, *line.segments[found]))
    assert line.bound_near(*point, nearest, 0)[0] == distance


@settings(max_examples=200, deadline=None)
@given(st.lists(LONG_ROUTE_POINT, min_size=2, max_size=300), st.floats(0.0, 1.0))
def test_every_point_of_a_segment_lies_in_its_box_at_every_level(route: list[tuple[float, float]], t: float) -> None:
    line = RouteXY(route)
    assert len(line.boxes[-1].min_x) == 1  # one box over the whole route
    for index, (ax, ay, bx, by) in enumerate(line.segments):
        # A point of the segment; the interpolation's rounding may put it an ulp beyond the segment's own extent
        # (1.0 + (6e-25 - 1.0) is 0.0), which is no point of the segment: held to the extent, it is one.
        x = min(max(ax + t * (bx - ax), min(ax, bx)), max(ax, bx))
        y = min(max(ay + t * (by - ay), min(ay, by)), max(ay, by))
        box = index // BOX_FANOUT
        for level in line.boxes:
            assert level.min_x[box] <= min(x, ax, bx) and max(x, ax, bx) <= level.max_x[box]
            assert level.min_y[box] <= min(y, ay, by) and max(y, ay, by) <= level.max_y[box]
            assert level.distance_sq(box, x, y) == 0.0
            box //= BOX_FANOUT


LON_LAT = st.tuples(st.floats(13.0, 13.6), st.floats(52.3, 52.7))
"""A (lon, lat) around Berlin, as a planned trip's route gives its points."""


@settings(max_examples=200, deadline=None)
@given(st.lists(LON_LAT, min_size=2, max_size=60), LON_LAT, st.integers(0, 60), st.integers(0, 8))
def test_a_route_in_degrees_with_its_frame_measures_as_its_points_projected(
    route: list[tuple[float, float]], point: tuple[float, float], segment: int, ahead: int
) -> None:
    frame = LocalFrame(52.5, 13.3)
    in_degrees = RouteXY(route, frame)
    projected = RouteXY([frame.to_xy(lat, lon) for lon, lat in route])
    x, y = frame.to_xy(point[1], point[0])
    assert in_degrees.segments == projected.segments
    assert in_degrees.nearest(x, y) == projected.nearest(x, y)
    segment = min(segment, len(projected.segments) - 1)
    assert in_degrees.bound_near(x, y, segment, ahead) == projected.bound_near(x, y, segment, ahead)



def _crosses_by_every_segment(route: RouteXY, polygon: PolygonXY, margin_m: float) -> bool:
    """The question crosses answers, asked of every segment in turn with the same arithmetic, no box skipped."""
    for ax, ay, bx, by in route.segments:
        if polygon.contains(ax, ay) or polygon.contains(bx, by):
            return True
        for px, py, qx, qy in polygon.edges:
            if _segments_intersect(ax, ay, bx, by, px, py, qx, qy):
                return True
            nearest_sq = min(_segment_distance_sq(px, py, ax, ay, bx, by), _segment_distance_sq(ax, ay, px, py, qx, qy))
            if margin_m > 0 and nearest_sq <= margin_m * margin_m:
                return True
    return False


WALK_STEP = st.tuples(st.floats(-400.0, 400.0), st.floats(-400.0, 400.0))


@settings(max_examples=300, deadline=None)
@given(POINT, st.lists(WALK_STEP, min_size=1, max_size=300), star_polygons(), st.sampled_from([0.0, 30.0, 250.0]))
def test_a_route_crosses_a_polygon_exactly_when_one_of_its_segments_does(
    start: tuple[float, float], steps: list[tuple[float, float]], ring: list[tuple[float, float]], margin_m: float
) -> None:
    """The boxes only skip runs of segments: the answer is the one every segment gives. The route is a walk, as a
    road is, so that it passes near the polygon, through it or far from it."""
    route = [start]
    for dx, dy in steps:
        route.append((route[-1][0] + dx, route[-1][1] + dy))
    line, polygon = RouteXY(route), PolygonXY(ring)
    assert line.crosses(polygon, margin_m) == _crosses_by_every_segment(line, polygon, margin_m)
