"""GPX tracks (with gpxpy) to device reports: one device per track, or the device id given for the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gpxpy
import gpxpy.gpx

from telematics.devices.telemetry import DeviceReport, device_seq
from telematics.importers import Rejected, TraceFormatError, epoch_ms

MPS_KMH = 3.6


def read_gpx(path: Path, device_id: str | None, rejected: list[Rejected]) -> Iterator[DeviceReport]:
    """Track points with a time; the device is ``device_id``, else the track's name, else the file's name."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = gpxpy.parse(handle)
    except (gpxpy.gpx.GPXException, ValueError) as exc:
        raise TraceFormatError(f"{path}: not a GPX file ({exc})") from None
    for t, track in enumerate(document.tracks):
        device = device_id or (track.name or "").strip() or path.stem
        for s, segment in enumerate(track.segments):
            for p, point in enumerate(segment.points):
                where = f"{path}: track {t} segment {s} point {p}"
                if point.time is None:
                    rejected.append(Rejected(where, "no time"))
                    continue
                ts_ms = epoch_ms(point.time)
                fields: dict[str, Any] = {"source": "import", "lat": point.latitude, "lon": point.longitude,
                                          "gnss_fix": True, "seq": device_seq(ts_ms)}
                if point.speed is not None:
                    fields["gnss_speed_kmh"] = point.speed * MPS_KMH
                if point.course is not None:
                    fields["heading_deg"] = point.course % 360
                if point.elevation is not None:
                    fields["altitude_m"] = point.elevation
                if point.satellites is not None:
                    fields["satellites"] = int(point.satellites)
                if point.horizontal_dilution is not None:
                    fields["hdop"] = float(point.horizontal_dilution)
                yield DeviceReport(device, ts_ms, fields)
