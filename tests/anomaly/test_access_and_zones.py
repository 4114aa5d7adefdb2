"""Who drives and when, towing, and the protected-zone detectors, each with the case that must stay quiet."""

from __future__ import annotations

from tests.anomaly.helpers import DEPOT, MARKET_CENTRE, Track, alerts, point, reference, run
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
