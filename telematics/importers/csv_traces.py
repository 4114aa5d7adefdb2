"""CSV traces with configurable columns, time format and units to device reports."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from telematics.devices.telemetry import DeviceReport, device_seq
from telematics.importers import Rejected, TraceFormatError, epoch_ms

SPEED_UNITS_KMH = {"kmh": 1.0, "mps": 3.6, "knots": 1.852, "mph": 1.609344}
"""km/h per unit: 1 m/s = 3.6 km/h; 1 knot = 1852 m/h; 1 statute mile = 1609.344 m."""
TIME_FORMATS = ("iso", "epoch_s", "epoch_ms")
"""Besides these, any strptime pattern such as '%d.%m.%Y %H:%M:%S'."""

DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "device_id": ("device_id", "device", "imei", "vehicle_id", "vehicle", "unit", "id"),
    "ts": ("ts", "time", "timestamp", "datetime", "date_time", "fix_time", "gps_time"),
    "lat": ("lat", "latitude"),
    "lon": ("lon", "lng", "long", "longitude"),
    "speed": ("speed", "speed_kmh", "gnss_speed_kmh"),
    "heading": ("heading", "course", "bearing", "heading_deg"),
    "ignition": ("ignition", "ign"),
    "hdop": ("hdop",),
    "satellites": ("satellites", "sats", "sat"),
    "altitude": ("altitude", "alt", "elevation", "ele"),
    "odometer_km": ("odometer_km", "odometer"),
}
_FIELDS = {"speed": "gnss_speed_kmh", "heading": "heading_deg", "hdop": "hdop", "satellites": "satellites",
           "altitude": "altitude_m", "odometer_km": "odometer_km"}


@dataclass(frozen=True)
class CsvLayout:
    """How a fleet's CSV export is laid out: which column holds what, in which time format and speed unit."""

    columns: dict[str, str] = field(default_factory=dict)
    """Our name (device_id, ts, lat, lon, speed, heading, ignition, hdop, satellites, altitude, odometer_km)
    -> the file's column header; names not given are looked for under common headers."""
    time_format: str = "iso"
    timezone: str = "UTC"
    """For times written without an offset (local time of the export)."""
    speed_unit: str = "kmh"
    device_id: str | None = None
    """For a file of one device that has no device column."""
    delimiter: str | None = None
    """None: sniffed from the first line (comma, semicolon, tab)."""

    def __post_init__(self) -> None:
        if self.speed_unit not in SPEED_UNITS_KMH:
            raise TraceFormatError(f"speed unit {self.speed_unit!r}, expected one of {', '.join(SPEED_UNITS_KMH)}")
        if self.time_format not in TIME_FORMATS and "%" not in self.time_format:
            raise TraceFormatError(f"time format {self.time_format!r}, expected {', '.join(TIME_FORMATS)} "
                                   "or a strptime pattern like '%d.%m.%Y %H:%M:%S'")


def parse_columns(specs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """'lat=Latitude' style options to a column mapping."""
    out = {}
    for spec in specs:
        name, sep, header = spec.partition("=")
        if not sep or name not in DEFAULT_COLUMNS or not header:
            names = ", ".join(DEFAULT_COLUMNS)
            raise TraceFormatError(f"column {spec!r}: expected NAME=HEADER with NAME one of {names}")
        out[name] = header
    return out


def _resolve(headers: list[str], layout: CsvLayout) -> dict[str, str]:
    lowered = {h.strip().lower(): h for h in headers}
    resolved = {}
    for name, candidates in DEFAULT_COLUMNS.items():
        given = layout.columns.get(name)
        if given is not None:
            if given not in headers:
                raise TraceFormatError(f"column {given!r} (for {name}) is not in the header: {', '.join(headers)}")
            resolved[name] = given
            continue
        match = next((lowered[c] for c in candidates if c in lowered), None)
        if match is not None:
            resolved[name] = match
    missing = [n for n in ("ts", "lat", "lon") if n not in resolved]
    if "device_id" not in resolved and layout.device_id is None:
        missing.append("device_id (or give the device id of the whole file)")
    if missing:
        raise TraceFormatError(f"no column for {', '.join(missing)} in header {', '.join(headers)}; name it")
    return resolved


def parse_time(text: str, layout: CsvLayout) -> int:
    """A time cell to epoch milliseconds (UTC), as the layout says it is written."""
    text = text.strip()
    if layout.time_format == "epoch_s":
        return round(float(text) * 1000)
    if layout.time_format == "epoch_ms":
        return int(float(text))
    if layout.time_format == "iso":
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    else:
        moment = datetime.strptime(text, layout.time_format)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(layout.timezone))
    return epoch_ms(moment)


def _number(text: str, what: str) -> float:
    value = float(text.replace(",", ".") if text.count(",") == 1 and "." not in text else text)
    if not math.isfinite(value):
        raise ValueError(f"{what} {text!r} is not finite")
    return value


def _boolean(text: str) -> bool | None:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    return None


def _row_report(row: Mapping[str, str], columns: Mapping[str, str], layout: CsvLayout) -> DeviceReport:
    device_id = (row.get(columns["device_id"]) or "").strip() if "device_id" in columns else layout.device_id
    if not device_id:
        raise ValueError("no device id")
    ts_ms = parse_time(row[columns["ts"]], layout)
    fields: dict[str, Any] = {"source": "import"}
    lat_text, lon_text = (row.get(columns["lat"]) or "").strip(), (row.get(columns["lon"]) or "").strip()
    if lat_text and lon_text:
        fields.update(lat=_number(lat_text, "lat"), lon=_number(lon_text, "lon"), gnss_fix=True)
    else:
        fields["gnss_fix"] = False
    for name, target in _FIELDS.items():
        text = (row.get(columns[name]) or "").strip() if name in columns else ""
        if text:
            value = _number(text, name)
            fields[target] = value * SPEED_UNITS_KMH[layout.speed_unit] if name == "speed" else value
    if "satellites" in fields:
        fields["satellites"] = int(fields["satellites"])
    if "ignition" in columns and _boolean(row.get(columns["ignition"]) or "") is not None:
        fields["ignition"] = _boolean(row[columns["ignition"]])
    fields["seq"] = device_seq(ts_ms)
    return DeviceReport(device_id, ts_ms, fields)


def read_csv(path: Path, layout: CsvLayout, rejected: list[Rejected]) -> Iterator[DeviceReport]:
    """Every row as a report; a row that cannot be read is listed in ``rejected`` with its line number."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        sample = handle.read(8192)
        handle.seek(0)
        delimiter = layout.delimiter
        if delimiter is None:
            try:
                delimiter = csv.Sniffer().sniff(sample.split("\n", 1)[0], delimiters=",;\t|").delimiter
            except csv.Error:
                delimiter = ","
        reader = csv.DictReader(handle, delimiter=delimiter)
        if not reader.fieldnames:
            raise TraceFormatError(f"{path}: empty file, expected a header line")
        columns = _resolve(list(reader.fieldnames), layout)
        for row in reader:
            try:
                yield _row_report(row, columns, layout)
            except (ValueError, KeyError, TypeError) as exc:
                rejected.append(Rejected(f"{path}:{reader.line_num}", str(exc) or type(exc).__name__))
