"""The steps a simulated vehicle's day is made of: drive a path, wait, change a switch, mark a label time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from can_sim.scenarios.kinematics import DriveStyle


@dataclass(frozen=True, slots=True)
class Drive:
    """Drive along graph nodes; re-routed from wherever the vehicle is if it is not at the first node."""

    path: tuple[int, ...]
    purpose: str = "trip"
    """"trip" (haulier), "hire" (rental), "script" (an incident's own driving)."""
    destination: str | None = None
    """What the last node is: "customer", "depot", "station", "zone" or None (somewhere on the road)."""
    style: DriveStyle | None = None
    detour: tuple[int, int] | None = None
    """Path indices where a legitimate detour leaves and rejoins the planned route."""
    zone_delivery: str | None = None
    """A delivery stop inside this zone: done only inside the zone's delivery window, else from its entrance."""
    planned_departure: int | None = None
    tail: tuple[tuple[float, float], ...] = ()
    """Off-road points after the last node (an attack run into a zone)."""
    target_zone: str | None = None
    crash: bool = False
    fast_from: int | None = None
    """Path index from which the driver floors it, ignoring lights (an attack run-up)."""


@dataclass(frozen=True, slots=True)
class Wait:
    """Stay put until a time (epoch s), at least `minimum` seconds; or for `seconds`."""

    until: int | None = None
    seconds: int = 0
    minimum: int = 0
    place: str | None = None


@dataclass(frozen=True, slots=True)
class Set:
    """Change switches and inputs at once; the device reports the change straight away."""

    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Mark:
    """Note the current time under a name, for the labels (incident start, a driver swap's end, ...)."""

    name: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Shunt:
    """Move about the yard off the road network: to each (dx, dy) offset in metres from where the vehicle stands,
    in turn, at this speed, then back to where it started."""

    legs: tuple[tuple[float, float], ...]
    speed_mps: float = 2.0


Activity = Drive | Wait | Set | Mark | Shunt


def stop_sequence(depart_at: int, min_dwell_s: int, cargo: bool) -> list[Activity]:
    """Arrive, park, open up, load or unload, close, and leave no earlier than planned."""
    steps: list[Activity] = [
        Set({"parking_brake": True}), Wait(seconds=8), Set({"ignition": False}), Wait(seconds=6),
        Set({"cab_door_open": True}), Wait(seconds=4), Set({"cab_door_open": False}), Wait(seconds=40),
    ]
    if cargo:
        steps += [Set({"cargo_door_open": True}), Wait(until=depart_at - 120, minimum=max(60, min_dwell_s - 180)),
                  Set({"cargo_door_open": False}), Wait(seconds=45)]
    else:
        steps += [Wait(until=depart_at - 75, minimum=max(60, min_dwell_s - 140))]
    steps += [
        Set({"cab_door_open": True}), Wait(seconds=3), Set({"cab_door_open": False}), Wait(seconds=15),
        Set({"ignition": True}), Wait(seconds=25), Set({"parking_brake": False}),
    ]
    return steps


def depart_sequence(card: str | None, warm_up_s: int) -> list[Activity]:
    """Get in, insert the card, start the engine, release the brake."""
    steps: list[Activity] = [Set({"cab_door_open": True}), Wait(seconds=5), Set({"cab_door_open": False}),
                             Wait(seconds=20)]
    if card is not None:
        steps += [Set({"driver_card_id": card}), Wait(seconds=15)]
    return [*steps, Set({"ignition": True}), Wait(seconds=warm_up_s), Set({"parking_brake": False})]


def park_sequence(remove_card: bool) -> list[Activity]:
    """Set the brake, stop the engine, take the card, get out."""
    steps: list[Activity] = [Set({"parking_brake": True}), Wait(seconds=10), Set({"ignition": False}), Wait(seconds=10)]
    if remove_card:
        steps += [Set({"driver_card_id": None}), Wait(seconds=10)]
    return [*steps, Set({"cab_door_open": True}), Wait(seconds=4), Set({"cab_door_open": False})]
