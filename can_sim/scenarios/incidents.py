"""The incident types: how each unfolds on the vehicle (its script), where it can happen, what it should raise."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from can_sim.scenarios.activities import Activity, Drive, Mark, Set, Wait, depart_sequence, park_sequence
from can_sim.scenarios.fleets import VehicleSpec, unknown_card
from can_sim.scenarios.kinematics import DriveStyle
from can_sim.scenarios.labels import IncidentLabel
from can_sim.scenarios.plans import VehiclePlan
from can_sim.scenarios.runner import Script, Takeover, VehicleRun, operating_at
from telematics.errors import BadInput

RAMMING_ALERTS = ("ramming_risk", "protected_zone_intrusion", "speed_in_zone")
TOW_STYLE = DriveStyle(speed_factor=0.8, vmax_mps=45 / 3.6, accel_mps2=0.5, decel_mps2=1.0, lateral_mps2=1.2, jam_p=0.0)


class IncidentError(BadInput):
    """An incident request cannot be met: unknown type, unknown or unsuitable vehicle, or no room in the window."""


@dataclass(frozen=True)
class IncidentSpec:
    """A request for one incident; leave vehicle_id and at empty to let the generator choose."""

    type: str
    vehicle_id: str | None = None
    at: datetime | None = None
    """The earliest moment the incident may begin (it begins at the vehicle's next chance)."""
    zone_id: str | None = None
    ends_in_ramming: bool = False
    quick: bool = False
    in_working_hours: bool = False
    """A theft from the depot ("night") may happen while the fleet's hours run (every truck back before the end of
    the day); by default it waits for the hours to end."""


@dataclass(frozen=True)
class IncidentKind:
    name: str
    trigger: str
    fleet_kinds: tuple[str, ...]
    needs_s: int
    expected_alerts: tuple[str, ...]
    stop_request_expected: bool
    script: Script
    resumable: bool = False
    ramming: bool = False
    needs_trailer: bool = False


# ----------------------------------------------------------------------------- scripts


def _pause(run: VehicleRun, takeover: Takeover, low: int, high: int) -> Wait:
    if takeover.options.get("quick"):
        low, high = max(5, low // 4), max(10, high // 4)
    return Wait(seconds=run.rng.randint(low, high))


def _driver_leaves(run: VehicleRun, takeover: Takeover) -> Iterator[Activity]:
    """If the driver is still with the vehicle (just arrived at a stop), they park, take the card and walk off."""
    if run.st.ignition or run.st.driver_card_id is not None:
        yield from park_sequence(remove_card=True)
        yield _pause(run, takeover, 90, 300)


def _ram(run: VehicleRun, takeover: Takeover, kinds: tuple[str, ...]) -> Iterator[Activity]:
    """Drive to a zone's run-up and into the zone at speed, until stopped inside."""
    label = takeover.label
    zone = run.attack_zone(kinds, takeover.options.get("zone_id"))
    label.zone_id = zone.zone_id
    label.stop_request_before_entry = True
    for kind in RAMMING_ALERTS:
        if kind not in label.expected_alerts:
            label.expected_alerts.append(kind)
    yield run.attack_drive(zone)
    yield Mark("stopped_in_zone")
    yield _pause(run, takeover, 10, 40)
    yield Set({"ignition": False})
    yield Wait(seconds=3)
    yield Set({"cab_door_open": True})


def _escape(run: VehicleRun, style: DriveStyle | None = None, low: float = 4000,
            high: float = 9000) -> Iterator[Activity]:
    if run.st.node is None:
        return
    destination = run.far_node(low, high)
    yield Drive(run.net.route(run.st.node, destination), "script", None, style=style)


def _hijack_ramming(run: VehicleRun, takeover: Takeover) -> Iterator[Activity]:
    yield Mark("start")
    yield Set({"parking_brake": True})
    yield _pause(run, takeover, 20, 60)
    yield Set({"cab_door_open": True})
    yield Wait(seconds=6)
    yield Set({"driver_card_id": None})
    yield _pause(run, takeover, 15, 40)
    yield Set({"cab_door_open": False})
    yield _pause(run, takeover, 60, 240)
    yield Set({"parking_brake": False})
    yield from _ram(run, takeover, ("market", "event", "public_square", "pedestrian_precinct"))


def _theft_at_stop_ramming(run: VehicleRun, takeover: Takeover) -> Iterator[Activity]:
    yield from _driver_leaves(run, takeover)
    yield Mark("start")
    yield Set({"cab_door_open": True})
    yield Wait(seconds=3)
    yield Set({"cab_door_open": False})
    yield Wait(seconds=8)
    yield Set({"ignition": True})
    yield Wait(seconds=10)
    yield Set({"parking_brake": False})
    yield from _ram(run, takeover, ("pedestrian_precinct", "market", "public_square"))


def _rental_ramming(run: VehicleRun, takeover: Takeover) -> Iterator[Activity]:
    st = run.st
    if st.ignition:
        yield from park_sequence(remove_card=False)
    zone = run.attack_zone(("pedestrian_precinct", "public_square", "market", "event"), takeover.options.get("zone_id"))
    takeover.options["zone_id"] = zone.zone_id
    yield from depart_sequence(None, 30)
    if st.node is not None and not takeover.options.get("quick"):
        staging = run.far_node(700, 2000, around=zone.approach[0])
        yield Drive(run.net.route(st.node, staging), "script", None)
        yield from park_sequence(remove_card=False)
        yield _pause(run, takeover, 120, 600)
        yield from depart_sequence(None, 20)
    yield Mark("start")
    yield from _ram(run, takeover, (zone.kind,))


def _night_theft(run: VehicleRun, takeover: Takeover) -> Iterator[Activity]:
    label = takeover.label
    yield Mark("start")
    yield Set({"cab_door_open": True})
    yield Wait(seconds=4)
    yield Set({"cab_door_open": False})
    yield _pause(run, takeover, 20, 90)
    if run.rng.random() < 0.5 and run.spec.device.reports_card:
        card = unknown_card(run.spec.fleet.city, run.rng)
        label.details["card"] = {"kind": "unknown", "driver_card_id": card}
        yield Set({"driver_card_id": card})
        yield Wait(seconds=10)
    else:
        label.details["card"] = {"kind": "none"}
    yield Set({"ignition": True})
    yield _pause(run, takeover, 20, 60)
    yield Set({"parking_brake": False})
    if takeover.options.get("ends_in_ramming"):
        yield from _ram(run, takeover, ("market", "event", "public_square", "pedestrian_precinct"))
        return
    yield from _escape(run)
    yield from park_sequence(remove_card=False)


def _towing(run: VehicleRun, takeover: Takeover) -> Iterator[Activity]:
    yield from _driver_leaves(run, takeover)
    yield Mark("start")
    yield _pause(run, takeover, 60, 240)
    yield Set({"parking_brake": False})
    yield from _escape(run, TOW_STYLE, 2000, 6000)
    yield Set({"parking_brake": True})


def _jamming(run: VehicleRun, takeover: Takeover) -> Iterator[Activity]:
    yield from _driver_leaves(run, takeover)
    yield Mark("start")
    yield Set({"jammer": True})
    yield _pause(run, takeover, 30, 120)
    yield Set({"cab_door_open": True})
    yield Wait(seconds=4)
    yield Set({"cab_door_open": False})
    yield Wait(seconds=15)
    yield Set({"ignition": True})
    yield Wait(seconds=20)
    yield Set({"parking_brake": False})
    yield from _escape(run, None, 3000, 8000)
    yield from park_sequence(remove_card=False)


def _tamper_offline(run: VehicleRun, takeover: Takeover) -> Iterator[Activity]:
    yield Mark("start")
    backup = run.rng.randint(30, 120)
    takeover.label.details["backup_battery_s"] = backup
    yield Set({"power_cut": True, "silent_in": backup})
    yield from _escape(run)
    yield from park_sequence(remove_card=False)


def _cargo_theft(run: VehicleRun, takeover: Takeover) -> Iterator[Activity]:
    yield Mark("start")
    yield from park_sequence(remove_card=False)
    yield _pause(run, takeover, 30, 120)
    yield Set({"cargo_door_open": True})
    yield _pause(run, takeover, 300, 900)
    yield Set({"cargo_door_open": False})
    yield Wait(seconds=30)
    yield from depart_sequence(None, 20)
    yield Mark("end")


def _trailer_theft(run: VehicleRun, takeover: Takeover) -> Iterator[Activity]:
    yield Mark("start")
    yield from park_sequence(remove_card=False)
    yield _pause(run, takeover, 120, 360)
    yield Set({"trailer_connected": False})
    yield _pause(run, takeover, 300, 900)
    yield from depart_sequence(None, 20)
    yield Mark("end")


def _panic(run: VehicleRun, takeover: Takeover) -> Iterator[Activity]:
    yield Mark("start")
    yield Set({"parking_brake": True})
    yield _pause(run, takeover, 10, 40)
    yield Set({"panic": True})
    yield Wait(seconds=2)
    yield Set({"panic": False})
    yield _pause(run, takeover, 300, 720)
    yield Set({"parking_brake": False})
    yield Mark("end")


HAULIER = ("haulier",)
ANY_FLEET = ("haulier", "rental")
KINDS: dict[str, IncidentKind] = {k.name: k for k in (
    IncidentKind("hijack_ramming", "drive_stop", HAULIER, 2400,
                 ("unscheduled_stop", "unauthorized_driver", "route_deviation", "hijack_suspected", *RAMMING_ALERTS),
                 True, _hijack_ramming, ramming=True),
    IncidentKind("theft_at_stop_ramming", "stop", HAULIER, 2700,
                 ("unauthorized_driver", "route_deviation", "hijack_suspected", *RAMMING_ALERTS),
                 True, _theft_at_stop_ramming, ramming=True),
    IncidentKind("rental_ramming", "rental", ("rental",), 2700, RAMMING_ALERTS, True, _rental_ramming, ramming=True),
    IncidentKind("night_theft", "night", HAULIER, 1800, ("off_hours_use", "unauthorized_driver", "hijack_suspected"),
                 True, _night_theft),
    IncidentKind("towing", "unattended", ANY_FLEET, 1800, ("towing",), False, _towing),
    IncidentKind("jamming", "unattended", ANY_FLEET, 1800, ("gnss_jamming", "unauthorized_driver"), True, _jamming),
    IncidentKind("tamper_offline", "drive_on", ANY_FLEET, 1200, ("power_cut", "telematics_offline"), False,
                 _tamper_offline),
    IncidentKind("cargo_theft", "drive_stop", HAULIER, 2100, ("unscheduled_stop", "cargo_door_open"), False,
                 _cargo_theft, resumable=True),
    IncidentKind("trailer_theft", "drive_stop", HAULIER, 2700, ("unscheduled_stop", "trailer_uncoupled"), False,
                 _trailer_theft, resumable=True, needs_trailer=True),
    IncidentKind("panic", "drive_stop", HAULIER, 1500, ("unscheduled_stop", "panic"), False, _panic, resumable=True),
)}
INCIDENT_TYPES: tuple[str, ...] = tuple(KINDS)


# ----------------------------------------------------------------------------- placement


def default_incident_count(vehicles: int, days: float) -> int:
    """One incident per three vehicles at most, and about ten per hundred vehicle-days."""
    return max(1, min(max(1, vehicles // 3), len(INCIDENT_TYPES) * max(1, round(vehicles * days / 100))))


def normalise_requests(incidents: int | list[str | IncidentSpec] | tuple[str | IncidentSpec, ...] | None,
                       vehicles: int, days: float, rng: random.Random) -> tuple[list[IncidentSpec], int | None]:
    """Requested incidents as specs, and how many to place when they are optional (a default or a count).

    A count takes the types in turn from a first type that depends on the seed, passing over a type that
    cannot happen in the window for the next one; an explicit list must be met in full (limit None).
    """
    if incidents is None:
        incidents = default_incident_count(vehicles, days)
    if isinstance(incidents, bool) or not isinstance(incidents, int | list | tuple):
        raise IncidentError(f"incidents: got {incidents!r}, expected None, a count, or a list of types or IncidentSpec")
    if isinstance(incidents, int):
        if incidents < 0:
            raise IncidentError(f"incidents: got {incidents}, expected a count of 0 or more")
        first = rng.randrange(len(INCIDENT_TYPES))
        cycle = [IncidentSpec(INCIDENT_TYPES[(first + n) % len(INCIDENT_TYPES)])
                 for n in range(incidents + len(INCIDENT_TYPES) - 1)]
        return (cycle if incidents else []), incidents
    specs = [item if isinstance(item, IncidentSpec) else IncidentSpec(item) for item in incidents]
    for spec in specs:
        if spec.type not in KINDS:
            raise IncidentError(f"incidents: unknown type {spec.type!r}, expected one of {', '.join(INCIDENT_TYPES)}")
    return specs, None


def place_incidents(requests: list[IncidentSpec], limit: int | None, vehicles: list[VehicleSpec],
                    plans: dict[str, VehiclePlan], window: tuple[int, int], rng: random.Random,
                    spare: frozenset[str] = frozenset()) -> tuple[dict[str, Takeover], list[str]]:
    """Give each requested incident a vehicle and an earliest time; at most one incident per vehicle.

    With a limit, requests that cannot be met are passed over (and listed) until `limit` are placed.
    Vehicles in `spare` (those showing the hard cases) are chosen only when no other vehicle can do.
    """
    takeovers: dict[str, Takeover] = {}
    skipped: list[str] = []
    by_id = {v.vehicle_id: v for v in vehicles}
    for number, request in enumerate(requests, start=1):
        if limit is not None and len(takeovers) >= limit:
            break
        kind = KINDS[request.type]
        if request.vehicle_id is not None and request.vehicle_id not in by_id:
            raise IncidentError(f"incidents[{number - 1}].vehicle_id: {request.vehicle_id!r} "
                                "is not a generated vehicle")
        pool = [by_id[request.vehicle_id]] if request.vehicle_id else list(vehicles)
        pool = [v for v in pool if v.vehicle_id not in takeovers and _suits(kind, v)]
        rng.shuffle(pool)
        # A quick (demo) incident goes to a unit that reports often, so its alerts come within the demo's minutes;
        # otherwise incidents land on every device profile, as they do in real fleets.
        pool.sort(key=lambda v: (v.vehicle_id in spare, request.quick and v.device.sparse))
        placed = None
        for vehicle in pool:
            at = _earliest(request, kind, vehicle, plans[vehicle.vehicle_id], window, rng)
            if at is not None:
                placed = (vehicle, at)
                break
        if placed is None:
            if limit is not None:
                skipped.append(request.type)
                continue
            raise IncidentError(f"incidents[{number - 1}]: no vehicle can have a {request.type!r} within the window "
                                f"(needs a {'/'.join(kind.fleet_kinds)} vehicle and {kind.needs_s // 60} min)")
        vehicle, at = placed
        label = IncidentLabel(f"inc-{len(takeovers) + 1:03d}", kind.name, vehicle.vehicle_id, vehicle.fleet.fleet_id,
                              list(kind.expected_alerts), kind.stop_request_expected)
        _adjust_expectations(label, vehicle, at)
        options = {"zone_id": request.zone_id, "quick": request.quick, "ends_in_ramming": request.ends_in_ramming,
                   "in_working_hours": request.in_working_hours}
        takeovers[vehicle.vehicle_id] = Takeover(kind.trigger, at, kind.script, label, kind.resumable, options)
    return takeovers, skipped


def _suits(kind: IncidentKind, vehicle: VehicleSpec) -> bool:
    return vehicle.fleet.kind in kind.fleet_kinds and (vehicle.has_trailer or not kind.needs_trailer)


def _adjust_expectations(label: IncidentLabel, vehicle: VehicleSpec, at: int) -> None:
    if not vehicle.device.reports_card and "unauthorized_driver" in label.expected_alerts:
        label.expected_alerts.remove("unauthorized_driver")
    off_hours = vehicle.fleet.kind == "haulier" and not operating_at(vehicle, at)
    if off_hours and "off_hours_use" not in label.expected_alerts:
        label.expected_alerts.append("off_hours_use")


def _earliest(request: IncidentSpec, kind: IncidentKind, vehicle: VehicleSpec, plan: VehiclePlan,
              window: tuple[int, int], rng: random.Random) -> int | None:
    start, end = window
    if request.at is not None:
        if request.at.tzinfo is None or request.at.utcoffset() is None:
            raise IncidentError(f"incidents: at {request.at.isoformat()} has no time zone, expected an aware datetime")
        at = int(request.at.timestamp())
        if not start <= at < end:
            raise IncidentError(f"incidents: at {request.at.isoformat()} is outside the bundle window")
        return at
    lead = min(900, (end - start) // 7)
    lo, hi = start + lead, end - kind.needs_s
    candidates = [t for a, b in _spans(kind, vehicle, plan, start, end) for t in range(max(a, lo), min(b, hi) + 1, 60)]
    if kind.trigger == "night":
        candidates = [t for t in candidates if not operating_at(vehicle, t) and not operating_at(vehicle, t + 1800)]
    return rng.choice(candidates) if candidates else None


def _spans(kind: IncidentKind, vehicle: VehicleSpec, plan: VehiclePlan, start: int, end: int) -> list[tuple[int, int]]:
    """Times at which the incident's trigger can plausibly come soon, from the plan's estimates."""
    trigger = kind.trigger
    if trigger == "rental":
        return [(start, end)]
    out = []
    for name, a, b in plan.spans:
        if name in ("trip", "hire") and trigger in ("drive_stop", "drive_on", "stop", "unattended"):
            out.append((a + 300, b - (2400 if trigger in ("stop", "unattended") else 1200)))
        elif name in ("depot", "station") and trigger in ("unattended", "night"):
            out.append((a + 600, b - 600))
    return out
