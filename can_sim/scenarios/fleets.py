"""Who drives where: fleets, their sites, vehicles, driver cards, telematics devices and driving styles."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from can_sim.scenarios.cities import City
from can_sim.scenarios.kinematics import DriveStyle
from can_sim.scenarios.layout import CityMap
from can_sim.scenarios.profiles import (
    CLASSIC,
    CLASSIC_DELIVERY,
    CLASSIC_DRIVING,
    CLASSIC_GNSS,
    Delivery,
    DrivingProfile,
    GnssQuality,
)

FLEET_SIZE = 25
HAULIER_HOURS = {
    "mon": ["05:00", "21:00"], "tue": ["05:00", "21:00"], "wed": ["05:00", "21:00"],
    "thu": ["05:00", "21:00"], "fri": ["05:00", "21:00"], "sat": ["06:00", "14:00"], "sun": None,
}
SPARSE_PERIODS_S = (15, 20, 30, 45, 60)


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """What a vehicle's telematics unit reports and how often."""

    period_moving_s: int
    period_idle_s: int
    heartbeat_s: int
    reports_card: bool
    reports_trailer: bool
    reports_jamming: bool
    volts_running: float
    volts_resting: float
    name: str = CLASSIC
    """The device kind (can_sim.scenarios.profiles.DEVICE_KINDS)."""
    min_distance_m: float = 0.0
    """While moving, also report once this far from the last record (0: no distance trigger)."""
    min_angle_deg: float = 0.0
    """While moving, also report once the course has turned this much since the last record (0: no trigger)."""
    silent_when_off: bool = False
    """Nothing at all while the ignition is off."""
    moving_only: bool = False
    """Nothing at all while the vehicle stands."""
    switch_events: bool = True
    """A switch change (ignition, doors, card) makes a record at once; alarms (panic, power cut) always do."""
    reports_can: bool = True
    """Connected to the CAN bus: reports wheel speed and engine rpm."""
    gnss: GnssQuality = CLASSIC_GNSS
    delivery: Delivery = CLASSIC_DELIVERY

    @property
    def sparse(self) -> bool:
        return self.period_moving_s > 1


@dataclass(frozen=True, slots=True)
class FleetSpec:
    fleet_id: str
    name: str
    kind: str
    city: City
    site_id: str
    site_kind: str
    site_node: int

    @property
    def operating_hours(self) -> dict[str, list[str] | None] | None:
        return HAULIER_HOURS if self.kind == "haulier" else None


@dataclass(frozen=True, slots=True)
class VehicleSpec:
    vehicle_id: str
    fleet: FleetSpec
    category: str
    plate: str
    cards: tuple[str, ...]
    """The vehicle's two regular drivers (hauliers only); both are authorised."""
    device: DeviceProfile
    style: DriveStyle
    odometer_km: float
    fuel_pct: float
    fuel_pct_per_km: float
    seq0: int
    driving: DrivingProfile = CLASSIC_DRIVING

    @property
    def has_trailer(self) -> bool:
        return self.device.reports_trailer


def compose_fleets(cities: list[City], maps: dict[str, CityMap], vehicles: int,
                   rng: random.Random) -> tuple[list[FleetSpec], list[VehicleSpec]]:
    """Vehicles spread over the cities in turn: two hauliers' trucks for each rental van, every third device sparse."""
    per_city: dict[str, list[str]] = {c.key: [] for c in cities}
    for i in range(vehicles):
        city = cities[i % len(cities)]
        local = len(per_city[city.key])
        per_city[city.key].append("rental" if local % 3 == 2 else "haulier")
    fleets: list[FleetSpec] = []
    out: list[VehicleSpec] = []
    for city in cities:
        kinds = per_city[city.key]
        counters = {"haulier": 0, "rental": 0}
        fleet_of: dict[tuple[str, int], FleetSpec] = {}
        for local, kind in enumerate(kinds):
            n = counters[kind]
            counters[kind] += 1
            key = (kind, n // FLEET_SIZE)
            if key not in fleet_of:
                fleet_of[key] = _fleet(city, maps[city.key], kind, key[1])
                fleets.append(fleet_of[key])
            out.append(_vehicle(city, fleet_of[key], kind, n, local, rng))
    return fleets, out


def _fleet(city: City, city_map: CityMap, kind: str, number: int) -> FleetSpec:
    code = city.code.lower()
    suffix = f"-{number + 1}" if number else ""
    if kind == "haulier":
        fleet_id = f"{code}-haul{suffix}"
        return FleetSpec(fleet_id, city.haulier_name + (f" ({number + 1})" if number else ""), kind, city,
                         f"{fleet_id}-depot", "depot", city_map.depot_slots[number % len(city_map.depot_slots)])
    fleet_id = f"{code}-rent{suffix}"
    return FleetSpec(fleet_id, city.rental_name + (f" ({number + 1})" if number else ""), kind, city,
                     f"{fleet_id}-station", "rental_station",
                     city_map.station_slots[number % len(city_map.station_slots)])


def _vehicle(city: City, fleet: FleetSpec, kind: str, n: int, local: int, rng: random.Random) -> VehicleSpec:
    sparse = local % 6 in (2, 3)
    period = rng.choice(SPARSE_PERIODS_S) if sparse else 1
    if kind == "haulier":
        category = "N2" if n % 3 == 1 else "N3"
        vehicle_id = f"{city.code}-H{n + 1:03d}"
        cards = (_card(city, rng), _card(city, rng))
        heavy = category == "N3"
        style = DriveStyle(speed_factor=rng.uniform(0.9, 1.0), vmax_mps=(80 if heavy else 85) / 3.6,
                           accel_mps2=rng.uniform(0.7, 1.0) if heavy else rng.uniform(0.9, 1.2),
                           decel_mps2=rng.uniform(1.3, 1.8), lateral_mps2=rng.uniform(1.5, 2.0))
        device = DeviceProfile(period, 10 if not sparse else period, 300 if not sparse else 900,
                               reports_card=True, reports_trailer=heavy, reports_jamming=not sparse,
                               volts_running=28.0, volts_resting=25.0)
        odometer = rng.uniform(150_000, 650_000) if heavy else rng.uniform(60_000, 300_000)
        per_km = 0.055 if heavy else 0.075
    else:
        category = "N1"
        vehicle_id = f"{city.code}-R{n + 1:03d}"
        cards = ()
        style = DriveStyle(speed_factor=rng.uniform(0.95, 1.05), vmax_mps=100 / 3.6,
                           accel_mps2=rng.uniform(1.2, 1.5), decel_mps2=rng.uniform(1.5, 2.2),
                           lateral_mps2=rng.uniform(1.8, 2.4))
        device = DeviceProfile(period, 10 if not sparse else period, 300 if not sparse else 900,
                               reports_card=False, reports_trailer=False, reports_jamming=not sparse,
                               volts_running=14.2, volts_resting=12.6)
        odometer = rng.uniform(15_000, 160_000)
        per_km = 0.13
    return VehicleSpec(vehicle_id, fleet, category, _plate(city, rng), cards, device, style,
                       round(odometer, 1), rng.uniform(55, 95), per_km, rng.randrange(1_000, 900_000))


def _card(city: City, rng: random.Random) -> str:
    """A tachograph driver card number: country code and 14 digits."""
    return city.country + "".join(rng.choice(string.digits) for _ in range(14))


def unknown_card(city: City, rng: random.Random) -> str:
    """A card that no fleet knows (a thief's own, or a stolen one)."""
    return _card(city, rng)


def _plate(city: City, rng: random.Random) -> str:
    letters = string.ascii_uppercase
    digits = string.digits

    def pick(alphabet: str, n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    formats = {
        "BER": lambda: f"B-{pick(letters, 2)} {pick(digits, 4)}",
        "NCE": lambda: f"{pick(letters, 2)}-{pick(digits, 3)}-{pick(letters, 2)}",
        "STO": lambda: f"{pick(letters, 3)} {pick(digits, 2)}{pick(letters + digits, 1)}",
        "LON": lambda: f"L{pick(letters, 1)}{pick(digits, 2)} {pick(letters, 3)}",
        "BCN": lambda: f"{pick(digits, 4)} {pick('BCDFGHJKLMNPRSTVWXYZ', 3)}",
    }
    return formats.get(city.code, lambda: pick(letters + digits, 7))()
