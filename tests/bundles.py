"""Small replay bundles built by code for the tests: a Berlin haulier, a rental fleet, one protected market zone."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from telematics.geo import destination
from telematics.timeutil import format_ms, parse_rfc3339_ms

MARKET_CENTRE = (52.5050, 13.3370)  # Breitscheidplatz, Berlin
DEPOT = (52.4300, 13.5200)

FLEET: dict[str, Any] = {
    "fleets": [
        {
            "fleet_id": "nordfracht",
            "name": "Nordfracht GmbH",
            "kind": "haulier",
            "timezone": "Europe/Berlin",
            "operating_hours": {d: ["05:00", "21:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
            | {"sat": ["06:00", "14:00"], "sun": None},
        },
        {"fleet_id": "stadtvan", "name": "Stadtvan Vermietung", "kind": "rental", "timezone": "Europe/Berlin"},
    ],
    "vehicles": [
        {
            "vehicle_id": "NF-101",
            "fleet_id": "nordfracht",
            "category": "N3",
            "plate": "B-NF 101",
            "authorized_driver_cards": ["DE0000012345"],
        },
        {
            "vehicle_id": "NF-102",
            "fleet_id": "nordfracht",
            "category": "N2",
            "plate": "B-NF 102",
            "authorized_driver_cards": ["DE0000067890"],
        },
        {
            "vehicle_id": "SV-7",
            "fleet_id": "stadtvan",
            "category": "N1",
            "plate": "B-SV 7",
            "authorized_driver_cards": [],
        },
    ],
    "sites": [
        {
            "site_id": "nf-depot",
            "fleet_id": "nordfracht",
            "kind": "depot",
            "lat": DEPOT[0],
            "lon": DEPOT[1],
            "radius_m": 300,
        }
    ],
}


def square(centre: tuple[float, float], half_m: float) -> list[list[float]]:
    """A closed [lon, lat] ring of a square around a centre."""
    lat, lon = centre
    north, _ = destination(lat, lon, 0, half_m)
    _, east = destination(lat, lon, 90, half_m)
    dlat, dlon = north - lat, east - lon
    return [
        [lon - dlon, lat - dlat],
        [lon + dlon, lat - dlat],
        [lon + dlon, lat + dlat],
        [lon - dlon, lat + dlat],
        [lon - dlon, lat - dlat],
    ]


ZONES: dict[str, Any] = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [square(MARKET_CENTRE, 120)]},
            "properties": {
                "zone_id": "berlin-breitscheidplatz",
                "name": "Christmas market Breitscheidplatz",
                "kind": "market",
                "timezone": "Europe/Berlin",
                "active": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "from": "00:00", "to": "24:00"}],
                "access": {
                    "categories_allowed": ["N1", "N2"],
                    "delivery_windows": [{"from": "06:00", "to": "10:00"}],
                    "max_speed_kmh": 10,
                },
            },
        }
    ],
}


def write_bundle(
    directory: Path,
    records: Iterable[dict[str, Any] | bytes | str],
    *,
    fleet: dict[str, Any] | None = None,
    zones: dict[str, Any] | None = None,
) -> Path:
    """Write fleet.json, zones.geojson, an empty trips.geojson and telemetry.jsonl (records in the given order)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "fleet.json").write_text(json.dumps(fleet or FLEET))
    (directory / "zones.geojson").write_text(json.dumps(zones or ZONES))
    (directory / "trips.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with open(directory / "telemetry.jsonl", "w") as handle:
        for record in records:
            if isinstance(record, bytes):
                record = record.decode("utf-8", errors="replace")
            handle.write((record if isinstance(record, str) else json.dumps(record)) + "\n")
    return directory


def drive(
    vehicle_id: str,
    start: str,
    origin: tuple[float, float],
    course_deg: float,
    *,
    seconds: int,
    speed_kmh: float,
    every_s: int = 1,
    first_seq: int = 0,
    **fields: Any,
) -> Iterator[dict[str, Any]]:
    """Records of a vehicle driving a straight line at constant speed, one every `every_s` seconds."""
    t0 = parse_rfc3339_ms(start)
    for i, t in enumerate(range(0, seconds, every_s)):
        lat, lon = destination(origin[0], origin[1], course_deg, speed_kmh / 3.6 * t)
        yield {
            "vehicle_id": vehicle_id,
            "ts": format_ms(t0 + t * 1000),
            "seq": first_seq + i,
            "lat": round(lat, 7),
            "lon": round(lon, 7),
            "gnss_speed_kmh": speed_kmh,
            "wheel_speed_kmh": speed_kmh,
            "heading_deg": course_deg,
            **fields,
        }


def night_theft_into_market(vehicle_id: str = "NF-101") -> list[dict[str, Any]]:
    """NF-101 driven at 3 a.m. with no card from 600 m west of the market straight into it at 40 km/h."""
    start_point = destination(*MARKET_CENTRE, 270, 600)
    return list(
        drive(
            vehicle_id,
            "2026-11-24T02:00:00Z",
            start_point,
            90,
            seconds=75,
            speed_kmh=40,
            ignition=True,
            driver_card_id=None,
            ext_power_v=24.2,
        )
    )


def fleet_with(vehicle_ids: Iterable[str]) -> dict[str, Any]:
    """FLEET plus extra N3 trucks of Nordfracht, each with its own authorised card."""
    extra = [
        {
            "vehicle_id": v,
            "fleet_id": "nordfracht",
            "category": "N3",
            "plate": v,
            "authorized_driver_cards": [f"DE{i:010d}"],
        }
        for i, v in enumerate(vehicle_ids)
    ]
    return {**FLEET, "vehicles": FLEET["vehicles"] + extra}


def theft_wave(count: int, *, disorder: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`count` trucks stolen at night and driven into the market from different sides, in arrival order.

    With `disorder`, every 7th record of a vehicle swaps places with the next (out of order) and every
    11th is sent twice (a duplicate), as mobile networks do.
    """
    vehicle_ids = [f"T-{i:03d}" for i in range(count)]
    streams = []
    for i, vehicle_id in enumerate(vehicle_ids):
        course = (i * 37) % 360
        origin = destination(*MARKET_CENTRE, (course + 180) % 360, 600)
        start = format_ms(parse_rfc3339_ms("2026-11-24T01:30:00Z") + i * 7_000)
        records = list(
            drive(
                vehicle_id,
                start,
                origin,
                course,
                seconds=75,
                speed_kmh=40,
                ignition=True,
                driver_card_id=None,
                ext_power_v=24.0,
            )
        )
        if disorder:
            for j in range(6, len(records) - 1, 7):
                records[j], records[j + 1] = records[j + 1], records[j]
            records = [r for j, rec in enumerate(records) for r in ([rec, rec] if j % 11 == 10 else [rec])]
        streams.append(records)
    # Arrival order: each vehicle sends one message a second from its start, whatever the record inside says.
    merged = sorted((i * 7 + j, i, r) for i, s in enumerate(streams) for j, r in enumerate(s))
    return fleet_with(vehicle_ids), [r for *_, r in merged]
