"""Reading a replay bundle: fleet.json, trips.geojson, zones.geojson into typed objects, or errors that say where."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import telematics.bundle as bundle_module
from telematics.bundle import (
    ReferenceDataError,
    iter_lines,
    load_reference,
    parse_fleet_document,
    parse_trips_document,
    parse_zones_document,
)
from telematics.reference import Fleet, Site, Trip, TripStop, Vehicle, Zone
from telematics.timeutil import parse_rfc3339_ms
from tests.bundles import FLEET, ZONES, write_bundle

# The example of contract section 6, as printed there.
README_FLEET = json.loads("""
{
  "fleets": [{"fleet_id": "nordfracht", "name": "Nordfracht GmbH", "kind": "haulier",
              "timezone": "Europe/Berlin",
              "operating_hours": {"mon": ["05:00", "21:00"], "sat": ["06:00", "14:00"], "sun": null}}],
  "vehicles": [{"vehicle_id": "NF-101", "fleet_id": "nordfracht", "category": "N3",
                "plate": "B-NF 101", "authorized_driver_cards": ["DE0000012345"]}],
  "sites": [{"site_id": "nf-depot", "fleet_id": "nordfracht", "kind": "depot",
             "lat": 52.43, "lon": 13.52, "radius_m": 300}]
}
""")
TRIPS: dict[str, Any] = {
    "type": "FeatureCollection",
    "features": [{
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[13.52, 52.43], [13.45, 52.47], [13.337, 52.505, 34.0]]},
        "properties": {
            "trip_id": "nf-2026-11-24-1", "vehicle_id": "NF-101", "driver_card_id": "DE0000012345",
            "planned_start": "2026-11-24T06:00:00+01:00", "planned_end": "2026-11-24T14:00:00+01:00",
            "corridor_m": 400,
            "stops": [{"lat": 52.47, "lon": 13.45, "radius_m": 120,
                       "planned_arrival": "2026-11-24T07:10:00+01:00",
                       "planned_departure": "2026-11-24T07:40:00+01:00"},
                      {"lat": 52.505, "lon": 13.337}],
        },
    }],
}


def test_the_contract_fleet_example() -> None:
    fleets, vehicles, sites = parse_fleet_document(README_FLEET)
    fleet = fleets["nordfracht"]
    assert isinstance(fleet, Fleet)
    assert (fleet.fleet_id, fleet.name, fleet.kind, fleet.timezone) == (
        "nordfracht", "Nordfracht GmbH", "haulier", ZoneInfo("Europe/Berlin"))
    assert fleet.operating_hours.contains_local(0, 5 * 60) and not fleet.operating_hours.contains_local(1, 10 * 60)
    assert vehicles == {"NF-101": Vehicle("NF-101", "nordfracht", "N3", "B-NF 101", frozenset({"DE0000012345"}))}
    assert sites == [Site("nf-depot", "nordfracht", "depot", 52.43, 13.52, 300.0)]
    assert all(type(v) is float for v in (sites[0].lat, sites[0].lon, sites[0].radius_m))


def test_fleet_defaults() -> None:
    fleets, vehicles, sites = parse_fleet_document({
        "fleets": [{"fleet_id": "stadtvan", "kind": "rental", "timezone": "Europe/Berlin"}],
        "vehicles": [{"vehicle_id": "SV-7", "fleet_id": "stadtvan"}],
    })
    assert fleets["stadtvan"].name == "stadtvan" and fleets["stadtvan"].operating_hours.always
    assert vehicles["SV-7"] == Vehicle("SV-7", "stadtvan", None, None, frozenset())
    assert sites == []
    assert parse_fleet_document({}) == ({}, {}, [])
    assert parse_fleet_document({"fleets": None, "vehicles": [], "extra": 1}) == ({}, {}, [])


def test_the_trips_example() -> None:
    (trip,) = parse_trips_document(TRIPS)
    assert isinstance(trip, Trip)
    assert trip.trip_id == "nf-2026-11-24-1" and trip.vehicle_id == "NF-101" and trip.driver_card_id == "DE0000012345"
    assert trip.planned_start_ms == parse_rfc3339_ms("2026-11-24T05:00:00Z")
    assert trip.planned_end_ms == parse_rfc3339_ms("2026-11-24T13:00:00Z")
    assert trip.corridor_m == 400.0
    assert trip.route == ((13.52, 52.43), (13.45, 52.47), (13.337, 52.505))  # altitude dropped
    assert trip.stops == (
        TripStop(52.47, 13.45, 120.0,
                 parse_rfc3339_ms("2026-11-24T06:10:00Z"), parse_rfc3339_ms("2026-11-24T06:40:00Z")),
        TripStop(52.505, 13.337, 150.0, None, None),  # default radius, no times
    )
    bare = copy.deepcopy(TRIPS)
    props = bare["features"][0]["properties"]
    del props["corridor_m"], props["stops"], props["driver_card_id"]
    (trip,) = parse_trips_document(bare)
    assert (trip.corridor_m, trip.stops, trip.driver_card_id) == (500.0, (), None)
    assert parse_trips_document({"type": "FeatureCollection", "features": []}) == []


def test_the_zones_example() -> None:
    (zone,) = parse_zones_document(ZONES)
    assert isinstance(zone, Zone)
    assert (zone.zone_id, zone.name, zone.kind, zone.timezone) == (
        "berlin-breitscheidplatz", "Christmas market Breitscheidplatz", "market", ZoneInfo("Europe/Berlin"))
    assert zone.access.categories_allowed == {"N1", "N2"} and zone.access.max_speed_kmh == 10.0
    assert zone.ring == tuple(tuple(p) for p in ZONES["features"][0]["geometry"]["coordinates"][0])
    assert not zone.active.always and zone.active.contains_local(6, 0)
    windows = zone.access.delivery_windows
    assert windows.contains_local(2, 6 * 60) and not windows.contains_local(2, 10 * 60)
    bare = copy.deepcopy(ZONES)
    props = bare["features"][0]["properties"]
    for key in ("name", "kind", "timezone", "active", "access"):
        del props[key]
    (zone,) = parse_zones_document(bare)
    assert (zone.name, zone.kind, zone.timezone) == ("berlin-breitscheidplatz", "public_space", ZoneInfo("UTC"))
    assert zone.active.always  # absent: always active
    assert zone.access.categories_allowed == frozenset() and zone.access.max_speed_kmh is None


def edit(doc: dict[str, Any], change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    change(doc)
    return doc


def vehicle(i: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda d: d["vehicles"][i]


def three_vehicles(d: dict[str, Any]) -> None:
    d["vehicles"] += [dict(d["vehicles"][0], vehicle_id="NF-102"), dict(d["vehicles"][0], vehicle_id="NF-103")]


FLEET_ERRORS: list[tuple[Callable[[dict[str, Any]], object], str]] = [
    (lambda d: (three_vehicles(d), d["vehicles"][2].update(fleet_id="nowhere")),
     "fleet.json: vehicles[2].fleet_id: 'nowhere' is not a fleet in this file"),
    (lambda d: (three_vehicles(d), d["vehicles"][2].pop("fleet_id")),
     "fleet.json: vehicles[2].fleet_id: missing, expected text"),
    (lambda d: (three_vehicles(d), d["vehicles"][2].update(fleet_id=7)),
     "fleet.json: vehicles[2].fleet_id: got 7, expected non-empty text"),
    (lambda d: (three_vehicles(d), d["vehicles"][2].update(vehicle_id="NF-101")),
     "fleet.json: vehicles[2].vehicle_id: 'NF-101' is already used by vehicles[0]"),
    (lambda d: d["vehicles"][0].update(vehicle_id="NF 101"),
     "fleet.json: vehicles[0].vehicle_id: got 'NF 101', expected 1-64"),
    (lambda d: d["vehicles"][0].update(vehicle_id=None), "fleet.json: vehicles[0].vehicle_id: got None, expected text"),
    (lambda d: d["vehicles"][0].update(category="N4"),
     "fleet.json: vehicles[0].category: got 'N4', expected one of N1, N2, N3"),
    (lambda d: d["vehicles"][0].update(plate=101), "fleet.json: vehicles[0].plate: got 101, expected non-empty text"),
    (lambda d: d["vehicles"][0].update(authorized_driver_cards="DE0000012345"),
     "fleet.json: vehicles[0].authorized_driver_cards: got 'DE0000012345', expected a list"),
    (lambda d: d["vehicles"][0].update(authorized_driver_cards=["DE1", 5]),
     "fleet.json: vehicles[0].authorized_driver_cards[1]: got 5, expected a driver card id"),
    (lambda d: d["vehicles"].append("NF-102"), "fleet.json: vehicles[1]: got 'NF-102', expected an object"),
    (lambda d: d.update(vehicles={"NF-101": {}}), "fleet.json: vehicles: got {'NF-101': {}}, expected a list"),
    (lambda d: d["fleets"][0].update(kind="courier"),
     "fleet.json: fleets[0].kind: got 'courier', expected one of haulier, rental"),
    (lambda d: d["fleets"][0].pop("kind"), "fleet.json: fleets[0].kind: missing, expected text"),
    (lambda d: d["fleets"][0].update(timezone="Mars/Olympus"),
     "fleet.json: fleets[0].timezone: time zone 'Mars/Olympus' is not an IANA zone name"),
    (lambda d: d["fleets"][0].pop("timezone"), "fleet.json: fleets[0].timezone: missing, expected text"),
    (lambda d: d["fleets"][0].update(name=["N"]), "fleet.json: fleets[0].name: got ['N'], expected non-empty text"),
    (lambda d: d["fleets"].append(dict(d["fleets"][0])),
     "fleet.json: fleets[1].fleet_id: 'nordfracht' is already used by fleets[0]"),
    (lambda d: d["fleets"][0]["operating_hours"].update(tue=["05:00", "21:60"]),
     "fleet.json: fleets[0].operating_hours.tue[1]: got '21:60', expected HH:MM"),
    (lambda d: d["fleets"][0]["operating_hours"].update(tuesday_late=None),
     "fleet.json: fleets[0].operating_hours.tuesday_late: unknown day 'tuesday_late'"),
    (lambda d: d["fleets"][0].update(operating_hours=["05:00", "21:00"]),
     "fleet.json: fleets[0].operating_hours: got ['05:00', '21:00'], expected an object"),
    (lambda d: d["sites"][0].update(fleet_id="nowhere"),
     "fleet.json: sites[0].fleet_id: 'nowhere' is not a fleet in this file"),
    (lambda d: d["sites"][0].update(lat=95), "fleet.json: sites[0].lat: got 95, expected a number from -90 to 90"),
    (lambda d: d["sites"][0].update(lon="13.52"), "fleet.json: sites[0].lon: got '13.52', expected a finite number"),
    (lambda d: d["sites"][0].update(radius_m=0), "fleet.json: sites[0].radius_m: got 0, expected a number above 0"),
    (lambda d: d["sites"][0].update(radius_m=True),
     "fleet.json: sites[0].radius_m: got True, expected a finite number"),
    (lambda d: d["sites"][0].update(radius_m=float("nan")),
     "fleet.json: sites[0].radius_m: got nan, expected a finite number"),
    (lambda d: d["sites"][0].pop("radius_m"), "fleet.json: sites[0].radius_m: missing, expected a number"),
    (lambda d: d["sites"].append(dict(d["sites"][0])),
     "fleet.json: sites[1].site_id: 'nf-depot' is already used by sites[0]"),
]


@pytest.mark.parametrize(("change", "message"), FLEET_ERRORS, ids=[m.split(": ")[1] for _, m in FLEET_ERRORS])
def test_fleet_errors_name_the_file_and_the_path(change: Callable[[dict[str, Any]], object], message: str) -> None:
    with pytest.raises(ReferenceDataError) as info:
        parse_fleet_document(edit(README_FLEET, change))
    assert str(info.value).startswith(message), str(info.value)


def test_a_fleet_document_that_is_not_an_object() -> None:
    with pytest.raises(ReferenceDataError, match=r"^fleet.json: got \[\], expected an object"):
        parse_fleet_document([])


def trip_props(d: dict[str, Any]) -> dict[str, Any]:
    return d["features"][0]["properties"]


def stop(d: dict[str, Any], j: int = 0) -> dict[str, Any]:
    return trip_props(d)["stops"][j]


TRIP_ERRORS: list[tuple[Callable[[dict[str, Any]], object], str]] = [
    (lambda d: d.update(type="Feature"), "trips.geojson: expected a GeoJSON FeatureCollection"),
    (lambda d: d.update(features={}), "trips.geojson: expected a GeoJSON FeatureCollection"),
    (lambda d: d["features"].append(None), "trips.geojson: features[1]: got None, expected an object"),
    (lambda d: d["features"][0]["geometry"].update(type="Point"),
     "trips.geojson: features[0].geometry: got 'Point', expected a LineString"),
    (lambda d: d["features"][0].pop("geometry"),
     "trips.geojson: features[0].geometry: got None, expected a LineString"),
    (lambda d: d["features"][0].update(properties=None),
     "trips.geojson: features[0].properties: got None, expected an object"),
    (lambda d: d["features"][0]["geometry"].update(coordinates=[[13.5, 52.4]]),
     "trips.geojson: features[0].geometry.coordinates: got [[13.5, 52.4]], expected a list of at least 2"),
    (lambda d: d["features"][0]["geometry"]["coordinates"].__setitem__(1, [52.47, 213.45]),
     "trips.geojson: features[0].geometry.coordinates[1]: got [52.47, 213.45], expected [lon, lat] in WGS 84"),
    (lambda d: d["features"][0]["geometry"]["coordinates"].__setitem__(1, ["13.45", "52.47"]),
     "trips.geojson: features[0].geometry.coordinates[1]: got ['13.45', '52.47'], expected [lon, lat]"),
    (lambda d: d["features"][0]["geometry"]["coordinates"].__setitem__(1, [13.45]),
     "trips.geojson: features[0].geometry.coordinates[1]: got [13.45], expected [lon, lat]"),
    (lambda d: trip_props(d).pop("trip_id"), "trips.geojson: features[0].properties.trip_id: missing, expected text"),
    (lambda d: d["features"].append(copy.deepcopy(d["features"][0])),
     "trips.geojson: features[1].properties.trip_id: 'nf-2026-11-24-1' is already used by features[0].properties"),
    (lambda d: trip_props(d).update(vehicle_id=101),
     "trips.geojson: features[0].properties.vehicle_id: got 101, expected non-empty text"),
    (lambda d: trip_props(d).update(driver_card_id=12),
     "trips.geojson: features[0].properties.driver_card_id: got 12, expected"),
    (lambda d: trip_props(d).pop("planned_start"),
     "trips.geojson: features[0].properties.planned_start: missing, expected RFC 3339"),
    (lambda d: trip_props(d).update(planned_end="2026-11-24 14:00"),
     "trips.geojson: features[0].properties.planned_end: '2026-11-24 14:00' has no UTC offset"),
    (lambda d: trip_props(d).update(planned_end="2026-11-24T04:00:00Z"),
     "trips.geojson: features[0].properties.planned_end: got '2026-11-24T04:00:00Z', "
     "expected no earlier than planned_start"),
    (lambda d: trip_props(d).update(corridor_m=-5),
     "trips.geojson: features[0].properties.corridor_m: got -5, expected a number above 0"),
    (lambda d: trip_props(d).update(corridor_m="wide"),
     "trips.geojson: features[0].properties.corridor_m: got 'wide', expected"),
    (lambda d: trip_props(d).update(stops={"lat": 1}),
     "trips.geojson: features[0].properties.stops: got {'lat': 1}, expected a list"),
    (lambda d: trip_props(d)["stops"].append(5),
     "trips.geojson: features[0].properties.stops[2]: got 5, expected an object"),
    (lambda d: stop(d, 1).pop("lat"), "trips.geojson: features[0].properties.stops[1].lat: missing, expected a number"),
    (lambda d: stop(d).update(lon=200),
     "trips.geojson: features[0].properties.stops[0].lon: got 200, expected a number from -180 to 180"),
    (lambda d: stop(d).update(radius_m="big"),
     "trips.geojson: features[0].properties.stops[0].radius_m: got 'big', expected"),
    (lambda d: stop(d).update(planned_arrival="soon"),
     "trips.geojson: features[0].properties.stops[0].planned_arrival: 'soon' is not"),
    (lambda d: stop(d).update(planned_departure="2026-11-24T07:00:00+01:00"),
     "trips.geojson: features[0].properties.stops[0].planned_departure: got '2026-11-24T07:00:00+01:00', "
     "expected no earlier"),
]


@pytest.mark.parametrize(("change", "message"), TRIP_ERRORS, ids=[m.split(": ")[1] for _, m in TRIP_ERRORS])
def test_trip_errors_name_the_file_and_the_path(change: Callable[[dict[str, Any]], object], message: str) -> None:
    with pytest.raises(ReferenceDataError) as info:
        parse_trips_document(edit(TRIPS, change))
    assert str(info.value).startswith(message), str(info.value)


def zone_props(d: dict[str, Any]) -> dict[str, Any]:
    return d["features"][0]["properties"]


def ring(d: dict[str, Any]) -> list[list[float]]:
    return d["features"][0]["geometry"]["coordinates"][0]


ZONE_ERRORS: list[tuple[Callable[[dict[str, Any]], object], str]] = [
    (lambda d: d["features"][0]["geometry"].update(type="MultiPolygon"),
     "zones.geojson: features[0].geometry: got 'MultiPolygon', expected a Polygon"),
    (lambda d: d["features"][0]["geometry"].update(coordinates=[]),
     "zones.geojson: features[0].geometry.coordinates: got [], expected a list of rings"),
    (lambda d: d["features"][0]["geometry"].update(coordinates=[ring(d)[:3]]),
     "zones.geojson: features[0].geometry.coordinates[0]: got [[13.33"),
    (lambda d: ring(d).__setitem__(-1, [13.0, 52.0]),
     "zones.geojson: features[0].geometry.coordinates[0]: expected a closed ring"),
    (lambda d: ring(d).__setitem__(2, [ring(d)[2][1], ring(d)[2][0] + 100]),
     "zones.geojson: features[0].geometry.coordinates[0][2]: got [52.50"),

    (lambda d: d["features"][0]["geometry"].update(coordinates=[[ring(d)[i] for i in (0, 2, 1, 3, 0)]]),
     "zones.geojson: features[0].geometry.coordinates[0]: expected a simple ring, but it is not (Self-intersection)"),
    (lambda d: zone_props(d).pop("zone_id"), "zones.geojson: features[0].properties.zone_id: missing, expected text"),
    (lambda d: d["features"].append(copy.deepcopy(d["features"][0])),
     "zones.geojson: features[1].properties.zone_id: 'berlin-breitscheidplatz' is already used by "
     "features[0].properties"),
    (lambda d: zone_props(d).update(timezone="Berlin"),
     "zones.geojson: features[0].properties.timezone: time zone 'Berlin' is not an IANA zone name"),
    (lambda d: zone_props(d).update(timezone=1),
     "zones.geojson: features[0].properties.timezone: got 1, expected non-empty text"),
    (lambda d: zone_props(d).update(active={"from": "00:00", "to": "24:00"}),
     "zones.geojson: features[0].properties.active: got {'from': '00:00', 'to': '24:00'}, expected a list"),
    (lambda d: zone_props(d)["active"][0].update(days=["mon", "someday"]),
     "zones.geojson: features[0].properties.active[0].days: unknown day 'someday'"),
    (lambda d: zone_props(d)["active"][0].update(to="25:00"),
     "zones.geojson: features[0].properties.active[0].to: got '25:00', expected"),
    (lambda d: zone_props(d).update(access=["N1"]),
     "zones.geojson: features[0].properties.access: got ['N1'], expected an object"),
    (lambda d: zone_props(d)["access"].update(categories_allowed="N1"),
     "zones.geojson: features[0].properties.access.categories_allowed: got 'N1', expected a list"),
    (lambda d: zone_props(d)["access"].update(categories_allowed=["N1", None]),
     "zones.geojson: features[0].properties.access.categories_allowed[1]: got None, expected a vehicle category"),
    (lambda d: zone_props(d)["access"]["delivery_windows"][0].update({"from": "6:00"}),
     "zones.geojson: features[0].properties.access.delivery_windows[0].from: got '6:00', expected HH:MM"),
    (lambda d: zone_props(d)["access"].update(max_speed_kmh="10"),
     "zones.geojson: features[0].properties.access.max_speed_kmh: got '10', expected a finite number"),
    (lambda d: zone_props(d)["access"].update(max_speed_kmh=-1),
     "zones.geojson: features[0].properties.access.max_speed_kmh: got -1, expected a number from 0 to 300"),
]


@pytest.mark.parametrize(("change", "message"), ZONE_ERRORS, ids=[m.split(": ")[1] for _, m in ZONE_ERRORS])
def test_zone_errors_name_the_file_and_the_path(change: Callable[[dict[str, Any]], object], message: str) -> None:
    with pytest.raises(ReferenceDataError) as info:
        parse_zones_document(edit(ZONES, change))
    assert str(info.value).startswith(message), str(info.value)


def test_load_reference_reads_a_bundle(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", [], fleet=README_FLEET)
    (bundle / "trips.geojson").write_text(json.dumps(TRIPS))
    data = load_reference(bundle)
    assert set(data.fleets) == {"nordfracht"} and set(data.vehicles) == {"NF-101"}
    assert [t.trip_id for t in data.trips] == ["nf-2026-11-24-1"]
    assert [z.zone_id for z in data.zones] == ["berlin-breitscheidplatz"]
    assert data.trips_by_vehicle["NF-101"] == data.trips and data.sites_by_fleet["nordfracht"] == data.sites
    (bundle / "trips.geojson").unlink()
    (bundle / "zones.geojson").unlink()
    data = load_reference(bundle)
    assert data.trips == [] and data.zones == []


def test_load_reference_errors_name_the_file(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", [], fleet=FLEET)
    with pytest.raises(ReferenceDataError, match="not a directory"):
        load_reference(tmp_path / "missing")
    (bundle / "zones.geojson").write_text("{not json")
    with pytest.raises(ReferenceDataError) as info:
        load_reference(bundle)
    assert str(info.value).startswith(f"{bundle / 'zones.geojson'}: not valid JSON")
    (bundle / "zones.geojson").write_text(json.dumps(edit(ZONES, lambda d: zone_props(d).pop("zone_id"))))
    with pytest.raises(ReferenceDataError) as info:
        load_reference(bundle)
    assert str(info.value).startswith(f"{bundle / 'zones.geojson'}: features[0].properties.zone_id: missing")
    (bundle / "fleet.json").unlink()
    with pytest.raises(ReferenceDataError, match=r"fleet\.json: file not found"):
        load_reference(bundle)
    (bundle / "fleet.json").mkdir()
    with pytest.raises(ReferenceDataError, match=r"fleet\.json: cannot be read"):
        load_reference(bundle)


def test_iter_lines(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.jsonl"
    path.write_bytes(b'{"a": 1}\r\n\n   \n{"b": 2}\n\xff\xfe\n{"c": 3}')
    assert list(iter_lines(path)) == [(1, b'{"a": 1}'), (4, b'{"b": 2}'), (5, b"\xff\xfe"), (6, b'{"c": 3}')]
    path.write_bytes(b"")
    assert list(iter_lines(path)) == []


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64])
def test_iter_lines_is_the_same_whatever_the_read_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    path = tmp_path / "telemetry.jsonl"
    text = b'{"a": 1}\r\n\n   \n{"b": 2}\n\xff\xfe\n\n{"c": 3}\r\r\n{"d": 4}'
    path.write_bytes(text)
    monkeypatch.setattr(bundle_module, "_READ_BYTES", block)
    expected = [(n, line.rstrip(b"\r\n")) for n, line in enumerate(text.split(b"\n"), 1) if line.strip()]
    assert list(iter_lines(path)) == expected == [
        (1, b'{"a": 1}'), (4, b'{"b": 2}'), (5, b"\xff\xfe"), (7, b'{"c": 3}'), (8, b'{"d": 4}')
    ]
