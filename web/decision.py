"""What an officer needs to decide a stop request: the zone and the vehicle's way to it, every alert behind the
request, the time left, and whether events have overtaken it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask_babel import gettext
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from telematics.kinds import ZONE_KINDS
from web.mapdata import MOVING_KMH
from web.models import AlertRow, StopRequestRow, ZoneRow
from web.positions import latest_positions
from web.stop_flow import RELEASABLE, Release, release_of
from web.store import alert_to_dict, rfc3339
from web.timeline import zone_distances

INCIDENT_LOOKBACK = timedelta(minutes=30)
"""How far before the request an alert of the same vehicle still counts as part of the incident: the longest
lead the detector's ramming and hijack findings build on (a theft at a depot driven to a zone in the demo
and the labelled suites takes 8 to 25 minutes)."""


@dataclass(frozen=True)
class Zone:
    zone_id: str
    name: str
    kind: str | None
    ring: list[list[float]] | None
    timezone: str | None = None
    """The zone's IANA time zone: the page gives the request's expiry in the zone's local time too."""


@dataclass
class Decision:
    """The facts the decision page and the API show beside a request."""

    zone: Zone | None
    zone_source: str
    """``request`` when the request names its zone, ``alerts`` when it was found in the evidence."""
    distance_m: float | None
    eta_s: float | None
    """Time to the zone's edge at the vehicle's last speed (None when stopped, unknown or inside)."""
    position: dict[str, Any] | None
    alerts: list[dict[str, Any]]
    """Every alert of the incident, oldest first, each with ``linked`` (named by the request) and ``after``
    (raised after the request while it waited)."""
    expires_at: datetime
    seconds_left: float
    overtaken: list[str] = field(default_factory=list)
    """Why the request may no longer fit the situation (the vehicle stopped, is inside, its ignition off)."""
    release: Release = field(default_factory=lambda: Release(None, None, None))
    """Whether the vehicle was released again after the stop, or a release waits for its second officer."""
    releasable: bool = False
    """A command went to the vehicle and it is not released yet: law enforcement may release it."""
    status: str = "requested"
    first_approval_by: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    """The request's own state, so that an open decision page can follow it without a reload (static/decision.js)."""

    def overtaken_note(self) -> dict[str, str] | None:
        """The heading and sentence the page shows over a waiting request that events may have overtaken, in the
        reader's language; None when nothing has (the page then says nothing of it)."""
        if self.status != "requested" or not self.overtaken:
            return None
        return {"heading": gettext("Events may have overtaken this request"),
                "text": gettext("Since it was raised, %(changes)s. Check the position and the alerts below before "
                                "you decide; the decision stays yours.", changes="; ".join(self.overtaken))}

    def as_dict(self) -> dict[str, Any]:
        zone = None if self.zone is None else {"zone_id": self.zone.zone_id, "name": self.zone.name,
                                               "kind": self.zone.kind, "source": self.zone_source}
        return {"zone": zone, "distance_m": self.distance_m, "eta_s": self.eta_s, "position": self.position,
                "alerts": self.alerts, "expires_at": rfc3339(self.expires_at),
                "seconds_left": round(self.seconds_left), "overtaken": self.overtaken,
                "overtaken_note": self.overtaken_note(),
                "release": {**self.release.as_dict(), "releasable": self.releasable},
                "status": self.status, "first_approval_by": self.first_approval_by, "history": self.history}


def incident_alerts(session: Session, row: StopRequestRow, until: datetime) -> list[dict[str, Any]]:
    """The request's own alerts and every other alert of the vehicle from the incident's window up to ``until``.

    The detector names only the alerts that triggered it; an officer needs all of them, of every kind and
    severity, including those raised while the request waits (marked ``after``).
    """
    start = row.ts - INCIDENT_LOOKBACK
    rows = session.execute(
        select(AlertRow).where(or_(AlertRow.alert_id.in_(row.alert_ids),
                                   (AlertRow.vehicle_id == row.vehicle_id) & (AlertRow.ts >= start)
                                   & (AlertRow.received_at <= until)))
        .order_by(AlertRow.ts, AlertRow.alert_id).execution_options(populate_existing=True)).scalars()
    linked = set(row.alert_ids)
    return [{**alert_to_dict(a), "linked": a.alert_id in linked, "after": a.received_at > row.received_at}
            for a in rows]


def request_zone(session: Session, row: StopRequestRow, alerts: list[dict[str, Any]]) -> tuple[Zone | None, str]:
    """The request's zone, else the one its evidence names: a zone alert's ``zone_id`` (the earliest onset
    first, as the detector picks its trigger), then any ``zone_id`` in an alert's evidence."""
    zone_id, source = row.zone_id, "request"
    if not zone_id:
        source = "alerts"
        zoned = sorted((a for a in alerts if a["zone_id"] and a["kind"] in ZONE_KINDS),
                       key=lambda a: (not a["linked"], a["onset_ts"]))
        zone_id = zoned[0]["zone_id"] if zoned else next(
            (a["zone_id"] or (a["evidence"] or {}).get("zone_id") for a in alerts
             if a["zone_id"] or (a["evidence"] or {}).get("zone_id")), None)
    if not zone_id:
        return None, "none"
    zone = session.get(ZoneRow, zone_id)
    if zone is None:
        return Zone(zone_id, zone_id, None, None), source
    geometry = zone.feature.get("geometry") or {}
    ring = geometry.get("coordinates", [None])[0] if geometry.get("type") == "Polygon" else None
    properties = zone.feature.get("properties") or {}
    return Zone(zone_id, zone.name, properties.get("kind"), ring, properties.get("timezone")), source


def decision_facts(session: Session, row: StopRequestRow, expiry_s: float, now: datetime | None = None) -> Decision:
    """Everything the officers see beside the request, as of ``now``."""
    now = now or datetime.now(UTC)
    waiting = row.status == "requested"
    alerts = incident_alerts(session, row, now if waiting else row.updated_at)
    zone, source = request_zone(session, row, alerts)
    position = latest_positions(session, [row.vehicle_id]).get(row.vehicle_id)
    distance = eta = None
    if position is not None and zone is not None and zone.ring:
        distance = zone_distances([position], zone.ring)[0]
        speed = position.get("speed_kmh") or 0.0
        if distance is not None and distance > 0 and speed >= MOVING_KMH:
            eta = distance / (speed / 3.6)
    expires_at = row.received_at + timedelta(seconds=expiry_s)
    overtaken: list[str] = []
    if position is not None:
        if (position.get("speed_kmh") or 0.0) < MOVING_KMH:
            overtaken.append(gettext("the vehicle has stopped"))
        if distance == 0:
            overtaken.append(gettext("the vehicle is already inside %(zone)s", zone=zone.name) if zone
                             else gettext("the vehicle is already inside the zone"))
        if position.get("ignition") is False:
            overtaken.append(gettext("its ignition is off"))
    release = release_of(row.history, expiry_s, now)
    return Decision(zone, source, distance, eta, position, alerts, expires_at,
                    max(0.0, (expires_at - now).total_seconds()) if waiting else 0.0, overtaken, release,
                    row.status in RELEASABLE and not release.done, row.status, row.first_approval_by,
                    list(row.history or []))
