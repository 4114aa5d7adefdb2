"""The alert kinds of contract section 3 and every fact the platform keeps about each kind, in one table.

Detection, stop policy, fusion, evaluation and the web site read these facts from here; a new alert kind is one
row (and its detector). The contract's enumeration is ``ALERT_KINDS``, in the contract's order (a test holds it to
the shared schema).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FusionWeight:
    """How much an open alert of a kind adds to the hijack fusion score, and the group it counts in.

    Fusion needs signals of at least two groups: two route signals alone are a driver's detour, not a hijack.
    """

    group: str
    warning: float
    critical: float


@dataclass(frozen=True, slots=True)
class AlertKind:
    """One alert kind and what the platform knows about it."""

    kind: str
    label: str
    """How a dispatcher reads it."""
    concerns_zone: bool = False
    """Raised about a protected zone (carries its zone_id); critical, it can trigger a controlled stop."""
    control_loss: bool = False
    """Open, it says the vehicle may be out of its operator's control: the stop policy names it as corroboration,
    and a zone alert becomes a stop request only beside such a signal (or at attack speed inside)."""
    other_driver: bool = False
    """Open, it says someone other than the operator's driver may be at the wheel right now: the ramming detector
    reads an approach to a zone as more likely intended. Narrower than ``control_loss``: hijack fusion remembers its
    signals long after a driver has resumed the trip, and a panic alarm stays open while its driver drives on."""
    fusion: FusionWeight | None = None
    """Its weight as evidence for ``hijack_suspected``; None: fusion does not read it."""
    early_ramming: bool = False
    """Raised before a vehicle reaches a zone it is driven at: evaluation counts it as a ramming flagged early."""
    carried: bool = False
    """Open, the vehicle is moved without its own engine (towed, loaded onto another vehicle): fusion counts it as
    under way, and a stop request asks that the engine not restart, since a speed limit means nothing to it."""
    stops_on_its_own: bool = False
    """Critical, it justifies a stop request with no zone in sight: the engine kept from restarting when the vehicle
    stands, a gradual speed limit when it moves, a controlled stop near a zone (anomaly/stop_policy.py)."""
    urgent: bool = False
    """Open, the vehicle's records are processed as they arrive, never held for the lateness horizon: every second
    of a ramming, a hijack or a panic counts (anomaly/engine.py)."""


KINDS: tuple[AlertKind, ...] = (
    AlertKind("route_deviation", "Route deviation", control_loss=True, other_driver=True,
              fusion=FusionWeight("route", 0.4, 0.6)),
    AlertKind("unscheduled_stop", "Unscheduled stop", fusion=FusionWeight("route", 0.3, 0.4)),
    AlertKind("unauthorized_driver", "Unauthorised driver", control_loss=True, other_driver=True,
              fusion=FusionWeight("driver", 0.4, 0.55)),
    AlertKind("off_hours_use", "Off-hours use", control_loss=True, other_driver=True,
              fusion=FusionWeight("driver", 0.3, 0.45)),
    AlertKind("towing", "Towing", control_loss=True, other_driver=True, fusion=FusionWeight("tamper", 0.55, 0.6),
              carried=True),
    AlertKind("cargo_door_open", "Cargo door open", fusion=FusionWeight("cargo", 0.3, 0.45)),
    AlertKind("trailer_uncoupled", "Trailer uncoupled", fusion=FusionWeight("cargo", 0.35, 0.45)),
    AlertKind("gnss_jamming", "GNSS jamming", control_loss=True, other_driver=True,
              fusion=FusionWeight("tamper", 0.4, 0.55)),
    AlertKind("telematics_offline", "Telematics offline", control_loss=True, other_driver=True,
              fusion=FusionWeight("tamper", 0.35, 0.45)),
    AlertKind("power_cut", "Power cut", control_loss=True, other_driver=True,
              fusion=FusionWeight("tamper", 0.35, 0.5)),
    AlertKind("panic", "Panic button", control_loss=True, fusion=FusionWeight("driver", 0.7, 0.7), urgent=True),
    AlertKind("protected_zone_intrusion", "Protected zone intrusion", concerns_zone=True,
              fusion=FusionWeight("zone", 0.35, 0.5)),
    AlertKind("speed_in_zone", "Speeding in a protected zone", concerns_zone=True,
              fusion=FusionWeight("zone", 0.15, 0.3)),
    AlertKind("ramming_risk", "Ramming risk", concerns_zone=True, fusion=FusionWeight("zone", 0.45, 0.6),
              early_ramming=True, urgent=True),
    # CAN alerts come from the CAN intrusion detector, outside the per-record engine: they do not reach a
    # vehicle's open alerts, so neither fusion nor the stop policy can read them (yet); listing them there would be
    # a promise the code does not keep.
    AlertKind("can_intrusion", "CAN bus intrusion"),
    AlertKind("behaviour_anomaly", "Behaviour anomaly", other_driver=True,
              fusion=FusionWeight("behaviour", 0.25, 0.35)),
    AlertKind("hijack_suspected", "Hijack suspected", control_loss=True, early_ramming=True, stops_on_its_own=True,
              urgent=True),
    # Emergency braking or stability control switched off: a group of its own (neither who drives nor where),
    # weighed as strongly as a ramming risk (anomaly/detectors/safety_systems.py).
    AlertKind("safety_system_disabled", "Safety system disabled", fusion=FusionWeight("intent", 0.45, 0.6),
              urgent=True),
)

BY_KIND: dict[str, AlertKind] = {k.kind: k for k in KINDS}
ALERT_KINDS: tuple[str, ...] = tuple(k.kind for k in KINDS)
"""The contract's enumeration of alert kinds, in its order."""

ZONE_KINDS: frozenset[str] = frozenset(k.kind for k in KINDS if k.concerns_zone)
APPROACH_KINDS: frozenset[str] = frozenset(k.kind for k in KINDS if k.concerns_zone and k.early_ramming)
"""Zone kinds raised before the vehicle is inside (the others say it is in the zone)."""
STOPS_ON_ITS_OWN_KINDS: frozenset[str] = frozenset(k.kind for k in KINDS if k.stops_on_its_own)
CARRIED_KINDS: frozenset[str] = frozenset(k.kind for k in KINDS if k.carried)
CONTROL_LOSS_KINDS: frozenset[str] = frozenset(k.kind for k in KINDS if k.control_loss)
OTHER_DRIVER_KINDS: frozenset[str] = frozenset(k.kind for k in KINDS if k.other_driver)
EARLY_RAMMING_KINDS: tuple[str, ...] = tuple(k.kind for k in KINDS if k.early_ramming)
URGENT_KINDS: frozenset[str] = frozenset(k.kind for k in KINDS if k.urgent)
FUSION_WEIGHTS: dict[str, FusionWeight] = {k.kind: k.fusion for k in KINDS if k.fusion is not None}


def label(kind: str) -> str:
    """The dispatcher's words for a kind; an unknown kind (a newer producer's) is shown as written."""
    known = BY_KIND.get(kind)
    return known.label if known is not None else kind.replace("_", " ")
