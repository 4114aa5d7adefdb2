"""Ramming risk before entry, hijack fusion with escalation, and the remote-stop request modes."""

from __future__ import annotations

from telematics.timeutil import format_ms
from tests.anomaly.helpers import (
    CARD,
    DEPOT,
    MARKET_CENTRE,
    Track,
    alerts,
    at,
    loud,
    point,
    reference,
    run,
    stops,
    trip_feature,
)
from tests.bundles import night_theft_into_market

WEST_EDGE = point(MARKET_CENTRE, 270, 120)


def entry_time(out, kind="protected_zone_intrusion"):
    return min(a.ts for a in alerts(out, kind))


def test_night_theft_raises_ramming_risk_and_a_stop_request_before_entry():
    out = run(reference(), night_theft_into_market())
    ramming = alerts(out, "ramming_risk")
    entered = entry_time(out)
    assert ramming and ramming[0].ts < entered
    # 40 km/h: the first warning 15 s or more before the kerb.
    assert ramming[0].evidence["time_to_boundary_s"] >= 15
    requests = stops(out)
    assert len(requests) == 1 and requests[0].ts < entered
    assert requests[0].mode == "controlled_stop" and requests[0].zone_id == "berlin-breitscheidplatz"
    assert set(requests[0].alert_ids) <= {a.alert_id for a in alerts(out)}


def test_daytime_driver_heading_straight_into_the_zone_at_speed():
    start = point(WEST_EDGE, 270, 500)
    track = Track("NF-101", "09:00:00", start).drive(90, 30, 50, accel=0.3)
    out = run(reference(), track.records)
    ramming = alerts(out, "ramming_risk")
    assert ramming and ramming[-1].severity == "critical"
    assert ramming[0].ts < entry_time(out)


def test_road_alongside_the_zone_is_no_risk():
    # A road 25 m south of the zone's south edge, driven east past it at 50 km/h.
    south = point(point(MARKET_CENTRE, 180, 145), 270, 600)
    out = run(reference(), Track("NF-101", "09:00:00", south).drive(90, 90, 50).records)
    assert not alerts(out, "ramming_risk") and not loud(out)


def test_turning_away_before_the_zone_is_no_risk():
    # Heading at the zone, braking for the junction 70 m before it, then turning north.
    start = point(WEST_EDGE, 270, 250)
    track = Track("NF-101", "09:00:00", start).drive(90, 8, 40).drive(90, 8, 40, accel=-1.2).drive(0, 60, 30)
    out = run(reference(), track.records)
    assert not alerts(out, "ramming_risk") and not loud(out)


def test_permitted_delivery_crawling_in_during_its_window_is_no_risk():
    # NF-102 is an N2, allowed 06:00-10:00 local (05:00-09:00 UTC), at walking pace.
    start = point(WEST_EDGE, 270, 80)
    track = Track("NF-102", "07:30:00", start, driver_card_id="DE0000067890").drive(90, 120, 8)
    out = run(reference(), track.records)
    assert not loud(out) and not stops(out)


def test_hijack_story_stop_card_pulled_then_off_route_escalates_one_alert_and_derates():
    end = point(DEPOT, 90, 8000)
    ref = reference([trip_feature([DEPOT, end], start="09:00:00", end="11:00:00")])
    track = Track("NF-101", "09:00:00", DEPOT).drive(90, 200, 50)
    track.stand(400, every_s=10, ignition=False, driver_card_id=None)   # stopped, card pulled
    track.set(driver_card_id=None).drive(180, 600, 60, every_s=2)       # driven south, off the route
    out = run(ref, track.records)
    hijack = alerts(out, "hijack_suspected")
    assert hijack and len({a.alert_id for a in hijack}) == 1
    assert [a.revision for a in hijack] == list(range(len(hijack)))
    assert hijack[-1].severity == "critical"
    assert {"unscheduled_stop", "unauthorized_driver", "route_deviation"} <= set(hijack[-1].evidence["signals"])
    requests = stops(out)
    assert len(requests) == 1
    assert requests[0].mode == "speed_limit" and requests[0].target_speed_kmh == 30
    assert hijack[-1].alert_id in requests[0].alert_ids


def test_vehicle_towed_away_at_night_gets_prevent_restart_when_parked():
    start = point(DEPOT, 0, 2000)
    track = Track("NF-101", "01:00:00", start, ignition=False, driver_card_id=None)
    track.drive(0, 120, 20, every_s=2, gnss_jamming=True).stand(120, every_s=10, gnss_jamming=True)
    out = run(reference(), track.records)
    assert alerts(out, "towing") and alerts(out, "hijack_suspected")
    modes = [r.mode for r in stops(out)]
    assert modes == ["prevent_restart"]


def test_normal_day_raises_no_warnings_and_no_stop_requests():
    end = point(DEPOT, 90, 8000)
    stop_point = point(DEPOT, 90, 4000)
    stop = {"lat": stop_point[0], "lon": stop_point[1], "radius_m": 100}
    ref = reference([trip_feature([DEPOT, end], start="08:00:00", end="12:00:00", stops=[stop])])
    track = Track("NF-101", "07:50:00", DEPOT, trailer_connected=True).stand(300, driver_card_id=None)
    track.drive(90, 250, 50, every_s=2).drive(90, 90, 50, every_s=2, accel=-0.15)
    track.stand(900, ignition=False, cargo_door_open=True).drive(90, 200, 50).stand(90).drive(90, 40, 50)
    out = run(ref, track.records)
    assert not loud(out), [(a.kind, a.evidence.get("summary")) for a in loud(out)]
    assert not stops(out)


def test_driver_swap_at_the_depot_is_not_an_unauthorized_driver():
    track = Track("NF-101", "09:00:00", DEPOT).drive(90, 20, 15)
    track.stand(120, driver_card_id=None).set(driver_card_id=CARD).drive(90, 60, 30)
    assert not alerts(run(reference(), track.records), "unauthorized_driver")


def test_rental_van_far_too_fast_for_a_city_street_is_flagged_well_before_entry():
    # A hired van (no card, no trip: no other signal) at 75 km/h straight at the zone.
    start = point(WEST_EDGE, 270, 700)
    out = run(reference(), Track("SV-7", "12:00:00", start, driver_card_id=...).drive(90, 40, 75).records)
    ramming = alerts(out, "ramming_risk")
    assert ramming and ramming[0].ts < entry_time(out)
    assert ramming[0].evidence["time_to_boundary_s"] >= 15
    # Faster than any street around the zone allows, aimed at it record after record: a stop request before entry,
    # with nothing but the run itself to go on.
    requests = stops(out)
    assert requests and requests[0].ts < entry_time(out) and requests[0].mode == "controlled_stop"
    assert requests[0].zone_id == "berlin-breitscheidplatz"


def test_a_van_at_city_speed_into_the_zone_is_flagged_but_stopped_only_once_inside():
    # 50 km/h straight at the zone: a street's speed, so the course alone (a junction may still turn it) raises the
    # alarm, and the request waits until the van is inside at speed.
    start = point(WEST_EDGE, 270, 400)
    out = run(reference(), Track("SV-7", "12:00:00", start, driver_card_id=...).drive(90, 40, 50).records)
    entered = entry_time(out)
    assert any(a.severity == "critical" and a.ts < entered for a in alerts(out, "ramming_risk"))
    requests = stops(out)
    assert requests and requests[0].ts >= entered


def test_van_on_an_arterial_towards_the_zone_braking_for_the_junction_is_no_risk():
    # 58 km/h (a 60 km/h street) straight at the zone, braking comfortably from 110 m out and turning away.
    start = point(WEST_EDGE, 270, 500)
    track = Track("SV-7", "12:00:00", start, driver_card_id=...).drive(90, 24, 58)
    track.drive(90, 8, 58, accel=-1.5).drive(0, 60, 15)
    out = run(reference(), track.records)
    assert not alerts(out, "ramming_risk") and not loud(out)


def test_a_noisy_units_van_at_attack_speed_aimed_within_its_fixes_error_of_the_zone_is_flagged_before_entry():
    # A hired van at 80 km/h whose unit reports HDOP 5 (some 25 m of error between tall buildings). Its course runs
    # 15 m past the market's north-west corner: within its fixes' error of the zone, and it turns in at the last
    # moment. It is flagged on the approach, not only at the turn.
    start = point(point(MARKET_CENTRE, 0, 135), 270, 700)
    track = Track("SV-7", "12:00:00", start, driver_card_id=..., hdop=5.0).drive(90, 26, 80).drive(120, 8, 80)
    out = run(reference(), track.records)
    entered = entry_time(out)
    ramming = alerts(out, "ramming_risk")
    assert ramming and ramming[0].ts < entered and ramming[0].evidence["time_to_boundary_s"] >= 8
    # The same run from a unit whose fixes are good to 4 m (HDOP 0.8) passes 15 m clear of the corner: a road
    # alongside the zone, no risk; so does the noisy unit at 50 km/h, a street's speed.
    clear = Track("SV-7", "12:00:00", start, driver_card_id=..., hdop=0.8).drive(90, 60, 80).records
    assert not alerts(run(reference(), clear), "ramming_risk")
    street = Track("SV-7", "12:00:00", start, driver_card_id=..., hdop=5.0).drive(90, 90, 50).records
    assert not alerts(run(reference(), street), "ramming_risk")


def test_a_30_s_trackers_one_look_before_the_zone_warns_when_its_receiver_measured_speed_and_course():
    # A hired van whose tracker reports every 30 s: at 80 km/h its fixes are 670 m apart, so one fix (300 m out,
    # 13 s from the kerb, at 12:02:00) is all it gives before the zone. Its receiver measured 80 km/h and a course
    # into the zone, and the fix before shows it closing: a warning then, never a critical or a stop request from
    # one look.
    start = point(WEST_EDGE, 270, 300 + 4 * 667)
    last_look = format_ms(at("12:02:00"))

    def run_up(**fields):
        return Track("SV-7", "12:00:00", start, driver_card_id=...).drive(90, 150, 80, every_s=30, **fields).records

    measured = run(reference(), run_up())
    warned = alerts(measured, "ramming_risk")
    assert [(a.ts, a.severity) for a in warned] == [(last_look, "warning")], warned
    assert 290 <= warned[0].evidence["distance_m"] <= 310 and warned[0].evidence["time_to_boundary_s"] < 15
    assert not stops(measured)
    # A tracker that reports neither (its speed and course only a chord between fixes 30 s apart): no alert.
    chord_only = run(reference(), run_up(gnss_speed_kmh=..., wheel_speed_kmh=..., heading_deg=...))
    assert not [a for a in alerts(chord_only, "ramming_risk") if a.ts <= last_look]
    # The same tracker on a road 25 m past the zone's south edge at 80 km/h: not aimed at it, no alert.
    south = point(point(MARKET_CENTRE, 180, 145), 270, 300 + 4 * 667)
    alongside = Track("SV-7", "12:00:00", south, driver_card_id=...).drive(90, 240, 80, every_s=30).records
    assert not alerts(run(reference(), alongside), "ramming_risk")
