"""The public sets of real vehicle GNSS traces we calibrate on: where each lives, its licence, and its rows as fixes."""

from __future__ import annotations

import csv
import io
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

MPH_TO_KMH = 1.609344
MS_TO_KMH = 3.6

ReadBlob = Callable[[str], bytes]
"""Reads one file of the set's repository at its pinned commit."""


@dataclass(frozen=True)
class Fix:
    """One report as the source gives it: no position when the receiver had no fix; speed and heading only where the
    source has them."""

    vehicle_id: str
    ts_ms: int
    lat: float | None
    lon: float | None
    speed_kmh: float | None = None
    heading_deg: float | None = None


@dataclass(frozen=True)
class VehicleClass:
    """How one kind of vehicle in a set is registered: its fleet and its EU category."""

    fleet_id: str
    category: str


@dataclass(frozen=True)
class RealSet:
    """A public repository of real traces, pinned to a commit, with its licence and how to read it."""

    name: str
    repo: str
    commit: str
    licence: str
    attribution: str
    what: str
    cadence: str
    fleets: tuple[dict[str, object], ...]
    read: Callable[[dict[str, ReadBlob]], Iterator[tuple[Fix, VehicleClass]]]
    extra_repos: tuple[tuple[str, str], ...] = ()
    places: str = ""
    """Key of the set's protected places in places.ZONES (default: the set's name)."""


def git_reader(git_dir: Path, commit: str) -> ReadBlob:
    """A reader of files of a bare or mirrored repository at one commit (no work tree needed)."""

    def read(path: str) -> bytes:
        return subprocess.run(
            ["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"], check=True, capture_output=True
        ).stdout

    return read


# --- 1. Over-the-road trucks (US), about one report every 15 min with bursts, speed in mph, no heading ------------

OTR_TRUCK = VehicleClass("otr-haulier", "N3")


def read_otr_trucks(readers: dict[str, ReadBlob]) -> Iterator[tuple[Fix, VehicleClass]]:
    """`ping_real`: five long-haul truck drivers' pings (epoch s, integer speed in mph, lat, long)."""
    import rdata  # only this set needs it: pip install rdata

    blob = readers["caimiao0714/NDS"]("data/ping_real.rda")
    with tempfile.NamedTemporaryFile(suffix=".rda") as tmp:
        tmp.write(blob)
        tmp.flush()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # R classes (POSIXct, data.table) without a Python constructor
            frame = rdata.read_rda(tmp.name)["ping_real"]
    for driver, ping_time, speed, lat, lon in zip(
        frame["driver"], frame["ping_time"], frame["speed"], frame["lat"], frame["lon"], strict=True
    ):
        speed_kmh = None if speed is None or speed != speed else round(float(speed) * MPH_TO_KMH, 1)
        yield Fix(f"OTR-{driver}", round(float(ping_time) * 1000), float(lat), float(lon), speed_kmh), OTR_TRUCK


# --- 2. Austin city buses, GTFS-realtime positions every 30-120 s (4 min on one day), speed in m/s, no heading -------

CAPMETRO_BUS = VehicleClass("capmetro", "N3")
CAPMETRO_DAYS = ("2015-09-06", "2016-11-25", "2017-03-21")
"""A Sunday (from Saturday night), the Friday after Thanksgiving (4-min cadence that day) and a weekday morning.

Each day is its own bundle: the days are months apart, and one replay of all three would see every bus that was
driving when a day's file ends fall silent for a year.
"""


CAPMETRO_SPEED_UNIT_KMH = {"2015-09-06": MPH_TO_KMH, "2016-11-25": MS_TO_KMH, "2017-03-21": MS_TO_KMH}
"""The README says m/s, but in 2015 the archive holds mph: over 10,560 pairs of fixes 20-90 s apart that day, the
distance driven per second is 0.447 m/s per unit of `speed` (one mph); from 2016 it is 0.9 (m/s, given as integer
mph times 0.44704)."""


def capmetro_day(day: str) -> Callable[[dict[str, ReadBlob]], Iterator[tuple[Fix, VehicleClass]]]:
    unit_kmh = CAPMETRO_SPEED_UNIT_KMH[day]

    def read(readers: dict[str, ReadBlob]) -> Iterator[tuple[Fix, VehicleClass]]:
        text = readers["scascketta/CapMetrics"](f"data/vehicle_positions/{day}.csv").decode()
        for row in csv.DictReader(io.StringIO(text)):
            ts = datetime.fromisoformat(row["timestamp"])
            speed = row.get("speed") or ""
            speed_kmh = round(float(speed) * unit_kmh, 1) if speed else None
            fix = Fix(
                f"CM-{row['vehicle_id']}",
                round(ts.timestamp() * 1000),
                float(row["latitude"]),
                float(row["longitude"]),
                speed_kmh,
            )
            yield fix, CAPMETRO_BUS

    return read


# --- 3. Aracaju (Brazil) cars and buses, a smartphone app every 5-10 s, position only --------------------------------

GOTRACK_CAR = VehicleClass("gotrack-rental", "N1")
GOTRACK_BUS = VehicleClass("gotrack-bus", "N3")
ARACAJU = ZoneInfo("America/Maceio")  # Sergipe keeps UTC-3 all year


def read_gotrack(readers: dict[str, ReadBlob]) -> Iterator[tuple[Fix, VehicleClass]]:
    """A car is its phone (id_android) over its trips, unless two trips of one phone overlap in time (then they are
    two cars); a bus ride is one bus, so each bus trip is its own vehicle. A trip uploaded twice is one trip."""
    tracks = csv.DictReader(io.StringIO(readers["zalfa455/K-Means-Clustering"]("go_track_tracks.csv").decode()))
    kind = {row["id"]: (row["id_android"], row["car_or_bus"]) for row in tracks}
    points = readers["AnaMazziotti/Base-de-Dados---IP---IME"]("datasets/go_track_trackspoints.csv").decode()
    rows = list(csv.DictReader(io.StringIO(points)))
    first_of: dict[tuple[str, str, str], str] = {}
    same_trip: dict[str, str] = {}
    span: dict[str, tuple[int, int]] = {}
    for row in rows:
        track = row["track_id"]
        if track not in same_trip:
            same_trip[track] = first_of.setdefault((row["time"], row["latitude"], row["longitude"]), track)
        ts = round(datetime.strptime(row["time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=ARACAJU).timestamp() * 1000)
        start, end = span.get(track, (ts, ts))
        span[track] = (min(start, ts), max(end, ts))
    vehicle_of: dict[str, tuple[str, VehicleClass]] = {}
    busy: dict[str, list[tuple[int, int]]] = {}  # car vehicle id -> time spans of its trips
    for track in sorted({same_trip[t] for t in span}, key=lambda t: span[t]):
        android, car_or_bus = kind[track]
        if car_or_bus == "2":
            vehicle_of[track] = (f"GT-BUS-{track}", GOTRACK_BUS)
            continue
        start, end = span[track]
        k = 0
        while any(s <= end and start <= e for s, e in busy.get(f"GT-CAR-{android}-{k}", [])):
            k += 1
        vehicle_id = f"GT-CAR-{android}-{k}"
        busy.setdefault(vehicle_id, []).append((start, end))
        vehicle_of[track] = (vehicle_id, GOTRACK_CAR)
    for row in rows:
        vehicle_id, vehicle_class = vehicle_of[same_trip[row["track_id"]]]
        local = datetime.strptime(row["time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=ARACAJU)
        fix = Fix(vehicle_id, round(local.timestamp() * 1000), float(row["latitude"]), float(row["longitude"]))
        yield fix, vehicle_class


# --- 4. Curitiba (Brazil) private cars, NDS-BR naturalistic driving study, 1 Hz with speed and heading ------------

NDSBR_CAR = VehicleClass("ndsbr-rental", "N1")
CURITIBA = ZoneInfo("America/Sao_Paulo")  # Parana: UTC-3, no daylight saving after April 2019


def read_ndsbr(readers: dict[str, ReadBlob]) -> Iterator[tuple[Fix, VehicleClass]]:
    """driver_A/B/C.csv: ';'-separated, decimal commas; DAY and PR are the local date and time of each 1 Hz record."""
    for driver in ("A", "B", "C"):
        text = readers["pabsantos/ndsbr"](f"inst/extdata/driver_{driver}.csv").decode()
        for row in csv.DictReader(io.StringIO(text), delimiter=";"):
            local = datetime.strptime(f"{row['DAY']} {row['PR']}", "%d/%m/%Y %H:%M:%S").replace(tzinfo=CURITIBA)
            speed = row["SPD_KMH"].replace(",", ".")
            heading = row["HEADING"].replace(",", ".")
            lat, lon = row["LAT"].replace(",", "."), row["LONG"].replace(",", ".")
            fix = Fix(
                f"BR-{driver}",
                round(local.timestamp() * 1000),
                float(lat) if lat else None,
                float(lon) if lon else None,
                round(float(speed), 1) if speed else None,
                # The unit reports 0 while standing before its first course; a course needs motion.
                float(heading) if heading and (float(heading) != 0.0 or float(speed or 0) > 2) else None,
            )
            yield fix, NDSBR_CAR


SETS: dict[str, RealSet] = {
    "otr-trucks": RealSet(
        name="otr-trucks",
        repo="caimiao0714/NDS",
        commit="39cc19c125d1fa7737b86a36e9e8f17a7df8873e",
        licence="MIT (package licence, Miao Cai 2019)",
        attribution="Miao Cai, NDS: an R package for manipulating naturalistic driving datasets, data/ping_real.rda "
        "(real pings of five over-the-road truck drivers, 2014-2015, driver names randomised by the author)",
        what="5 US long-haul trucks (N3), Jan 2014 - Oct 2015, eastern and midwestern interstates",
        cadence="event-driven telematics: a ping about every 15 min whether moving or parked, bursts of 4-60 s, "
        "gaps of days; speed (integer mph) from the unit, no heading, no ignition",
        fleets=(
            {
                "fleet_id": "otr-haulier",
                "name": "Over-the-road trucks (NDS sample)",
                "kind": "haulier",
                "timezone": "America/New_York",
            },
        ),
        read=read_otr_trucks,
    ),
    "gotrack-aracaju": RealSet(
        name="gotrack-aracaju",
        repo="AnaMazziotti/Base-de-Dados---IP---IME",
        commit="cc2ce98898c25975dee76c526b743071e72a4f0e",
        licence="CC BY 4.0 (UCI Machine Learning Repository, 'GPS Trajectories', dataset 354)",
        attribution="M. O. Cruz, H. Macedo, A. Guimarães, 'Grouping similar trajectories for carpooling purposes', "
        "BRACIS 2015; UCI ML Repository, https://archive.ics.uci.edu/dataset/354/gps+trajectories "
        "(points via AnaMazziotti/Base-de-Dados---IP---IME, tracks via zalfa455/K-Means-Clustering)",
        what="Aracaju (Brazil) private cars (as rental N1 vans: no plan, no card) and buses, 2014-2016",
        cadence="smartphone app (Go!Track): a fix every 5-10 s while the app records a trip, nothing otherwise; "
        "no speed, no heading",
        fleets=(
            {
                "fleet_id": "gotrack-rental",
                "name": "Go!Track cars (as rental vans)",
                "kind": "rental",
                "timezone": "America/Maceio",
            },
            {"fleet_id": "gotrack-bus", "name": "Go!Track bus rides", "kind": "haulier", "timezone": "America/Maceio"},
        ),
        read=read_gotrack,
        extra_repos=(("zalfa455/K-Means-Clustering", "20722a7e4fab3361db93705d4ee8057d9a40dffd"),),
    ),
}
SETS |= {
    f"capmetro-{day}": RealSet(
        name=f"capmetro-{day}",
        repo="scascketta/CapMetrics",
        commit="435ebc91dd1561ee60020a91b2a13b9a245c0f68",
        licence="MIT (Sean Cascketta 2015); README: 'do whatever you like, but please credit back here'",
        attribution="Capital Metro (Austin, Texas) vehicle positions archived by Sean Cascketta, "
        "https://github.com/scascketta/CapMetrics",
        what=f"Austin city buses on {day} (registered N3 for their mass; a city bus is M3, which the contract has "
        "no code for)",
        cadence="GTFS-realtime AVL: a position every 120 s (30-90 s near stops; 240-360 s on 2016-11-25), "
        "speed (m/s) from the unit, no heading; a bus out of service drops out of the feed",
        fleets=(
            {
                "fleet_id": "capmetro",
                "name": "Capital Metro buses (Austin)",
                "kind": "haulier",
                "timezone": "America/Chicago",
            },
        ),
        read=capmetro_day(day),
        places="capmetro",
    )
    for day in CAPMETRO_DAYS
}
SETS["ndsbr-curitiba"] = RealSet(
    name="ndsbr-curitiba",
    repo="pabsantos/ndsbr",
    commit="4e7efc40cfdf68f2102af1b20f4f5c77b3057dc4",
    licence="MIT (ndsbr authors 2022)",
    attribution="P. A. B. dos Santos, ndsbr: the data sample of the Brazilian Naturalistic Driving Study (NDS-BR), "
    "UFPR, inst/extdata/driver_A.csv, driver_B.csv, driver_C.csv",
    what="3 private cars in Curitiba (Brazil), Aug-Sep 2019 (as rental N1 vans: no plan, no card)",
    cadence="in-car logger, 1 Hz while driving, nothing while parked; speed and heading from the receiver "
    "(heading 0 or absent before the first course)",
    fleets=(
        {
            "fleet_id": "ndsbr-rental",
            "name": "NDS-BR cars (as rental vans)",
            "kind": "rental",
            "timezone": "America/Sao_Paulo",
        },
    ),
    read=read_ndsbr,
)
