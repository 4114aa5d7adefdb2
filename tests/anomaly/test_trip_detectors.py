"""Trip-aware detectors: route deviation, unscheduled stops, cargo door and trailer, with their hard cases."""

from __future__ import annotations

from tests.anomaly.helpers import DEPOT, Track, alerts, at, loud, point, reference, run, trip_feature

# A trip east from the depot along a straight road 6 km long, with one planned stop 3 km out.
ROUTE_END = point(DEPOT, 90, 6000)
STOP = point(DEPOT, 90, 3000)


def trip_reference():
    stop = {"lat": STOP[0], "lon": STOP[1], "radius_m": 80,
            "planned_arrival": "2026-11-24T09:05:00Z", "planned_departure": "2026-11-24T09:20:00Z"}
    return reference([trip_feature([DEPOT, ROUTE_END], start="09:00:00", end="10:00:00", stops=[stop])])


def test_route_deviation_raised_when_leaving_the_corridor_for_good():
    track = Track("NF-101", "09:00:00", DEPOT).drive(90, 120, 50).drive(180, 300, 50)
    out = run(trip_reference(), track.records)
    found = alerts(out, "route_deviation")
    assert found, "driving 4 km south of an eastbound route must be a route deviation"
    assert {a.alert_id for a in found} == {found[0].alert_id}
    assert found[0].evidence["distance_from_route_m"] > 200
    # Alone, four kilometres for five minutes is what a diversion around a closed road looks like: noted.
    assert [a.severity for a in found] == ["info"]


def test_route_deviation_far_or_long_is_a_warning_and_with_another_sign_critical():
    far = Track("NF-101", "09:00:00", DEPOT).drive(90, 120, 50).drive(180, 480, 50)
    assert alerts(run(trip_reference(), far.records), "route_deviation")[-1].severity == "warning"
    wrong_driver = Track("NF-101", "09:00:00", DEPOT).drive(90, 120, 50, driver_card_id="XX-STRANGER")
    wrong_driver.drive(180, 300, 50, driver_card_id="XX-STRANGER")
    found = alerts(run(trip_reference(), wrong_driver.records), "route_deviation")
    assert found[-1].severity == "critical" and found[-1].revision == len(found) - 1


def test_short_shallow_detour_is_not_a_route_deviation():
    # 300 m off a 200 m corridor (100 m beyond it) for about a minute, then back on the route.
    track = Track("NF-101", "09:00:00", DEPOT).drive(90, 60, 40).drive(180, 27, 40).drive(90, 60, 40)
    track.drive(0, 27, 40).drive(90, 120, 40)
    assert not alerts(run(trip_reference(), track.records), "route_deviation")


def test_unscheduled_stop_raised_away_from_planned_stops():
    track = Track("NF-101", "09:00:00", DEPOT).drive(90, 100, 50).stand(360, ignition=False)
    found = alerts(run(trip_reference(), track.records), "unscheduled_stop")
    # On the route, engine off, card in: a break or a fuel stop as often as not. Noted, not a warning.
    assert found and found[0].severity == "info"
    # The incident starts when the vehicle stopped, not when the stop became long enough.
    assert found[0].onset_ts == "2026-11-24T09:01:40Z"


def test_a_unit_silent_while_standing_shows_its_stop_when_it_reports_again():
    # A tracker that reports once a minute while moving, and nothing while the truck stands (no speed of its own):
    # its first record after a quarter of an hour, a few metres from its last, is the first sign of the stop.
    no_speed = {"wheel_speed_kmh": ..., "gnss_speed_kmh": ..., "heading_deg": ...}

    def silent_stop(moved_m: float) -> list[dict]:
        track = Track("NF-101", "09:00:00", DEPOT).drive(90, 300, 50, every_s=60, **no_speed).silence(900)
        last = track.records[-1]
        track.lat, track.lon = point((last["lat"], last["lon"]), 90, moved_m)
        return track.drive(90, 120, 50, every_s=60, **no_speed).records

    found = alerts(run(trip_reference(), silent_stop(20)), "unscheduled_stop")
    assert found and found[0].severity == "info"  # on the route, card in: a jam or a break as often as not
    assert found[0].onset_ts == "2026-11-24T09:04:00Z"  # at the last record before the silence
    assert found[0].ts == "2026-11-24T09:20:00Z"  # known once the unit spoke again
    # A quarter of an hour's silence that ends 2 km on: the truck drove meanwhile, no stop is known.
    assert not alerts(run(trip_reference(), silent_stop(2000)), "unscheduled_stop")


def test_unscheduled_stop_with_the_card_pulled_or_far_off_route_is_a_warning():
    pulled = Track("NF-101", "09:00:00", DEPOT).drive(90, 100, 50).stand(360, ignition=False, driver_card_id=None)
    assert alerts(run(trip_reference(), pulled.records), "unscheduled_stop")[0].severity == "warning"
    far = Track("NF-101", "09:00:00", DEPOT).drive(90, 60, 50).drive(180, 150, 50).stand(360, ignition=False)
    assert alerts(run(trip_reference(), far.records), "unscheduled_stop")[-1].severity == "warning"


def test_traffic_light_and_planned_stop_are_not_unscheduled_stops():
    track = Track("NF-101", "09:00:00", DEPOT).drive(90, 60, 50).stand(100).drive(90, 100, 50)
    assert not alerts(run(trip_reference(), track.records), "unscheduled_stop")
    at_stop = Track("NF-101", "09:00:00", STOP).stand(900, ignition=False, cargo_door_open=True)
    out = run(trip_reference(), at_stop.records)
    assert not alerts(out, "unscheduled_stop") and not alerts(out, "cargo_door_open")


def test_cargo_door_open_away_from_stops_and_sites():
    track = Track("NF-101", "09:00:00", DEPOT).drive(90, 100, 50).stand(60, every_s=5, cargo_door_open=True)
    found = alerts(run(trip_reference(), track.records), "cargo_door_open")
    assert len(found) == 1 and found[0].severity == "warning"
    moving = Track("NF-101", "09:00:00", DEPOT).drive(90, 100, 50).drive(90, 30, 40, cargo_door_open=True)
    assert alerts(run(trip_reference(), moving.records), "cargo_door_open")[-1].severity == "critical"


def _spike(track: Track, metres: float, **fields: object) -> Track:
    """One standing fix thrown `metres` north by multipath, the receiver then back where the truck stands."""
    here = track.position
    track.lat, track.lon = point(here, 0, metres)
    track.stand(30, every_s=30, **fields)
    track.lat, track.lon = here
    return track


def _arrive(at_place: tuple[float, float]) -> Track:
    """A 30 s tracker's truck driven 1.5 km east to `at_place` (each record alone decides: no second look within a
    hold), standing there with the ignition off by 09:06."""
    track = Track("NF-101", "09:03:30", point(at_place, 270, 1500)).drive(90, 150, 36, every_s=30)
    return track.stand(60, every_s=30, ignition=False)


def test_a_stray_fix_at_a_planned_stop_is_not_a_door_opened_elsewhere():
    # A standing receiver's fix now and then jumps hundreds of metres: the door is opened where the truck stood at
    # its last record, and one opened at the stop stays explained while the truck stands there.
    opened_on_the_stray = _spike(_arrive(STOP), 450, ignition=False, cargo_door_open=True)
    opened_on_the_stray.stand(300, every_s=30, ignition=False, cargo_door_open=True)
    stray_while_open = _arrive(STOP).stand(90, every_s=30, ignition=False, cargo_door_open=True)
    _spike(stray_while_open, 450, ignition=False, cargo_door_open=True)
    stray_while_open.stand(300, every_s=30, ignition=False, cargo_door_open=True)
    for track in (opened_on_the_stray, stray_while_open):
        assert not alerts(run(trip_reference(), track.records), "cargo_door_open")
    # Where the truck really stands 450 m from its stop, the door is opened away from it.
    elsewhere = _arrive(point(STOP, 0, 450)).stand(300, every_s=30, ignition=False, cargo_door_open=True)
    assert alerts(run(trip_reference(), elsewhere.records), "cargo_door_open")


def test_cargo_door_at_the_depot_is_normal():
    track = Track("NF-101", "08:40:00", DEPOT).stand(600, cargo_door_open=True)
    assert not loud(run(trip_reference(), track.records))


def test_trailer_uncoupled_away_from_stops_and_sites():
    track = Track("NF-101", "09:00:00", DEPOT, trailer_connected=True).drive(90, 100, 50).stand(30)
    track.set(trailer_connected=False).stand(30).drive(180, 30, 30)
    found = alerts(run(trip_reference(), track.records), "trailer_uncoupled")
    # One alert for the drop; the authorised driver driving on solo is the trip resuming, not an escalation.
    assert len(found) == 1 and found[0].severity == "warning"


def test_trailer_dropped_at_the_depot_is_normal():
    track = Track("NF-101", "09:00:00", DEPOT, trailer_connected=True).stand(30)
    track.set(trailer_connected=False).stand(30).drive(90, 120, 50)
    assert not alerts(run(trip_reference(), track.records), "trailer_uncoupled")


def test_a_planned_stop_many_hours_away_from_its_time_does_not_explain_a_standstill():
    # At the planned stop's gate at 11:00, though it was due 05:05-05:20: a stop nobody planned for now.
    stop = {"lat": STOP[0], "lon": STOP[1], "radius_m": 80,
            "planned_arrival": "2026-11-24T05:05:00Z", "planned_departure": "2026-11-24T05:20:00Z"}
    ref = reference([trip_feature([DEPOT, ROUTE_END], start="05:00:00", end="12:00:00", stops=[stop])])
    track = Track("NF-101", "11:00:00", STOP).stand(600, ignition=False, cargo_door_open=True)
    out = run(ref, track.records)
    assert alerts(out, "unscheduled_stop") and alerts(out, "cargo_door_open")


def test_a_truck_an_hour_or_two_early_or_late_is_at_its_customer_all_the_same():
    stop = {"lat": STOP[0], "lon": STOP[1], "radius_m": 80,
            "planned_arrival": "2026-11-24T09:05:00Z", "planned_departure": "2026-11-24T09:20:00Z"}
    ref = reference([trip_feature([DEPOT, ROUTE_END], start="09:00:00", end="12:00:00", stops=[stop])])
    late = Track("NF-101", "11:00:00", STOP).stand(600, ignition=False, cargo_door_open=True)
    out = run(ref, late.records)
    assert not alerts(out, "unscheduled_stop") and not alerts(out, "cargo_door_open")


def test_back_to_back_trips_follow_the_route_being_driven():
    # Trip 1 ends back at the depot at 10:10, trip 2 leaves it northwards from 10:00: at 10:05 the vehicle
    # drives trip 2's route, which is not off trip 1's route.
    east = trip_feature([DEPOT, ROUTE_END, DEPOT], start="08:00:00", end="10:10:00", trip_id="T-1")
    north = trip_feature([DEPOT, point(DEPOT, 0, 6000)], start="10:00:00", end="12:00:00", trip_id="T-2")
    track = Track("NF-101", "10:02:00", DEPOT).drive(0, 300, 50)
    assert not alerts(run(reference([east, north]), track.records), "route_deviation")


# A second planned stop 5 km out; the truck is due at 3 km at 09:05, at 5 km at 09:25.
STOP_2 = point(DEPOT, 90, 5000)


def two_stop_reference():
    stops = [
        {"lat": STOP[0], "lon": STOP[1], "radius_m": 80,
         "planned_arrival": "2026-11-24T09:05:00Z", "planned_departure": "2026-11-24T09:20:00Z"},
        {"lat": STOP_2[0], "lon": STOP_2[1], "radius_m": 80,
         "planned_arrival": "2026-11-24T09:25:00Z", "planned_departure": "2026-11-24T09:40:00Z"},
    ]
    return reference([trip_feature([DEPOT, ROUTE_END], start="09:00:00", end="11:00:00", stops=stops)])


def _back_at_the_first_stop(first_visit: dict[str, object]) -> Track:
    """At the first stop for 15 min (doing what `first_visit` says), on to the second for 10 min with the engine
    off, then back to the first, where the trailer is uncoupled and the cargo door opened."""
    track = Track("NF-101", "09:05:00", STOP, trailer_connected=True).stand(900, every_s=30, **first_visit)
    track.set(ignition=True, cargo_door_open=False).drive(90, 144, 50, every_s=10).stand(600, ignition=False)
    track.set(ignition=True).drive(270, 144, 50, every_s=10)
    return track.stand(60, every_s=10, ignition=False).set(trailer_connected=False).stand(300, cargo_door_open=True)


def test_a_planned_stop_already_served_does_not_explain_a_trailer_dropped_there_later():
    # Delivered at the first stop (door open, engine off), then at the second: back at the first, a trailer
    # uncoupled and a door opened are no delivery the plan explains (trailer theft at a former stop).
    out = run(two_stop_reference(), _back_at_the_first_stop({"ignition": False, "cargo_door_open": True}).records)
    assert alerts(out, "trailer_uncoupled") and alerts(out, "cargo_door_open")


def test_queueing_at_a_stop_with_the_engine_running_does_not_serve_it():
    # Waiting near the first stop's gate (engine on, doors shut) and doing the second stop first: the first is
    # still to be served, so coming back to it is the delivery.
    out = run(two_stop_reference(), _back_at_the_first_stop({"ignition": True, "cargo_door_open": False}).records)
    assert not loud(out)


def test_a_stop_visited_long_before_its_time_is_still_to_come():
    # A yard move to the first stop's place at 07:50 (door open: loading) and on to the second stop's place, both
    # more than an hour before their planned times; then the first stop at 09:05 as planned: nothing unusual.
    track = Track("NF-101", "07:50:00", STOP, trailer_connected=True).stand(600, every_s=30, cargo_door_open=True,
                                                                             ignition=False)
    track.set(ignition=True, cargo_door_open=False).drive(90, 144, 50, every_s=10).stand(600, ignition=False)
    track.t = at("09:02:00")
    track.set(ignition=True).drive(270, 144, 50, every_s=10).stand(600, every_s=10, ignition=False,
                                                                    cargo_door_open=True)
    assert not loud(run(two_stop_reference(), track.records))
