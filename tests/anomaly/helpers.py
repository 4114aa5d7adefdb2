"""Reference data and record sequences built by code, and a runner that feeds them to a fresh engine."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from anomaly.engine import DetectionEngine, Output
from telematics.bundle import parse_fleet_document, parse_trips_document, parse_zones_document
from telematics.geo import destination
from telematics.outputs import Alert, StopRequest, encode
from telematics.reference import ReferenceData
from telematics.timeutil import format_ms, parse_rfc3339_ms
from telematics.validation import validate_record
from tests.bundles import DEPOT, FLEET, MARKET_CENTRE, ZONES

DAY = "2026-11-24"  # a Tuesday
CARD = "DE0000012345"


def at(hhmmss: str) -> int:
    return parse_rfc3339_ms(f"{DAY}T{hhmmss}Z")


def reference(trips: list[dict[str, Any]] | None = None, zones: dict[str, Any] | None = None,
              fleet: dict[str, Any] | None = None) -> ReferenceData:
    fleets, vehicles, sites = parse_fleet_document(copy.deepcopy(fleet or FLEET))
    trip_doc = {"type": "FeatureCollection", "features": trips or []}
    return ReferenceData(fleets=fleets, vehicles=vehicles, sites=sites, trips=parse_trips_document(trip_doc),
                         zones=parse_zones_document(zones or ZONES))


def trip_feature(route: list[tuple[float, float]], *, start: str, end: str, vehicle_id: str = "NF-101",
                 corridor_m: float = 200, stops: list[dict[str, Any]] | None = None,
                 trip_id: str = "T-1") -> dict[str, Any]:
    """A planned trip along (lat, lon) points."""
    return {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[lon, lat] for lat, lon in route]},
            "properties": {"trip_id": trip_id, "vehicle_id": vehicle_id, "driver_card_id": CARD,
                           "planned_start": f"{DAY}T{start}Z", "planned_end": f"{DAY}T{end}Z",
                           "corridor_m": corridor_m, "stops": stops or []}}


class Track:
    """Builds one vehicle's records leg by leg: drive on a course, stand still, with any extra fields."""

    def __init__(self, vehicle_id: str, start: str, origin: tuple[float, float], **fields: Any) -> None:
        self.vehicle_id = vehicle_id
        self.t = at(start)
        self.lat, self.lon = origin
        self.seq = 0
        self.fields = {"ignition": True, "driver_card_id": CARD, "ext_power_v": 24.0, **fields}
        self.records: list[dict[str, Any]] = []

    def _emit(self, speed: float, heading: float, **fields: Any) -> None:
        record = {"vehicle_id": self.vehicle_id, "ts": format_ms(self.t), "seq": self.seq, **self.fields,
                  "wheel_speed_kmh": speed, "gnss_speed_kmh": speed, "heading_deg": heading, **fields}
        if record.get("gnss_fix", True):
            record.update(lat=round(self.lat, 7), lon=round(self.lon, 7))
        else:
            record.pop("gnss_speed_kmh", None)
        self.records.append({k: v for k, v in record.items() if v is not ...})
        self.seq += 1

    def drive(self, course: float, seconds: int, speed: float, every_s: int = 1, accel: float = 0.0,
              **fields: Any) -> Track:
        for _ in range(0, seconds, every_s):
            self._emit(speed, course, **fields)
            step = speed / 3.6 * every_s
            self.lat, self.lon = destination(self.lat, self.lon, course, step)
            self.t += every_s * 1000
            speed = max(0.0, speed + accel * 3.6 * every_s)
        return self

    def stand(self, seconds: int, every_s: int = 10, **fields: Any) -> Track:
        for _ in range(0, seconds, every_s):
            self._emit(0.0, 0.0, **fields)
            self.t += every_s * 1000
        return self

    def set(self, **fields: Any) -> Track:
        self.fields.update(fields)
        return self

    def silence(self, seconds: int) -> Track:
        self.t += seconds * 1000
        return self

    @property
    def position(self) -> tuple[float, float]:
        return self.lat, self.lon


def run(ref: ReferenceData, records: Iterable[dict[str, Any]], engine: DetectionEngine | None = None,
        **engine_args: Any) -> list[Output]:
    engine = engine or DetectionEngine(ref, **engine_args)
    outputs: list[Output] = []
    for raw in records:
        outputs.extend(engine.process(validate_record(raw)).outputs)
    outputs.extend(engine.flush_all())
    return outputs


def alerts(outputs: list[Output], kind: str | None = None) -> list[Alert]:
    return [o for o in outputs if isinstance(o, Alert) and (kind is None or o.kind == kind)]


def stops(outputs: list[Output]) -> list[StopRequest]:
    return [o for o in outputs if isinstance(o, StopRequest)]


def as_bytes(outputs: list[Output]) -> bytes:
    return b"\n".join(encode(o) for o in outputs)


def loud(outputs: list[Output]) -> list[Alert]:
    """Warning and critical alerts: what counts as a false alarm on a normal day."""
    return [a for a in alerts(outputs) if a.severity in ("warning", "critical")]


def point(centre: tuple[float, float], course: float, metres: float) -> tuple[float, float]:
    return destination(centre[0], centre[1], course, metres)


__all__ = ["CARD", "DEPOT", "MARKET_CENTRE", "Track", "alerts", "as_bytes", "at", "loud", "point", "reference",
           "run", "stops", "trip_feature"]
