"""One simulated J1939 truck with its zone guard near a protected zone, written as a replayable bundle.

Five scenarios, all an N3 truck (an articulated lorry) near a pedestrian zone it may not enter, with no backend
link once its signed zone set has arrived:

- ``zone-approach``: straight into the zone at 50 km/h; the guard brings it to the boundary at a crawl.
- ``zone-pass-by``: on a road alongside the zone at 50 km/h; never slowed.
- ``gnss-jammed-approach``: GNSS lost 200 m before the zone; the guard holds the city limit until a fix returns.
- ``aebs-off-approach``: the driver switches emergency braking off 30 s before the truck heads into the zone.
- ``delivery-window``: a permitted delivery, inside its window, slowing to walking pace by itself to enter.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from can_sim.truck.clock import DEFAULT_START, SimulatedClock
from can_sim.truck.command_receiver import RemoteStopTruck
from can_sim.truck.ecus import standard_ecus
from can_sim.truck.state import VehicleState
from can_sim.truck.timeline import DrivenTimeline
from can_sim.truck.zone_guard import ZoneGuard
from telematics.bundle import CAN_FILE, FLEET_FILE, TELEMETRY_FILE, TRIPS_FILE, ZONES_FILE
from telematics.canlog import frames_to_batch
from telematics.commands import key_id_of
from telematics.errors import BadInput
from telematics.geo import LocalFrame
from telematics.zone_sets import sign_zone_set

ORIGIN = (52.5130, 13.4150)
"""Where the simulated street grid is laid out (Berlin-Mitte; the streets are ours, not the city's)."""
VEHICLE_ID = "SIM-N3-1"
FLEET_ID = "sim-haulier"
ZONE_ID = "sim-pedestrian-zone"
ZONE_SOUTH_M = 600.0
"""The zone's southern edge, north of the truck's start: 43 s at 50 km/h."""
ZONE_HALF_WIDTH_M = 75.0
ZONE_DEPTH_M = 150.0
ZONE_MAX_SPEED_KMH = 20.0
"""The speed this scenario's zone allows a permitted delivery (our choice; pedestrian zones ask for walking pace)."""
CRUISE_KMH = 50.0
"""The urban speed limit in Germany (StVO §3)."""
PASS_BY_OFFSET_M = 25.0
"""The road alongside runs this far east of the zone's edge: a kerb, a pavement and a row of parking."""
RUN_UP_START_M = 150.0
"""Where the truck starts, south of the zone: 450 m of run-up, half a minute at 50 km/h."""
BATCH_S = 1.0


class ScenarioError(BadInput):
    """An unknown scenario name."""


@dataclass(frozen=True, slots=True)
class ZoneScenario:
    name: str
    summary: str
    duration_s: float
    build: Callable[[random.Random], tuple[VehicleState, list[tuple[float, dict[str, Any]]], bool]]
    """Initial state, timed changes, and whether the truck may enter (a delivery inside its window)."""


def _frame() -> LocalFrame:
    return LocalFrame(*ORIGIN)


def _start(x: float, y: float, speed_kmh: float, heading_deg: float = 0.0) -> VehicleState:
    lat, lon = _frame().to_latlon(x, y)
    return VehicleState(lat=lat, lon=lon, speed_kmh=speed_kmh, heading_deg=heading_deg, ignition=True,
                        parking_brake=False, driver_card_id="DE1000000000001", odometer_km=182_400.0)


def _approach(rng: random.Random) -> tuple[VehicleState, list[tuple[float, dict[str, Any]]], bool]:
    return _start(rng.uniform(-20, 20), RUN_UP_START_M, CRUISE_KMH + rng.uniform(-2, 2)), [], False


def _pass_by(rng: random.Random) -> tuple[VehicleState, list[tuple[float, dict[str, Any]]], bool]:
    x = ZONE_HALF_WIDTH_M + PASS_BY_OFFSET_M + rng.uniform(-3, 8)
    return _start(x, RUN_UP_START_M, CRUISE_KMH + rng.uniform(-2, 2)), [], False


def _jammed(rng: random.Random) -> tuple[VehicleState, list[tuple[float, dict[str, Any]]], bool]:
    state, _, _ = _approach(rng)
    # 18 s at 50 km/h is 250 m: the jammer starts 200 m before the zone, and the fix returns 15 s later
    return state, [(18.0, {"gnss_fix": False}), (33.0, {"gnss_fix": True})], False


def _aebs_off(rng: random.Random) -> tuple[VehicleState, list[tuple[float, dict[str, Any]]], bool]:
    state = _start(rng.uniform(-20, 20), 0.0, CRUISE_KMH + rng.uniform(-2, 2))
    # the truck reaches the zone's run-up about 43 s in; the driver switches emergency braking off 30 s before
    return state, [(13.0, {"aebs": "off"})], False


def _delivery(rng: random.Random) -> tuple[VehicleState, list[tuple[float, dict[str, Any]]], bool]:
    state = _start(rng.uniform(-10, 10), RUN_UP_START_M, 30.0)
    # at 30 km/h the driver brakes 50 m before the zone (550 m, 48 s in) to 7 km/h, walking pace
    return state, [(48.0, {"speed_kmh": 18.0, "brake_pedal": True}), (50.0, {"speed_kmh": 7.0}),
                   (52.0, {"brake_pedal": False})], True


SCENARIOS: dict[str, ZoneScenario] = {
    s.name: s for s in (
        ZoneScenario("zone-approach", "an N3 truck at 50 km/h straight into a pedestrian zone it may not enter",
                     48.0, _approach),
        ZoneScenario("zone-pass-by", "the same truck on a road alongside the zone at 50 km/h", 48.0, _pass_by),
        ZoneScenario("gnss-jammed-approach", "the approach with GNSS jammed 200 m before the zone for 15 s",
                     55.0, _jammed),
        ZoneScenario("aebs-off-approach", "emergency braking switched off 30 s before the truck heads into the zone",
                     75.0, _aebs_off),
        ZoneScenario("delivery-window", "a permitted delivery entering at walking pace inside its window",
                     80.0, _delivery),
    )
}


def zones_document(delivery_allowed: bool) -> dict[str, Any]:
    """The one protected zone, as zones.geojson (always active; N3 deliveries only in the delivery scenario)."""
    frame = _frame()
    corners = [(-ZONE_HALF_WIDTH_M, ZONE_SOUTH_M), (ZONE_HALF_WIDTH_M, ZONE_SOUTH_M),
               (ZONE_HALF_WIDTH_M, ZONE_SOUTH_M + ZONE_DEPTH_M), (-ZONE_HALF_WIDTH_M, ZONE_SOUTH_M + ZONE_DEPTH_M)]
    ring = [[round(lon, 7), round(lat, 7)] for lat, lon in (frame.to_latlon(x, y) for x, y in corners)]
    ring.append(ring[0])
    access: dict[str, Any] = {"categories_allowed": ["N1", "N2", "N3"] if delivery_allowed else ["N1"],
                              "max_speed_kmh": ZONE_MAX_SPEED_KMH}
    if delivery_allowed:
        access["delivery_windows"] = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat"], "from": "06:00",
                                       "to": "11:00"}]
    properties = {"zone_id": ZONE_ID, "name": "Simulated pedestrian zone", "kind": "pedestrian_zone",
                  "timezone": "Europe/Berlin", "access": access}
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": properties}]}


def fleet_document() -> dict[str, Any]:
    return {"fleets": [{"fleet_id": FLEET_ID, "name": "Simulated haulier", "kind": "haulier",
                        "timezone": "Europe/Berlin"}],
            "vehicles": [{"vehicle_id": VEHICLE_ID, "fleet_id": FLEET_ID, "category": "N3",
                          "authorized_driver_cards": ["DE1000000000001"]}],
            "sites": []}


@dataclass(slots=True)
class ScenarioRun:
    """What one run produced, besides the bundle files."""

    truck: RemoteStopTruck
    records: list[dict[str, Any]]
    guard: ZoneGuard


def run_scenario(name: str, seed: int = 0, start: float = DEFAULT_START) -> ScenarioRun:
    """Drive the truck through one scenario on a simulated clock (deterministic for a name and seed)."""
    scenario = SCENARIOS.get(name)
    if scenario is None:
        raise ScenarioError(f"scenario: got {name!r}, expected one of {', '.join(SCENARIOS)}")
    rng = random.Random(f"{name}/{seed}")
    initial, changes, allowed = scenario.build(rng)
    # the platform's key for this run only, from the seed: the same bundle bytes every time
    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"truckguard-sim-key/{seed}".encode()).digest())
    nonce = hashlib.sha256(f"{name}/{seed}/zone-set".encode()).hexdigest()[:32]
    signed = sign_zone_set(VEHICLE_ID, "N3", zones_document(allowed), key,
                           now=datetime.fromtimestamp(start - 60, UTC), nonce=nonce)
    guard = ZoneGuard()
    truck = RemoteStopTruck(DrivenTimeline(initial, changes), {key_id_of(key.public_key()): key.public_key()},
                            vehicle_id=VEHICLE_ID, clock=SimulatedClock(start), zone_guard=guard,
                            ecus=standard_ecus(position_period_s=1.0, safety_systems=True))
    with truck:
        truck.deliver(signed.encode(), at=start)
        truck.run(scenario.duration_s)
    return ScenarioRun(truck, truck.records, guard)


def write_scenario_bundle(name: str, out: Path, seed: int = 0) -> ScenarioRun:
    """Run one scenario and write its bundle: fleet.json, trips.geojson, zones.geojson, telemetry.jsonl, can.jsonl."""
    run = run_scenario(name, seed)
    scenario_allowed = name == "delivery-window"
    out.mkdir(parents=True, exist_ok=True)
    option = orjson.OPT_INDENT_2
    (out / FLEET_FILE).write_bytes(orjson.dumps(fleet_document(), option=option) + b"\n")
    (out / TRIPS_FILE).write_bytes(orjson.dumps({"type": "FeatureCollection", "features": []}, option=option) + b"\n")
    (out / ZONES_FILE).write_bytes(orjson.dumps(zones_document(scenario_allowed), option=option) + b"\n")
    with open(out / TELEMETRY_FILE, "wb") as telemetry:
        for record in run.records:
            telemetry.write(orjson.dumps(record) + b"\n")
    with open(out / CAN_FILE, "wb") as can_out:
        frames = run.truck.frames
        batch: list[Any] = []
        for frame in frames:
            if batch and frame.timestamp - batch[0].timestamp >= BATCH_S:
                can_out.write(orjson.dumps(frames_to_batch(VEHICLE_ID, batch)) + b"\n")
                batch = []
            batch.append(frame)
        if batch:
            can_out.write(orjson.dumps(frames_to_batch(VEHICLE_ID, batch)) + b"\n")
    return run
