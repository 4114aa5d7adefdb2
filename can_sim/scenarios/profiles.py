"""Device and driving profiles that real fleets show, and the seeded choice of one of each per vehicle."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from can_sim.scenarios.fleets import DeviceProfile, VehicleSpec

NEVER_S = 10**9
"""A period that never comes: the unit does not report in that state."""
CLASSIC = "classic"
"""The generator's original behaviour (1 Hz or evenly sparse units; the plan kept to the minute)."""


@dataclass(frozen=True, slots=True)
class GnssQuality:
    """How a receiver's position errs: per fix, not per vehicle's true path."""

    sigma_open_m: float = 3.0
    """1-sigma horizontal error in open sky: 2-5 m for automotive receivers (U.S. GPS SPS Performance Standard,
    5th ed. 2020: <= 7.8 m at 95 %, i.e. about 3-4 m 1-sigma; modern multi-constellation units do better)."""
    sigma_urban_m: float = 3.0
    """1-sigma error among tall buildings (multipath, blocked sky): 10-50 m in city centres (urban-canyon
    field studies, e.g. Ben-Moshe et al. 2011; Groves 2011 'Shadow matching')."""
    urban_radius_m: float = 0.0
    """Within this distance of the city centre the urban sigma applies (0: never)."""
    spike_p: float = 0.0
    """Chance per fix of an outlier hundreds of metres off (multipath lock on a reflection), as real AVL traces
    show now and then (issue 15: single stray fixes between fixes hundreds of metres away)."""
    spike_m: tuple[float, float] = (150.0, 600.0)
    standing_drift: bool = False
    """A standing receiver's error wanders and it reports a small non-zero speed and a random course."""
    garage_no_fix: bool = False
    """Parked indoors at the depot or station: no fix until it has driven out."""
    reports_motion: bool = True
    """Reports the receiver's own speed over ground and course (heading_deg)."""
    reports_accuracy: bool = False
    """Reports hdop and satellites (Teltonika AVL records carry both)."""
    reports_accuracy_m: bool = False
    """Reports its own error estimate in metres (gnss_accuracy_m), as phone tracker apps do (Android's
    Location.getAccuracy: the radius of 68 % confidence, which Traccar Client and OsmAnd forward)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """How records travel from the unit to the platform."""

    late_p: float = 0.003
    duplicate_p: float = 0.002
    gap_every_s: tuple[int, int] = (40 * 60, 4 * 3600)
    gap_s: tuple[int, int] = (10, 40)
    newest_first: bool = False
    """After a gap the buffer is sent newest record first (Teltonika 'Sort by: Newest', a selectable setting;
    wiki.teltonika-gps.com, 'Records settings')."""


CLASSIC_GNSS = GnssQuality()
CLASSIC_DELIVERY = Delivery()


@dataclass(frozen=True, slots=True)
class DeviceKind:
    """A named kind of telematics unit: cadence rules, what it reports, its GNSS and its link."""

    name: str
    period_moving_s: int
    period_idle_s: int
    heartbeat_s: int
    min_distance_m: float = 0.0
    min_angle_deg: float = 0.0
    silent_when_off: bool = False
    moving_only: bool = False
    switch_events: bool = True
    reports_can: bool = True
    gnss: GnssQuality = CLASSIC_GNSS
    delivery: Delivery = CLASSIC_DELIVERY


# Each kind's numbers come from the public fact cited beside it.
DEVICE_KINDS: tuple[DeviceKind, ...] = (
    # The original 1 Hz CAN-connected unit of the generator.
    DeviceKind(CLASSIC, 1, 10, 300),
    # Teltonika FMB defaults (wiki.teltonika-gps.com, 'Data acquisition'): on stop a record every 3600 s; moving,
    # a record when Min Distance 100 m or Min Angle 10 deg is reached; Min Period set to 10 s as fleets commonly
    # configure it (firmware default 300 s). Movement source 'Ignition' (the default, parameter 100 = 0): with the
    # key on the unit stays in its moving mode, standing or not. GNSS with hdop and satellites; city multipath.
    DeviceKind("teltonika_10s", 10, 10, 3600, min_distance_m=100.0, min_angle_deg=10.0,
               gnss=GnssQuality(3.0, 25.0, 2500.0, 0.002, standing_drift=True, reports_accuracy=True)),
    # The same unit wired so that it sleeps with the ignition off ('Sleep settings: deep sleep'; Teltonika
    # 'Ignition source'): nothing at all while parked with the key out; no fix in an indoor depot.
    DeviceKind("teltonika_ignition_only", 10, 10, NEVER_S, min_distance_m=100.0, min_angle_deg=10.0,
               silent_when_off=True,
               gnss=GnssQuality(3.0, 25.0, 2500.0, 0.002, standing_drift=True, garage_no_fix=True,
                                reports_accuracy=True)),
    # A Teltonika with poor coverage on its routes: store-and-forward. Gaps of 2-15 min, then the buffer
    # arrives in one burst, newest first; a lost ACK makes the unit resend (duplicates, ~1 %).
    DeviceKind("store_and_forward", 10, 10, 3600, min_distance_m=100.0, min_angle_deg=10.0,
               gnss=GnssQuality(3.0, 25.0, 2500.0, 0.002, standing_drift=True, reports_accuracy=True),
               delivery=Delivery(late_p=0.003, duplicate_p=0.01, gap_every_s=(20 * 60, 90 * 60),
                                 gap_s=(120, 900), newest_first=True)),
    # A phone tracker app (Traccar Client, OsmAnd, set to 30 s as fleets using them do): one report every 30 s
    # whatever the motion, no CAN bus (no wheel speed, rpm, card, trailer); phone-grade GNSS with its own accuracy.
    DeviceKind("tracker_30s", 30, 30, 300, reports_can=False,
               gnss=GnssQuality(4.0, 35.0, 2500.0, 0.003, standing_drift=True, reports_accuracy_m=True)),
    # A basic GPS tracker with an ignition wire at 60 s, as the taxi logs of issue 15 (about every 60 s): position
    # and ignition, no receiver course or speed, no CAN.
    DeviceKind("tracker_60s", 60, 60, 600, reports_can=False,
               gnss=GnssQuality(4.0, 35.0, 2500.0, 0.003, standing_drift=True, reports_motion=False)),
    # An event-driven AVL unit as on the refuse trucks of issue 15: about one record a minute and only while
    # moving; nothing at a standstill, switch changes not reported; lat/lon/time only.
    DeviceKind("event_driven_60s", 60, NEVER_S, NEVER_S, moving_only=True, switch_events=False, reports_can=False,
               gnss=GnssQuality(4.0, 30.0, 2500.0, 0.003, reports_motion=False)),
)
DEVICE_WEIGHTS = {CLASSIC: 2, "teltonika_10s": 2, "teltonika_ignition_only": 1, "store_and_forward": 1,
                  "tracker_30s": 1, "tracker_60s": 1, "event_driven_60s": 1}


@dataclass(frozen=True, slots=True)
class DrivingProfile:
    """How a vehicle's days depart from its published plan."""

    name: str = CLASSIC
    schedule_drift_min: tuple[int, int] = (0, 0)
    """Whole shift runs this many minutes early (negative) or late: 0-60 min against plan is everyday
    haulage (traffic, loading; issue 15's independent simulator; EU road-freight punctuality surveys)."""
    break_rules: bool = False
    """Driver breaks per EU Regulation 561/2006 Art. 7: 45 min after at most 4.5 h of driving, which may be split
    into 15 min then 30 min; taken at a roadside rest area, engine off, card in."""
    refuel_p: float = 0.0
    """Chance per trip of a 10-20 min fuel stop on the way."""
    dock_queue_p: float = 0.0
    """Chance per customer of queueing 10-40 min on the access road before the dock (engine idling)."""
    jam_p: float | None = None
    jam_dwell_s: tuple[int, int] = (10, 90)
    """Stop-and-go in a jam: standstills of up to 5 min on arterials and the ring (a closed lane, a crash ahead)."""
    detour_p: float = 0.08
    """Chance per leg of a road closure that sends the vehicle round a block and back onto its route."""
    yard_moves: bool = False
    """Shunting in the depot yard (ignition on, walking pace, within the site) before and between trips."""


CLASSIC_DRIVING = DrivingProfile()
DRIVING_PROFILES: tuple[DrivingProfile, ...] = (
    CLASSIC_DRIVING,
    DrivingProfile("early_late", schedule_drift_min=(-60, 60), dock_queue_p=0.2),
    DrivingProfile("long_day", schedule_drift_min=(-20, 40), break_rules=True, refuel_p=0.5),
    DrivingProfile("congested", schedule_drift_min=(0, 45), jam_p=0.2, jam_dwell_s=(20, 300), detour_p=0.4),
    DrivingProfile("yard_and_docks", schedule_drift_min=(-30, 30), dock_queue_p=0.35, yard_moves=True,
                   refuel_p=0.3),
)
RENTAL_DRIVING = ("classic", "congested")
"""Rental vans have no plan to run early or late against, no tachograph breaks and no yard: only traffic."""
DRIVING_WEIGHTS = {CLASSIC: 2, "early_late": 2, "long_day": 1, "congested": 1, "yard_and_docks": 1}


def device_kind(name: str) -> DeviceKind:
    for kind in DEVICE_KINDS:
        if kind.name == name:
            return kind
    raise KeyError(f"device profile {name!r}: expected one of {', '.join(k.name for k in DEVICE_KINDS)}")


def driving_profile(name: str) -> DrivingProfile:
    for profile in DRIVING_PROFILES:
        if profile.name == name:
            return profile
    raise KeyError(f"driving profile {name!r}: expected one of {', '.join(p.name for p in DRIVING_PROFILES)}")


def apply_device_kind(base: DeviceProfile, kind: DeviceKind) -> DeviceProfile:
    """The vehicle's unit as this kind: its cadence, GNSS and link; what the vehicle has (trailer, card) stays,
    except that a unit with no CAN connection cannot read the tachograph card or the trailer."""
    return replace(base, name=kind.name, period_moving_s=kind.period_moving_s, period_idle_s=kind.period_idle_s,
                   heartbeat_s=kind.heartbeat_s, min_distance_m=kind.min_distance_m,
                   min_angle_deg=kind.min_angle_deg, silent_when_off=kind.silent_when_off,
                   moving_only=kind.moving_only, switch_events=kind.switch_events, reports_can=kind.reports_can,
                   reports_card=base.reports_card and kind.reports_can,
                   reports_jamming=base.reports_jamming if kind.name == CLASSIC else kind.reports_can,
                   gnss=kind.gnss, delivery=kind.delivery)


def assign_profiles(vehicles: list[VehicleSpec], seed: int,
                    only: tuple[str | None, str | None] = (None, None)) -> list[VehicleSpec]:
    """Each vehicle gets a device kind and a driving profile drawn from its own seeded stream (so adding a
    vehicle does not reshuffle the others); `only` pins one device kind and/or driving profile for all."""
    out = []
    device_names, device_weights = zip(*DEVICE_WEIGHTS.items(), strict=True)
    for spec in vehicles:
        rng = random.Random(f"{seed}/{spec.vehicle_id}/profiles")
        device = only[0] or rng.choices(device_names, device_weights)[0]
        choices = list(RENTAL_DRIVING) if spec.fleet.kind == "rental" else [p.name for p in DRIVING_PROFILES]
        driving = only[1] or rng.choices(choices, [DRIVING_WEIGHTS[n] for n in choices])[0]
        if spec.fleet.kind == "rental" and driving not in RENTAL_DRIVING:
            driving = CLASSIC
        profile = driving_profile(driving)
        style = spec.style
        if profile.jam_p is not None:
            style = replace(style, jam_p=profile.jam_p, jam_dwell_s=profile.jam_dwell_s)
        out.append(replace(spec, device=apply_device_kind(spec.device, device_kind(device)), driving=profile,
                           style=style))
    return out
