"""A vehicle's telematics unit: samples the true state into contract telemetry lines, noisy and sometimes late."""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from can_sim.scenarios.fleets import DeviceProfile
from can_sim.scenarios.network import Projection
from can_sim.scenarios.profiles import CLASSIC

MOVING_GRACE_S = 30
"""A device keeps its moving rate this long after the vehicle last moved (lights, jams)."""
GNSS_SIGMA_M = 3.0
MAX_LATE_S = 45
NORMAL_MASK = 4095
NOISE_STEP_M = GNSS_SIGMA_M * 0.6
"""AR(1) innovation so that the position error's standard deviation is GNSS_SIGMA_M (0.6 = sqrt(1 - 0.8^2))."""
UERE_M = 4.0
"""User equivalent range error of a single-frequency receiver (about 4-6 m): horizontal error ~ HDOP x UERE."""
SITE_PLACES = ("depot", "rental_station", "station")
GARAGE_EXIT_S = 25
"""A receiver that was indoors needs a warm start (about 25 s) after the vehicle drives out."""


@dataclass
class TrueState:
    """What the vehicle really is and does at time t (epoch seconds); the device reports a noisy sample of it."""

    t: int
    x: float
    y: float
    node: int | None
    heading: float = 0.0
    speed: float = 0.0
    odometer_m: float = 0.0
    fuel_pct: float = 80.0
    ignition: bool = False
    parking_brake: bool = True
    cab_door_open: bool = False
    cargo_door_open: bool = False
    trailer_connected: bool = True
    driver_card_id: str | None = None
    panic: bool = False
    power_cut: bool = False
    jammer: bool = False
    in_tunnel: bool = False
    gnss_back_at: int = 0
    silent: bool = False
    silent_at: int | None = None
    """When a device on its backup battery will fall silent."""
    place: str | None = None


@dataclass
class DeliveryStats:
    records: int = 0
    late: int = 0
    duplicates: int = 0
    outages: list[tuple[int, int]] = field(default_factory=list)


class Device:
    """Decides when to report, builds each record, and queues it with its arrival time (ms) at the platform."""

    def __init__(self, vehicle_id: str, profile: DeviceProfile, projection: Projection, *, seq0: int,
                 window: tuple[int, int], rng: random.Random, vmax_kmh: float) -> None:
        self.vehicle_id = vehicle_id
        self.profile = profile
        self.projection = projection
        self.seq = seq0
        self.start, self.end = window
        self.rng = rng
        self.idle_rpm = 600.0 if profile.volts_running > 20 else 800.0
        self.rpm_per_kmh = 22.0 if profile.volts_running > 20 else 32.0
        self.max_rpm = 1900.0 if profile.volts_running > 20 else 3200.0
        self.last_emit = -10**12
        self.last_moving = -10**12
        self.last_heading = rng.uniform(0, 360)
        self.noise_x = 0.0
        self.noise_y = 0.0
        self.outage: tuple[int, int] | None = None
        self.next_outage = self.start + rng.randint(5 * 60, 40 * 60)
        self.queue: list[tuple[int, int, bytes]] = []
        self.counter = 0
        self.last_x = math.nan
        self.last_y = math.nan
        self.last_course = 0.0
        self.reported_ignition = False
        self.garage_until = -1
        self.stats = DeliveryStats()
        self._day: tuple[int, str] = (-1, "")
        self._normals = [rng.gauss(0.0, 1.0) for _ in range(NORMAL_MASK + 1)]
        self._normal_i = 0

    def next_due(self, st: TrueState) -> int:
        """When the device will next report if nothing changes (nothing before the window, nothing once silent)."""
        if st.silent:
            return self.end
        due = self.last_emit + self._period(st)
        return due if due >= self.start else self.start

    def _period(self, st: TrueState) -> int:
        p = self.profile
        if st.speed > 0.3 or st.t - self.last_moving <= MOVING_GRACE_S:
            return p.period_moving_s
        return p.period_idle_s if st.ignition else p.heartbeat_s

    def _moved_enough(self, st: TrueState) -> bool:
        """The distance and angle triggers of units that record on movement (Teltonika Min Distance, Min Angle)."""
        p = self.profile
        if st.speed <= 0.3 or not (p.min_distance_m or p.min_angle_deg):
            return False
        if p.min_distance_m and math.hypot(st.x - self.last_x, st.y - self.last_y) >= p.min_distance_m:
            return True
        turned = abs((st.heading - self.last_course + 180.0) % 360.0 - 180.0)
        return bool(p.min_angle_deg) and turned >= p.min_angle_deg

    def _reports_event(self, st: TrueState) -> bool:
        """Whether this unit makes a record of a switch change at once (alarms always do)."""
        p = self.profile
        if st.panic or st.power_cut or st.jammer:
            return True
        if p.moving_only and st.speed <= 0.3:
            return False
        if not p.switch_events:
            return False
        # A unit asleep with the ignition off still records the ignition going off, then nothing.
        return not p.silent_when_off or st.ignition or self.reported_ignition

    def observe(self, st: TrueState, event: bool = False) -> None:
        """Report the state if a record is due or something switched (event)."""
        t = st.t
        if st.speed > 0.3:
            self.last_moving = t
            self.last_heading = st.heading
        if st.silent or t < self.start or t >= self.end:
            return
        if self.profile.name != CLASSIC:
            if event and not self._reports_event(st):
                event = False
            if self.profile.silent_when_off and not st.ignition and not event and not st.panic:
                return  # asleep with the key out: not even the moving-rate grace after the last movement
        if not event and t - self.last_emit < self._period(st) and not self._moved_enough(st):
            return
        self.last_emit = t
        self.last_x, self.last_y, self.last_course = st.x, st.y, st.heading
        self.reported_ignition = st.ignition
        self.seq += 1
        self._deliver(t, self._encode(st))

    def _timestamp(self, t: int) -> str:
        day, rest = divmod(t, 86400)
        if self._day[0] != day:
            self._day = (day, datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%dT"))
        hours, rest = divmod(rest, 3600)
        minutes, seconds = divmod(rest, 60)
        return f"{self._day[1]}{hours:02d}:{minutes:02d}:{seconds:02d}Z"

    def _normal(self) -> float:
        """A standard normal sample from a table drawn once per device (much cheaper than random.gauss)."""
        self._normal_i = (self._normal_i + 1) & NORMAL_MASK
        return self._normals[self._normal_i]

    def _encode(self, st: TrueState) -> bytes:
        p, normal = self.profile, self._normal
        kmh = st.speed * 3.6
        rec: dict[str, object] = {"vehicle_id": self.vehicle_id, "ts": self._timestamp(st.t), "seq": self.seq}
        fix = not (st.in_tunnel or st.jammer) and st.t >= st.gnss_back_at
        if p.name != CLASSIC:
            fix = fix and self._receiver_fix(st)
        if fix:
            if p.name == CLASSIC:
                self.noise_x = 0.8 * self.noise_x + normal() * NOISE_STEP_M
                self.noise_y = 0.8 * self.noise_y + normal() * NOISE_STEP_M
                x, y = st.x + self.noise_x, st.y + self.noise_y
            else:
                x, y = self._noisy_position(st, rec)
            lat, lon = self.projection.latlon(x, y)
            rec["lat"] = round(lat, 6)
            rec["lon"] = round(lon, 6)
        rec["gnss_fix"] = fix
        if p.reports_jamming:
            rec["gnss_jamming"] = st.jammer
        if fix and p.gnss.reports_motion:
            if p.gnss.standing_drift and kmh <= 0:
                # A standing receiver's multipath wander reads as a crawl in a random direction.
                rec["gnss_speed_kmh"] = round(abs(normal()) * 1.5, 1)
                heading = round(self.rng.uniform(0.0, 360.0), 1)
            else:
                noisy = kmh + normal() * 0.3 if kmh > 0 else abs(normal()) * 0.15
                rec["gnss_speed_kmh"] = round(noisy if noisy > 0 else 0.0, 1)
                heading = round((self.last_heading + normal()) % 360.0, 1)
            rec["heading_deg"] = 0.0 if heading >= 360.0 else heading
        if st.ignition and p.reports_can:
            rec["wheel_speed_kmh"] = round(kmh, 1)
            rpm = self.idle_rpm + min(self.max_rpm - self.idle_rpm, self.rpm_per_kmh * kmh)
            rec["engine_rpm"] = float(round(rpm + normal() * 15.0))
        rec["ignition"] = st.ignition
        rec["parking_brake"] = st.parking_brake
        rec["cab_door_open"] = st.cab_door_open
        rec["cargo_door_open"] = st.cargo_door_open
        if p.reports_trailer and p.reports_can:
            rec["trailer_connected"] = st.trailer_connected
        if p.reports_card:
            rec["driver_card_id"] = st.driver_card_id
        rec["panic"] = st.panic
        if st.power_cut:
            volts = abs(0.1 + normal() * 0.05)
        else:
            volts = (p.volts_running if st.ignition else p.volts_resting) + normal() * 0.1
        rec["ext_power_v"] = round(volts, 1)
        rec["odometer_km"] = round(st.odometer_m / 1000.0, 2)
        fuel = st.fuel_pct
        rec["fuel_level_pct"] = round(100.0 if fuel > 100.0 else 0.0 if fuel < 0.0 else fuel, 1)
        return orjson.dumps(rec)

    def _receiver_fix(self, st: TrueState) -> bool:
        """No fix indoors at the site (garage) and for a warm start after driving out."""
        if not self.profile.gnss.garage_no_fix:
            return True
        if st.speed <= 0.3 and st.place in SITE_PLACES:
            self.garage_until = st.t + GARAGE_EXIT_S
            return False
        return st.t >= self.garage_until

    def _noisy_position(self, st: TrueState, rec: dict[str, object]) -> tuple[float, float]:
        """The receiver's position: correlated error of the open-sky or urban-canyon size, now and then a spike."""
        g, normal = self.profile.gnss, self._normal
        urban = g.urban_radius_m > 0 and math.hypot(st.x, st.y) < g.urban_radius_m
        sigma = g.sigma_urban_m if urban else g.sigma_open_m
        self.noise_x = 0.8 * self.noise_x + normal() * sigma * 0.6
        self.noise_y = 0.8 * self.noise_y + normal() * sigma * 0.6
        x, y = st.x + self.noise_x, st.y + self.noise_y
        if g.spike_p and self.rng.random() < g.spike_p:
            bearing = self.rng.uniform(0.0, 2 * math.pi)
            distance = self.rng.uniform(*g.spike_m)
            x, y = x + distance * math.sin(bearing), y + distance * math.cos(bearing)
        if g.reports_accuracy:
            rec["hdop"] = round(max(0.6, sigma / UERE_M * (0.8 + 0.3 * abs(normal()))), 1)
            rec["satellites"] = self.rng.randint(5, 9) if urban else self.rng.randint(9, 15)
        if g.reports_accuracy_m:
            # The receiver's own estimate: right in size, not in the moment (it cannot see a spike coming).
            rec["gnss_accuracy_m"] = round(sigma * (0.8 + 0.3 * abs(normal())), 1)
        return x, y

    def _deliver(self, t: int, line: bytes) -> None:
        """Queue a record with the time it reaches the platform: usually within a second, sometimes late or twice."""
        rng = self.rng
        link = self.profile.delivery
        t_ms = t * 1000
        if self.outage is None and t >= self.next_outage and self.last_moving >= t - 5:
            length = rng.randint(*link.gap_s)
            self.outage = (t, t + length)
            self.stats.outages.append(self.outage)
            self.next_outage = t + rng.randint(*link.gap_every_s)
        if self.outage is not None and t >= self.outage[1]:
            self.outage = None
        if self.outage is not None:
            # Buffered while the mobile link is down; sent after the first live record once it is back, oldest
            # first or (a unit set to newest first) newest first.
            offset = self.outage[1] - t if link.newest_first else t - self.outage[0]
            arrival = self.outage[1] * 1000 + 1_000 + offset * 5
            self.stats.late += 1
        elif rng.random() < link.late_p:
            arrival = t_ms + rng.randint(5_000, MAX_LATE_S * 1000)
            self.stats.late += 1
        else:
            arrival = t_ms + rng.randint(150, 950)
        self._push(arrival, line)
        self.stats.records += 1
        if rng.random() < link.duplicate_p:
            self._push(arrival + rng.randint(1_000, 20_000), line)
            self.stats.duplicates += 1

    def _push(self, arrival_ms: int, line: bytes) -> None:
        self.counter += 1
        heapq.heappush(self.queue, (arrival_ms, self.counter, line))

    def release(self, now: int) -> list[tuple[int, int, bytes]]:
        """Queued records that arrive by `now` (epoch s): every later record arrives after them."""
        out = []
        limit = now * 1000
        queue = self.queue
        while queue and queue[0][0] <= limit:
            out.append(heapq.heappop(queue))
        return out

    def drain(self) -> list[tuple[int, int, bytes]]:
        out = sorted(self.queue)
        self.queue = []
        return out
