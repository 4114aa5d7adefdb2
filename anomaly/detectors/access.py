"""Who may use the vehicle and when: a driver card authorised for it, inside the fleet's operating hours."""

from __future__ import annotations

from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from anomaly.detectors.states import DriverState, OffHoursState
from anomaly.findings import Detector, Finding, kmh, track, under_way
from anomaly.observation import Observation

OFF_HOURS_GRACE_MS: Final = 20 * 60_000
"""A shift that starts or ends within this margin of the operating hours is not off-hours use."""


class OffHoursUse(Detector):
    """Ignition on or movement outside the fleet's operating hours, in the fleet's time zone."""

    name = "off_hours_use"
    state_type = OffHoursState
    hold_ms = 60_000
    clear_ms = 10 * 60_000

    def quiet(self, obs: Observation, state: OffHoursState) -> bool:
        hours = obs.fleet_hours
        if hours is None or hours.always:
            return True
        if under_way(state.incident):
            return False
        if obs.record.ignition is not True and not obs.moving:
            return True
        ts = obs.ts_ms
        return obs.operating(ts) or obs.operating(ts - OFF_HOURS_GRACE_MS) or obs.operating(ts + OFF_HOURS_GRACE_MS)

    def observe(self, obs: Observation, state: OffHoursState) -> list[Finding]:
        fleet, hours = obs.fleet, obs.fleet_hours
        if fleet is None or hours is None or hours.always:
            return []
        record, ts = obs.record, obs.ts_ms
        in_use = record.ignition is True or obs.moving
        incident = state.incident
        if not in_use and incident.onset_ms is None and not incident.is_open:
            return []
        off_hours = in_use and not (
            obs.operating(ts) or obs.operating(ts - OFF_HOURS_GRACE_MS) or obs.operating(ts + OFF_HOURS_GRACE_MS)
        )
        if not off_hours and incident.onset_ms is None and not incident.is_open:
            return []
        # Moving away from every fleet site at night is worse than warming an engine in the yard.
        away = obs.moving and obs.site is None
        finding = track(
            self.name,
            state.incident,
            off_hours,
            ts,
            hold_ms=self.hold_ms,
            clear_ms=self.clear_ms,
            severity=lambda: "critical" if away and (obs.speed_kmh or 0) >= 30 else "warning",
            score=lambda: 0.9 if away else 0.6,
            evidence=lambda: {
                "local_time": _local_text(ts, fleet.timezone),
                "timezone": fleet.timezone.key,
                "ignition": record.ignition,
                "speed_kmh": kmh(obs.speed_kmh),
                "at_site": obs.site.site_id if obs.site else None,
                "summary": f"in use at {_local_text(ts, fleet.timezone)} local time, "
                f"outside {fleet.name}'s operating hours",
            },
        )
        return [finding] if finding else []


class UnauthorizedDriver(Detector):
    """The vehicle moves with no driver card, or with a card not authorised for it (haulier fleets only)."""

    name = "unauthorized_driver"
    state_type = DriverState
    hold_ms = 30_000
    clear_ms = 5 * 60_000
    min_speed_kmh: Final = 10.0

    def quiet(self, obs: Observation, state: DriverState) -> bool:
        vehicle, fleet, record = obs.vehicle, obs.fleet, obs.record
        if vehicle is None or fleet is None or fleet.kind == "rental" or not record.driver_card_reported:
            return True
        if under_way(state.incident):
            return False
        speed = obs.speed_kmh
        return speed is None or speed < self.min_speed_kmh or record.driver_card_id in vehicle.authorized_driver_cards

    def observe(self, obs: Observation, state: DriverState) -> list[Finding]:
        vehicle, fleet, record = obs.vehicle, obs.fleet, obs.record
        # Rental fleets have no tachograph cards; a device that does not report the card says nothing.
        if vehicle is None or fleet is None or fleet.kind == "rental" or not record.driver_card_reported:
            return []
        card = record.driver_card_id
        incident = state.incident
        moving = obs.speed_kmh is not None and obs.speed_kmh >= self.min_speed_kmh
        idle = incident.onset_ms is None and not incident.is_open
        if idle and (not moving or card in vehicle.authorized_driver_cards):
            return []
        allowed = set(vehicle.authorized_driver_cards)
        trip = obs.trip
        if trip is not None and trip.driver_card_id:
            allowed.add(trip.driver_card_id)
        no_card = card is None
        wrong_card = card is not None and bool(allowed) and card not in allowed
        # Inside the fleet's own yard, staff shunt vehicles between bays without a driver card: not a driver.
        in_yard = obs.site is not None
        finding = track(
            self.name,
            state.incident,
            moving and (no_card or wrong_card) and not in_yard,
            obs.ts_ms,
            hold_ms=self.hold_ms,
            clear_ms=self.clear_ms,
            severity=lambda: "critical" if wrong_card else "warning",
            score=lambda: 0.9 if wrong_card else 0.7,
            evidence=lambda: {
                "driver_card_id": card,
                "authorized_cards": len(allowed),
                "speed_kmh": kmh(obs.speed_kmh),
                "summary": "moving with no driver card inserted"
                if no_card
                else f"moving with card {card}, which is not authorised for {vehicle.vehicle_id}",
            },
        )
        return [finding] if finding else []


def _local_text(ts_ms: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz).strftime("%a %H:%M")
