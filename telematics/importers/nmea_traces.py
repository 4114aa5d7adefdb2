"""NMEA 0183 logs (RMC and GGA sentences, with pynmea2) to device reports of one device.

RMC carries the date, position, speed in knots, course and a validity flag; GGA the fix quality, satellites in
use, HDOP and altitude but no date. A GGA is joined to the RMC of the same time of day.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pynmea2

from telematics.devices.telemetry import DeviceReport, device_seq
from telematics.importers import Rejected, epoch_ms

KNOT_KMH = 1.852


def read_nmea(path: Path, device_id: str | None, rejected: list[Rejected]) -> Iterator[DeviceReport]:
    """One report per RMC sentence, with the GGA of the same second when there is one."""
    device = device_id or path.stem
    gga: dict[Any, pynmea2.GGA] = {}
    pending: list[tuple[int, pynmea2.RMC]] = []
    with open(path, encoding="ascii", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            text = line.strip()
            if not text.startswith(("$", "!")):
                continue
            try:
                sentence = pynmea2.parse(text, check=True)
            except (pynmea2.ParseError, pynmea2.ChecksumError, ValueError) as exc:
                rejected.append(Rejected(f"{path}:{number}", f"not a valid NMEA sentence ({exc})"))
                continue
            if isinstance(sentence, pynmea2.GGA) and sentence.timestamp is not None:
                gga[sentence.timestamp] = sentence
            elif isinstance(sentence, pynmea2.RMC):
                pending.append((number, sentence))
    for number, rmc in pending:
        if rmc.datestamp is None or rmc.timestamp is None:
            rejected.append(Rejected(f"{path}:{number}", "RMC without date or time"))
            continue
        ts_ms = epoch_ms(datetime.combine(rmc.datestamp, rmc.timestamp))
        fields: dict[str, Any] = {"source": "import", "seq": device_seq(ts_ms)}
        valid = rmc.status == "A"
        if valid:
            fields.update(lat=rmc.latitude, lon=rmc.longitude, gnss_fix=True)
            if rmc.spd_over_grnd not in (None, ""):
                fields["gnss_speed_kmh"] = float(rmc.spd_over_grnd) * KNOT_KMH
            if rmc.true_course not in (None, ""):
                fields["heading_deg"] = float(rmc.true_course) % 360
        else:
            fields["gnss_fix"] = False
        fix = gga.get(rmc.timestamp)
        if fix is not None:
            if fix.num_sats not in (None, ""):
                fields["satellites"] = int(fix.num_sats)
            if fix.horizontal_dil not in (None, ""):
                fields["hdop"] = float(fix.horizontal_dil)
            if valid and fix.altitude not in (None, ""):
                fields["altitude_m"] = float(fix.altitude)
        yield DeviceReport(device, ts_ms, fields)
