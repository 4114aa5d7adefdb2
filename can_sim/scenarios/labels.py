"""The ground truth of a generated bundle: incidents and hard cases, and the labels.json document (docs/labels.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from telematics.timeutil import format_ms

LABELS_FORMAT = "truckguard.labels.v1"
LABELS_FILE = "labels.json"


def rfc3339(t: int | None) -> str | None:
    """Epoch seconds to RFC 3339 UTC text (None stays None)."""
    return None if t is None else format_ms(t * 1000)


@dataclass
class IncidentLabel:
    """One labelled incident; times in epoch seconds, filled in while the vehicle is simulated."""

    incident_id: str
    type: str
    vehicle_id: str
    fleet_id: str
    expected_alerts: list[str]
    stop_request_expected: bool
    start: int | None = None
    end: int | None = None
    zone_id: str | None = None
    zone_entry: int | None = None
    entry_speed_kmh: float | None = None
    stop_request_before_entry: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ramming(self) -> bool:
        return self.zone_id is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "type": self.type,
            "vehicle_id": self.vehicle_id,
            "fleet_id": self.fleet_id,
            "start": rfc3339(self.start),
            "end": rfc3339(self.end),
            "expected_alerts": self.expected_alerts,
            "stop_request_expected": self.stop_request_expected,
            "ramming": self.ramming,
            "zone_id": self.zone_id,
            "zone_entry_ts": rfc3339(self.zone_entry),
            "entry_speed_kmh": self.entry_speed_kmh,
            "stop_request_before_entry": self.stop_request_before_entry,
            "details": self.details,
        }


@dataclass
class HardCase:
    """A stretch of normal behaviour that looks suspicious and must not raise an alert."""

    kind: str
    vehicle_id: str
    start: int
    end: int
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "vehicle_id": self.vehicle_id, "start": rfc3339(self.start),
                "end": rfc3339(self.end), "details": self.details}


def labels_document(*, generator: dict[str, Any], window: tuple[int, int], vehicles: list[dict[str, Any]],
                    incidents: list[IncidentLabel], hard_cases: list[HardCase],
                    delivery: dict[str, int]) -> dict[str, Any]:
    """labels.json: see docs/labels.md for every field."""
    start, end = window
    incident_vehicles = {i.vehicle_id for i in incidents}
    return {
        "format": LABELS_FORMAT,
        "generator": generator,
        "window": {"start": rfc3339(start), "end": rfc3339(end)},
        "vehicle_hours": round(len(vehicles) * (end - start) / 3600.0, 3),
        "vehicles": vehicles,
        "normal_vehicles": sorted(v["vehicle_id"] for v in vehicles if v["vehicle_id"] not in incident_vehicles),
        "incidents": [i.to_dict() for i in sorted(incidents, key=lambda i: (i.start or 0, i.incident_id))],
        "hard_cases": [h.to_dict() for h in sorted(hard_cases, key=lambda h: (h.start, h.vehicle_id, h.kind))],
        "delivery": delivery,
    }
