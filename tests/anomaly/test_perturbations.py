"""Normal days stay quiet and incidents stay found when devices, GNSS and drivers behave as they do in real fleets."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import shapely
import shapely.geometry
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from anomaly.config import EngineConfig
from can_sim.scenarios import generate_bundle
from can_sim.scenarios import perturb as p
from ingest.replay import replay_bundle
from telematics.geo import haversine_m
from telematics.timeutil import format_ms, parse_rfc3339_ms

DAY_START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
"""Tuesday 10:00-13:00 in Berlin: trucks on their trips, a delivery into a pedestrian street, tunnels, detours, a
driver swap, and a pass 20 m beside the Christmas market once it is active (11:00)."""
INCIDENT_START = datetime(2026, 12, 1, 7, 30, tzinfo=UTC)
INCIDENTS = ("hijack_ramming", "theft_at_stop_ramming", "rental_ramming", "cargo_theft", "tamper_offline")
DETOUR_CLEARANCE_M = 150.0
"""A detour must keep this far from every protected zone: closer, an alert about the zone would be right."""
GRACE_MS = 60_000
CLEAN = {"device_profile": "classic", "driving_profile": "classic"}
"""The days perturbed: 1 Hz CAN-connected units, plans kept to the minute; the perturbations add the rest."""
_SETTINGS = {"deadline": None, "derandomize": True, "database": None, "phases": (Phase.explicit, Phase.generate),
             "suppress_health_check": (HealthCheck.function_scoped_fixture, HealthCheck.too_slow)}
NORMAL_EXAMPLES = settings(max_examples=5, **_SETTINGS)  # type: ignore[arg-type]
INCIDENT_EXAMPLES = settings(max_examples=2, **_SETTINGS)  # type: ignore[arg-type]
"""Few examples, no shrinking: each one replays a bundle (the file runs in well under a minute); derandomized so
CI sees the same examples on every run."""


class Day:
    """A generated bundle held in memory: its directory (reference files), tracks by vehicle, trips, labels."""

    def __init__(self, path: Path, tracks: dict[str, list[p.Record]], trips: dict[str, Any], zones: dict[str, Any],
                 labels: dict[str, Any]) -> None:
        self.path = path
        self.tracks = tracks
        self.trips = trips
        self.zones = zones
        self.labels = labels

    def __repr__(self) -> str:
        # Short on purpose: hypothesis and pytest print the fixtures of a failing example.
        return f"Day({self.path.name}: {', '.join(f'{v} {len(t)} records' for v, t in self.tracks.items())})"


def _load(path: Path) -> Day:
    records = [orjson.loads(line) for line in (path / "telemetry.jsonl").read_bytes().splitlines() if line]
    return Day(path, p.by_vehicle(records), json.loads((path / "trips.geojson").read_text()),
               json.loads((path / "zones.geojson").read_text()), json.loads((path / "labels.json").read_text()))


@pytest.fixture(scope="module")
def normal_day(tmp_path_factory: pytest.TempPathFactory) -> Day:
    out = tmp_path_factory.mktemp("normal")
    generate_bundle(out, seed=31, vehicles=5, days=3 / 24, start=DAY_START, cities=["berlin"], incidents=[],
                    **CLEAN)
    return _load(out)


@pytest.fixture(scope="module")
def incident_days(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Day]:
    days = {}
    for kind in INCIDENTS:
        out = tmp_path_factory.mktemp(kind)
        generate_bundle(out, seed=32, vehicles=3, days=2 / 24, start=INCIDENT_START, cities=["berlin"],
                        incidents=[kind], **CLEAN)
        days[kind] = _load(out)
        # Long enough for every incident to be placed and to run its course (else "found" would be vacuous).
        assert [i["type"] for i in days[kind].labels["incidents"]] == [kind]
    return days


# ----------------------------------------------------------------------------- perturbations


@dataclass(repr=False)
class Perturbed:
    tracks: dict[str, list[p.Record]]
    trips: dict[str, Any]
    delay_ms: dict[str, tuple[int, int]]
    """vehicle -> (from ms, delay ms): events of the vehicle after `from` now happen `delay` later."""
    lateness_s: float = 60.0
    """The lateness the fleet's operator sets: at least the longest gap its units buffer and send later
    (TRUCKGUARD_LATENESS_S); records older than that, behind ones already processed, are rejected as too late."""


Perturbation = Callable[[Day, st.DrawFn, frozenset[str]], Perturbed]
"""Draws its parameters and applies them; the set names vehicles whose times must stay put before (incidents)."""


def _each(day: Day, change: Callable[[list[p.Record]], list[p.Record]]) -> Perturbed:
    return Perturbed({vid: change(track) for vid, track in day.tracks.items()}, day.trips, {})


def _resample(day: Day, draw: st.DrawFn, _: frozenset[str]) -> Perturbed:
    period = draw(st.sampled_from([30, 60]), label="period_s")
    return _each(day, lambda track: p.resample(track, period))


def _event_driven(day: Day, draw: st.DrawFn, _: frozenset[str]) -> Perturbed:
    """A unit that reports once a minute while moving and sends one 'stopped' record at each standstill."""
    return _each(day, lambda track: p.drop_stationary(p.resample(track, 60), keep_first=True))


def _event_driven_silent(day: Day, draw: st.DrawFn, _: frozenset[str]) -> Perturbed:
    """The same unit without the 'stopped' record: nothing at all while the vehicle stands."""
    return _each(day, lambda track: p.drop_stationary(p.resample(track, 60), keep_first=False))


def _drop_stationary(day: Day, draw: st.DrawFn, _: frozenset[str]) -> Perturbed:
    keep_first = draw(st.booleans(), label="keep_first")
    return _each(day, lambda track: p.drop_stationary(track, keep_first=keep_first))


def _gnss_noise(day: Day, draw: st.DrawFn, _: frozenset[str]) -> Perturbed:
    sigma = draw(st.sampled_from([5.0, 15.0, 30.0, 50.0]), label="sigma_m")  # open sky to city centre
    seed = draw(st.integers(0, 2**16), label="seed")
    # A receiver in a street canyon says so: it reports its dilution of precision with each fix (HDOP times
    # about 5 m is its 1-sigma error), and the noise added here comes with the HDOP that explains it.
    return _each(day, lambda track: _with_hdop(p.add_gnss_noise(track, random.Random(seed), sigma), sigma))


def _with_hdop(track: list[p.Record], sigma_m: float) -> list[p.Record]:
    return [{**r, "hdop": round(sigma_m / 5.0, 1)} if r.get("lat") is not None else r for r in track]


def _gnss_spikes(day: Day, draw: st.DrawFn, _: frozenset[str]) -> Perturbed:
    rate = draw(st.sampled_from([0.002, 0.005, 0.01]), label="rate")
    seed = draw(st.integers(0, 2**16), label="seed")
    return _each(day, lambda track: p.add_gnss_spikes(track, random.Random(seed), rate))


def _position_only(day: Day, draw: st.DrawFn, _: frozenset[str]) -> Perturbed:
    period = draw(st.sampled_from([10, 60]), label="period_s")
    return _each(day, lambda track: p.strip_can(p.strip_receiver_motion(p.resample(track, period))))


def _schedule(day: Day, draw: st.DrawFn, _: frozenset[str]) -> Perturbed:
    minutes = draw(st.sampled_from([-60, -45, -30, -15, 15, 30, 45, 60]), label="plan_shift_min")
    return Perturbed(dict(day.tracks), p.shift_plan(day.trips, minutes), {})


def _store_and_forward(day: Day, draw: st.DrawFn, _: frozenset[str]) -> Perturbed:
    gap_s = draw(st.sampled_from([120, 300, 600, 900]), label="gap_s")
    newest_first = draw(st.booleans(), label="newest_first")
    where = draw(st.floats(0.1, 0.9), label="where")
    tracks = {}
    for vid, track in day.tracks.items():
        spans = p.moving_spans(track, 60)
        if spans:
            first, last = spans[int(where * len(spans))]
            tracks[vid] = p.store_and_forward(track, p.ts_ms(track[(first + last) // 2]), gap_s, newest_first)
        else:
            tracks[vid] = track
    # Newest first, the buffered records arrive behind newer ones: the operator of such units allows that lateness.
    return Perturbed(tracks, day.trips, {}, lateness_s=gap_s + 60.0 if newest_first else 60.0)


def _detour(day: Day, draw: st.DrawFn, keep: frozenset[str]) -> Perturbed:
    offset = draw(st.sampled_from([300.0, 350.0, 450.0]), label="offset_m")  # one block over, and a bit
    side = draw(st.sampled_from([-1.0, 1.0]), label="side")
    where = draw(st.floats(0.0, 1.0), label="where")
    near = p.zone_distance(day.zones)
    tracks, done = dict(day.tracks), 0
    for vid, track in day.tracks.items():
        limit = _incident_start(day, vid) if vid in keep else None
        spans = [s for s in p.moving_spans(track, 150)
                 if limit is None or p.ts_ms(track[s[1]]) < limit - 120_000]
        if not spans:
            continue
        first, last = spans[min(len(spans) - 1, int(where * len(spans)))]
        changed = p.insert_detour(track, first, last, offset, side)
        if all(near(r["lat"], r["lon"]) >= DETOUR_CLEARANCE_M for r in changed[first:last + 1] if r.get("lat")):
            tracks[vid] = changed
            done += 1
    assume(done > 0)
    return Perturbed(tracks, day.trips, {})


def _break(day: Day, draw: st.DrawFn, keep: frozenset[str]) -> Perturbed:
    minutes = draw(st.sampled_from([15, 30, 45]), label="break_min")
    where = draw(st.floats(0.0, 1.0), label="where")
    tracks, delays = dict(day.tracks), {}
    for vid, track in day.tracks.items():
        limit = _incident_start(day, vid) if vid in keep else None
        # A break before a delivery into a pedestrian street could push it out of its delivery window, and the
        # vehicle would then really be where it must not be: breaks come after the vehicle's last such delivery.
        after = max((parse_rfc3339_ms(c["end"]) for c in day.labels["hard_cases"]
                     if c["vehicle_id"] == vid and c["kind"] == "zone_delivery"), default=0)
        spans = [s for s in p.moving_spans(track, 120) if p.ts_ms(track[s[0]]) > after
                 and (limit is None or p.ts_ms(track[s[1]]) < limit - 60_000)]
        if not spans:
            continue
        first, last = spans[min(len(spans) - 1, int(where * len(spans)))]
        at = (first + last) // 2
        tracks[vid] = p.insert_break(track, at, minutes, period_s=10)
        delays[vid] = (p.ts_ms(track[at]), minutes * 60_000)
    assume(tracks != day.tracks)
    return Perturbed(tracks, day.trips, delays)


PERTURBATIONS: dict[str, Perturbation] = {
    "resample": _resample,
    "event_driven": _event_driven,
    "event_driven_silent": _event_driven_silent,
    "drop_stationary": _drop_stationary,
    "gnss_noise": _gnss_noise,
    "gnss_spikes": _gnss_spikes,
    "position_only": _position_only,
    "schedule_shift": _schedule,
    "store_and_forward": _store_and_forward,
    "detour": _detour,
    "break": _break,
}


def _incident_start(day: Day, vehicle_id: str) -> int | None:
    for incident in day.labels["incidents"]:
        if incident["vehicle_id"] == vehicle_id:
            return parse_rfc3339_ms(incident["start"])
    return None


# ----------------------------------------------------------------------------- replay


def _replay(day: Day, changed: Perturbed, work: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    p.write_bundle(day.path, work, changed.tracks, changed.trips)
    config = EngineConfig(lateness_ms=int(changed.lateness_s * 1000))
    replay_bundle(work, work / "alerts.jsonl", work / "stops.jsonl", config=config, progress=False)

    def rows(name: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (work / name).read_text().splitlines() if line]

    return rows("alerts.jsonl"), rows("stops.jsonl")


def _describe(outputs: list[dict[str, Any]]) -> str:
    lines = []
    for o in outputs:
        evidence = o.get("evidence") or {}
        summary = evidence.get("summary") if isinstance(evidence, dict) else None
        lines.append(f"{o['vehicle_id']} {o.get('kind', 'stop_request')} {o.get('severity', o.get('mode'))} "
                     f"{o['ts']}: {summary or o.get('reason')}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- tests


def test_the_unperturbed_days_are_quiet_and_their_incidents_found(normal_day: Day, incident_days: dict[str, Day],
                                                                    tmp_path: Path) -> None:
    """The baseline the perturbations start from: if this fails, the perturbed tests say nothing."""
    alerts, stops = _replay(normal_day, Perturbed(normal_day.tracks, normal_day.trips, {}), tmp_path / "normal")
    loud = [a for a in alerts if a["severity"] in ("warning", "critical")]
    assert not loud and not stops, _describe(loud + stops)
    for kind, day in incident_days.items():
        alerts, _ = _replay(day, Perturbed(day.tracks, day.trips, {}), tmp_path / kind)
        assert _found(day, alerts, {}), kind


@pytest.mark.parametrize("name", sorted(PERTURBATIONS))
@NORMAL_EXAMPLES
@given(data=st.data())
def test_a_perturbed_normal_day_raises_no_alarm_and_no_stop_request(name: str, normal_day: Day, data: st.DataObject,
                                                                     tmp_path_factory: pytest.TempPathFactory) -> None:
    changed = PERTURBATIONS[name](normal_day, data.draw, frozenset())
    alerts, stops = _replay(normal_day, changed, tmp_path_factory.mktemp(f"n-{name}"))
    loud = [a for a in alerts if a["severity"] in ("warning", "critical")]
    assert not loud and not stops, f"{name}: false alarms on a normal day\n{_describe(loud + stops)}"


UNOBSERVABLE = {
    ("event_driven", "cargo_theft"): "the cargo is stolen while the truck stands, when an event-driven unit sends "
    "one 'stopped' record and then nothing: no record shows the open door",
    ("event_driven_silent", "cargo_theft"): "the cargo is stolen while the truck stands, when the unit sends nothing",
    ("drop_stationary", "cargo_theft"): "every record of the theft is a standing one, and the perturbation drops them",
    ("event_driven_silent", "rental_ramming"): "the van enters the zone and parks between two fixes a minute apart, "
    "and the unit sends nothing once it stands: no fix lies inside the zone",
    ("event_driven", "rental_ramming"): "the van enters and parks between two fixes a minute apart; its one fix inside "
    "is the 'stopped' record, standing, and a van may be there in the zone's delivery hours",
}
"""Perturbations that remove every record an incident shows itself in; test_unobservable_means_no_evidence_left
checks that claim for each, so the table cannot hide a detector that misses what it could see."""


def _evidence(day: Day, kind: str, records: list[p.Record]) -> list[p.Record]:
    """The records that show the incident: an open cargo door, or a fix inside the zone driven at, moving faster
    than the zone allows."""
    if kind == "cargo_theft":
        return [r for r in records if r.get("cargo_door_open")]
    zone_id = day.labels["incidents"][0]["zone_id"]
    feature = next(f for f in day.zones["features"] if f["properties"]["zone_id"] == zone_id)
    zone = shapely.geometry.shape(feature["geometry"])
    limit = feature["properties"]["access"]["max_speed_kmh"]
    return [r for r in records if r.get("lat") is not None and zone.contains(shapely.Point(r["lon"], r["lat"]))
            and p.speed_kmh(r) > limit]


def test_unobservable_means_no_evidence_left(incident_days: dict[str, Day]) -> None:
    for (name, kind), _why in UNOBSERVABLE.items():
        day = incident_days[kind]
        incident = day.labels["incidents"][0]
        start, end = parse_rfc3339_ms(incident["start"]), parse_rfc3339_ms(incident["end"])
        changed = PERTURBATIONS[name](day, lambda _strategy, label=None: None, frozenset())
        during = [r for r in changed.tracks[incident["vehicle_id"]] if start <= p.ts_ms(r) <= end]
        assert during or name != "event_driven", "the unit still reports while the vehicle moves"
        assert not _evidence(day, kind, during), (name, kind)
        assert _evidence(day, kind, [r for r in day.tracks[incident["vehicle_id"]] if start <= p.ts_ms(r) <= end])


@pytest.mark.parametrize(
    ("name", "kind"), [(n, k) for n in sorted(PERTURBATIONS) for k in INCIDENTS if (n, k) not in UNOBSERVABLE]
)
@INCIDENT_EXAMPLES
@given(data=st.data())
def test_a_perturbed_incident_is_still_found(name: str, kind: str, incident_days: dict[str, Day],
                                            data: st.DataObject, tmp_path_factory: pytest.TempPathFactory) -> None:
    day = incident_days[kind]
    keep = frozenset(i["vehicle_id"] for i in day.labels["incidents"])
    changed = PERTURBATIONS[name](day, data.draw, keep)
    alerts, _ = _replay(day, changed, tmp_path_factory.mktemp(f"i-{name}-{kind}"))
    assert _found(day, alerts, changed.delay_ms), (
        f"{name}: {kind} no longer found; the vehicle's alerts:\n"
        + _describe([a for a in alerts if a["vehicle_id"] == day.labels["incidents"][0]["vehicle_id"]]))


def _found(day: Day, alerts: list[dict[str, Any]], delays: dict[str, tuple[int, int]]) -> bool:
    """Every incident has an alert of one of its expected kinds inside its window (shifted by an inserted break)."""
    for incident in p.delay_labels(day.labels, delays)["incidents"]:
        vid = incident["vehicle_id"]
        start, end = parse_rfc3339_ms(incident["start"]), parse_rfc3339_ms(incident["end"])
        hits = [a for a in alerts if a["vehicle_id"] == vid and a["kind"] in incident["expected_alerts"]
                and start - GRACE_MS <= parse_rfc3339_ms(a["ts"]) <= end + GRACE_MS]
        if not hits:
            return False
    return True


def test_perturbations_change_what_they_say_and_nothing_else(normal_day: Day) -> None:
    """The functions themselves: cadence, dropped standing records, noise size, shifted plans, detours that
    rejoin, breaks that delay, bursts that arrive late."""
    track = max(normal_day.tracks.values(), key=len)
    sixty = p.resample(track, 60)
    gaps = [p.ts_ms(b) - p.ts_ms(a) for a, b in itertools.pairwise(sixty)]
    assert min(gaps) >= 60_000 and len(sixty) < len(track) / 30
    moving = p.drop_stationary(track)
    assert moving and all(p.speed_kmh(r) >= p.STANDING_KMH for r in moving)
    noisy = p.add_gnss_noise(track, random.Random(1), 20.0)
    errors = [haversine_m(a["lat"], a["lon"], b["lat"], b["lon"]) for a, b in zip(track, noisy, strict=True)
              if a.get("lat") is not None]
    mean = sum(errors) / len(errors)
    assert 15.0 < mean < 35.0  # the mean of a 2-D normal error's length is sigma * sqrt(pi / 2), about 25 m
    shifted = p.shift_plan(normal_day.trips, -30)
    before = normal_day.trips["features"][0]["properties"]["planned_start"]
    after = shifted["features"][0]["properties"]["planned_start"]
    assert parse_rfc3339_ms(before) - parse_rfc3339_ms(after) == 30 * 60_000
    first, last = p.moving_spans(track, 150)[0]
    detour = p.insert_detour(track, first, last, 400.0)
    middle = (first + last) // 2
    assert 390.0 < haversine_m(track[middle]["lat"], track[middle]["lon"],
                                 detour[middle]["lat"], detour[middle]["lon"]) < 410.0
    for k in (first, last):  # it leaves the route and rejoins it
        assert (detour[k]["lat"], detour[k]["lon"]) == pytest.approx((track[k]["lat"], track[k]["lon"]), abs=2e-6)
    paused = p.insert_break(track, middle, 30, period_s=60)
    assert p.ts_ms(paused[-1]) - p.ts_ms(track[-1]) == 30 * 60_000
    assert [r["seq"] for r in paused] == list(range(track[0]["seq"], track[0]["seq"] + len(paused)))
    standing = paused[middle + 1:middle + 30]
    assert all(r["ignition"] is False and r.get("wheel_speed_kmh") is None for r in standing)
    gap_start = p.ts_ms(track[middle])
    burst = p.store_and_forward(track, gap_start, 300)
    assert sorted(map(p.ts_ms, burst)) == sorted(map(p.ts_ms, track)) and burst != track
    late = [k for k, r in enumerate(burst) if k and p.ts_ms(r) < p.ts_ms(burst[k - 1])]
    assert late and p.ts_ms(burst[late[0] - 1]) >= gap_start + 300_000
    assert format_ms(p.ts_ms(track[0])) == track[0]["ts"]


def test_perturbed_bundles_are_written_in_arrival_order_with_their_labels_moved(normal_day: Day,
                                                                               tmp_path: Path) -> None:
    vid, track = max(normal_day.tracks.items(), key=lambda item: len(item[1]))
    gap_start = p.ts_ms(track[len(track) // 2])
    tracks = {**normal_day.tracks, vid: p.store_and_forward(track, gap_start, 300)}
    out = p.write_bundle(normal_day.path, tmp_path / "copy", tracks)
    lines = [orjson.loads(line) for line in (out / "telemetry.jsonl").read_bytes().splitlines()]
    assert len(lines) == sum(len(t) for t in tracks.values())
    assert [r for r in lines if r["vehicle_id"] == vid] == tracks[vid]  # the burst arrives as a burst
    assert p.read_tracks(out) == {v: sorted(t, key=p.ts_ms) for v, t in tracks.items()}
    case = normal_day.labels["hard_cases"][-1]
    since = parse_rfc3339_ms(case["start"]) - 1
    moved = p.delay_labels(normal_day.labels, {case["vehicle_id"]: (since, 600_000)})["hard_cases"][-1]
    assert parse_rfc3339_ms(moved["start"]) - parse_rfc3339_ms(case["start"]) == 600_000
    assert normal_day.labels["hard_cases"][-1] == case  # the original is left alone
