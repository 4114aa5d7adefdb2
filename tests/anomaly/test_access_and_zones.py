"""Who drives and when, towing, and the protected-zone detectors, each with the case that must stay quiet."""

from __future__ import annotations

from tests.anomaly.helpers import DEPOT, MARKET_CENTRE, Track, alerts, point, reference, run, stops
from tests.bundles import ZONES, square

ROAD = (52.47, 13.40)
WEST_EDGE = point(MARKET_CENTRE, 270, 120)


def test_off_hours_use_at_night_and_not_at_the_start_of_a_shift():
    night = Track("NF-101", "01:00:00", ROAD).drive(0, 120, 50).records
    assert alerts(run(reference(), night), "off_hours_use")[0].severity == "critical"
    # 04:50 local is within the 20-minute margin before the 05:00 start.
    early = Track("NF-101", "03:50:00", DEPOT).stand(300).drive(0, 120, 40).records
    assert not alerts(run(reference(), early), "off_hours_use")


def test_unauthorized_driver_wrong_card_and_rental_fleets():
    wrong = Track("NF-101", "09:00:00", ROAD, driver_card_id="DE9999999999").drive(0, 60, 50).records
    assert alerts(run(reference(), wrong), "unauthorized_driver")[0].severity == "critical"
    rental = Track("SV-7", "09:00:00", ROAD, driver_card_id=None).drive(0, 60, 50).records
    assert not alerts(run(reference(), rental), "unauthorized_driver")


def test_towing_and_ignition_off_standstill():
    towed = Track("NF-101", "09:00:00", ROAD, ignition=False).stand(30).drive(0, 60, 20).records
    assert alerts(run(reference(), towed), "towing")
    parked = Track("NF-101", "09:00:00", ROAD, ignition=False).stand(600).records
    assert not alerts(run(reference(), parked), "towing")


def test_zone_intrusion_and_speed_in_zone_but_not_for_a_permitted_slow_delivery():
    start = point(WEST_EDGE, 270, 30)
    fast = Track("NF-101", "12:00:00", start).drive(90, 30, 30).records
    out = run(reference(), fast)
    assert alerts(out, "protected_zone_intrusion") and alerts(out, "speed_in_zone")
    slow = Track("NF-102", "07:00:00", start, driver_card_id="DE0000067890").drive(90, 60, 6).records
    out = run(reference(), slow)
    assert not alerts(out, "protected_zone_intrusion") and not alerts(out, "speed_in_zone")


def test_a_trackers_wandering_fixes_a_few_seconds_apart_are_no_speed_in_a_zone():
    # A permitted delivery parked in the market in its window; a tracker that reports no speed of its own sends fixes
    # a few seconds apart (ignition and door events, then its report) that wander 35 m: read as a speed, 21 km/h.
    no_speed = {"wheel_speed_kmh": ..., "gnss_speed_kmh": ..., "heading_deg": ..., "driver_card_id": "DE0000067890"}
    parked = Track("NF-102", "07:00:00", MARKET_CENTRE, ignition=False).stand(120, every_s=60, **no_speed)
    for k in range(4):
        parked.lat, parked.lon = point(MARKET_CENTRE, 90, 35 * (k % 2))
        parked.stand(6, every_s=6, **no_speed)
    assert not alerts(run(reference(), parked.records), "speed_in_zone")
    # The same tracker driven across the market at 20 km/h, a fix every 15 s: its track speed stands.
    driven = Track("NF-102", "07:00:00", point(WEST_EDGE, 270, 100)).drive(90, 75, 20, every_s=15, **no_speed)
    assert alerts(run(reference(), driven.records), "speed_in_zone")


def _narrow_square() -> dict:
    """The market shrunk to a square 60 m across, closed to everyone: a forecourt beside a road."""
    feature = {**ZONES["features"][0], "geometry": {"type": "Polygon", "coordinates": [square(MARKET_CENTRE, 30)]}}
    feature["properties"] = {**feature["properties"], "access": {"categories_allowed": [], "max_speed_kmh": 10}}
    return {"type": "FeatureCollection", "features": [feature]}


def test_one_stray_fix_of_a_unit_reporting_every_10_s_is_no_intrusion_into_a_narrow_zone():
    # A road 20 m east of the square's east edge; the unit reports every 10 s with an HDOP of 7 (some 35 m of error
    # among tall buildings). One fix is thrown 25 m into the square: the next comes 10 s later, on the road.
    road = point(MARKET_CENTRE, 90, 50)
    records = Track("NF-101", "12:00:00", point(road, 180, 800)).drive(0, 120, 50, every_s=10, hdop=7.0).records
    beside = min(range(len(records)), key=lambda i: abs(records[i]["lat"] - MARKET_CENTRE[0]))
    records[beside]["lat"], records[beside]["lon"] = point(MARKET_CENTRE, 90, 5)
    ref = reference(zones=_narrow_square())
    assert not alerts(run(ref, records), "protected_zone_intrusion")
    # Driven into the square and stopped there (what a ramming ends in), its fixes are inside one after the other.
    rammed = Track("NF-101", "12:00:00", point(MARKET_CENTRE, 180, 300)).drive(0, 30, 36, every_s=10, hdop=7.0)
    assert alerts(run(ref, rammed.stand(60, every_s=10, hdop=7.0).records), "protected_zone_intrusion")


def test_a_zone_drawn_with_150_000_vertices_is_simplified_for_the_detector_within_metres() -> None:
    import math

    import shapely

    from anomaly.spatial import MAX_ZONE_VERTICES, ReferenceIndex

    centre_lat, centre_lon = 52.52, 13.40
    ring = []
    for i in range(150_000):  # a 300 m circle with 1 m of wobble: detail no fix can resolve
        angle = 2 * math.pi * i / 150_000
        radius = 300.0 + math.sin(i) * 1.0
        ring.append([centre_lon + radius * math.sin(angle) / (111_320 * math.cos(math.radians(centre_lat))),
                     centre_lat + radius * math.cos(angle) / 111_320])
    ring.append(ring[0])
    zones = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"zone_id": "huge", "name": "Huge", "kind": "market", "timezone": "Europe/Berlin"}}]}
    index = ReferenceIndex(reference(zones=zones))
    shape = index.zone_shapes["huge"]
    assert len(shape.polygon.edges) <= MAX_ZONE_VERTICES
    drawn = shapely.Polygon([shape.zone.frame.to_xy(lat, lon) for lon, lat in shape.zone.ring])
    simplified = shapely.Polygon([(e[0], e[1]) for e in shape.polygon.edges])
    assert drawn.symmetric_difference(simplified).area < 0.02 * drawn.area  # the same place, to within metres
    assert shape.polygon.contains(*shape.zone.frame.to_xy(centre_lat, centre_lon))


def _closed_square(half_m: float) -> dict:
    """The market as a square 2 × half_m across, closed to everyone: a station forecourt, a small square."""
    feature = {**ZONES["features"][0], "geometry": {"type": "Polygon", "coordinates": [square(MARKET_CENTRE, half_m)]}}
    feature["properties"] = {**feature["properties"], "access": {"categories_allowed": [], "max_speed_kmh": 10}}
    return {"type": "FeatureCollection", "features": [feature]}


def _east_of_centre(metres: float, north_m: float = 0.0) -> tuple[float, float]:
    """A point metres east of the market's centre (west when negative), north_m to the north (south when negative)."""
    lat, lon = point(MARKET_CENTRE, 90 if metres >= 0 else 270, abs(metres))
    return point((lat, lon), 0 if north_m >= 0 else 180, abs(north_m))


def test_a_trackers_fixes_from_a_queue_beside_a_small_square_are_no_intrusion_but_a_van_parked_in_it_is():
    # A square 100 m across; a road 20 m east of its east edge. A tracker that reports no speed, once a minute, drives
    # up the road (36 km/h along its track) into a queue; standing there, its fixes scatter up to 26 m into the square
    # (a receiver that stands keeps most of its error from fix to fix). The minute-long chord says it drove somewhere
    # in that minute, not that it drove in.
    no_speed = {"wheel_speed_kmh": ..., "gnss_speed_kmh": ..., "heading_deg": ...}
    ref = reference(zones=_closed_square(50))
    queue = Track("NF-101", "12:00:00", _east_of_centre(70, -900))
    for east_m, north_m in [(70, -900), (70, -300), (38, 0), (28, 5), (24, 8), (32, 4), (70, 20), (70, 600)]:
        queue.lat, queue.lon = _east_of_centre(east_m, north_m)
        queue.stand(60, every_s=60, **no_speed)
    assert not alerts(run(ref, queue.records), "protected_zone_intrusion")
    # The same tracker driven into the square and parked at its middle: its first fix inside is clear of any
    # error, and the next ones stay there.
    parked = Track("NF-101", "12:00:00", _east_of_centre(70, -900))
    for east_m, north_m in [(70, -900), (70, -300), (0, 0), (4, 3), (-3, 2), (2, -4)]:
        parked.lat, parked.lon = _east_of_centre(east_m, north_m)
        parked.stand(60, every_s=60, **no_speed)
    assert alerts(run(ref, parked.records), "protected_zone_intrusion")


def test_a_noisy_units_fixes_from_the_road_beside_a_forecourt_are_no_intrusion_and_no_stop_request():
    # A forecourt 100 m across, a road 20 m east of it; the unit reports every 10 s with an HDOP of 6 (some 30 m of
    # error between tall buildings). Driving by in slow traffic, two fixes in a row land 9 and 35 m inside.
    ref = reference(zones=_closed_square(50))
    passing = Track("NF-101", "12:00:00", _east_of_centre(70, -160))
    for k, east_m in enumerate([70, 70, 70, 70, 41, 14, 70, 70, 70]):
        passing.lat, passing.lon = _east_of_centre(east_m, -160 + 35 * k)
        passing.drive(0, 10, 13, every_s=10, hdop=6.0)
    out = run(ref, passing.records)
    assert not alerts(out, "protected_zone_intrusion"), "two fixes inside by about their error are no intrusion"
    # Stop and go along the same road: eight fixes in a row wander 11-38 m into the forecourt, some of them at speed.
    # Nothing there is clear of the error of such fixes: no intrusion, least of all a critical one or a stop request.
    queue = Track("NF-101", "12:00:00", _east_of_centre(70, -400))
    moves = [(70, -400, 45), (70, -260, 45), (70, -120, 40), (39, -45, 40), (38, -35, 12), (12, -30, 8), (15, -20, 35),
             (20, -10, 10), (30, 0, 9), (30, 10, 31), (23, 25, 33), (70, 120, 45), (70, 260, 50)]
    for east_m, north_m, kmh in moves:
        queue.lat, queue.lon = _east_of_centre(east_m, north_m)
        queue.drive(0, 10, kmh, every_s=10, hdop=6.0)
    out = run(ref, queue.records)
    assert not alerts(out, "protected_zone_intrusion") and not stops(out)
