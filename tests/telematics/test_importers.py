"""`truckguard import`: CSV, GPX and NMEA traces into a bundle that the replay command reads."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import orjson
import pytest

from telematics.bundle import load_reference
from telematics.importers import TraceFormatError
from telematics.importers.bundle_writer import REJECTS_FILE, import_traces
from telematics.importers.csv_traces import CsvLayout, parse_columns
from telematics.settings import Settings
from telematics.validation import validate_record
from truckguard.commands.devices import register


def _lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def test_csv_with_named_columns_local_time_and_mph(tmp_path: Path) -> None:
    trace = tmp_path / "export.csv"
    trace.write_text(
        "Fahrzeug;Zeit;Breite;Laenge;Tempo;Zuendung\n"
        "TRK-1;24.11.2025 17:00:10;52,5200;13,4000;30;1\n"
        "TRK-1;24.11.2025 17:00:00;52.5190;13.3990;0;0\n"
        "TRK-1;not a time;52.5;13.4;0;0\n"
        "TRK-1;24.11.2025 17:00:20;95.0;13.4;0;0\n",
        encoding="utf-8",
    )
    layout = CsvLayout(
        columns=parse_columns(["device_id=Fahrzeug", "ts=Zeit", "lat=Breite", "lon=Laenge", "speed=Tempo",
                               "ignition=Zuendung"]),
        time_format="%d.%m.%Y %H:%M:%S", timezone="Europe/Berlin", speed_unit="mph",
    )
    summary = import_traces([trace], tmp_path / "bundle", layout=layout)
    records = _lines(tmp_path / "bundle" / "telemetry.jsonl")
    assert [r["ts"] for r in records] == ["2025-11-24T16:00:00Z", "2025-11-24T16:00:10Z"]  # sorted, CET is UTC+1
    assert records[1]["gnss_speed_kmh"] == pytest.approx(48.28032)  # 30 mph
    assert records[1]["lat"] == pytest.approx(52.52) and records[1]["ignition"] is True
    assert all(r["source"] == "import" and r["vehicle_id"] == "TRK-1" for r in records)
    for record in records:
        validate_record(record)
    rejects = _lines(tmp_path / "bundle" / REJECTS_FILE)
    assert len(rejects) == 2 and summary.records == 2
    assert any("lat" in r["reason"] for r in rejects)  # 95 degrees north
    assert summary.fleet_generated


def test_generated_fleet_loads_and_says_it_was_generated(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("imei,time,lat,lon\n864636060000001,1764000000,52.5,13.4\n")
    import_traces([trace], tmp_path / "b", layout=CsvLayout(time_format="epoch_s"))
    fleet = json.loads((tmp_path / "b" / "fleet.json").read_text())
    assert "Generated" in fleet["note"]
    reference = load_reference(tmp_path / "b")
    assert list(reference.vehicles) == ["864636060000001"]
    assert json.loads((tmp_path / "b" / "zones.geojson").read_text())["features"] == []


def test_devices_map_to_vehicles_by_device_ids(tmp_path: Path) -> None:
    fleet = {"fleets": [{"fleet_id": "f", "name": "F", "kind": "rental", "timezone": "UTC"}],
             "vehicles": [{"vehicle_id": "SV-7", "fleet_id": "f", "device_ids": ["phone-42"]}], "sites": []}
    fleet_file = tmp_path / "fleet.json"
    fleet_file.write_text(json.dumps(fleet))
    trace = tmp_path / "t.csv"
    trace.write_text("device,time,lat,lon\nphone-42,2025-11-24T16:00:00Z,52.5,13.4\n"
                     "stranger,2025-11-24T16:00:00Z,52.5,13.4\nphone-42,2025-11-24T16:00:00Z,52.5,13.4\n")
    summary = import_traces([trace], tmp_path / "b", fleet_file=fleet_file)
    records = _lines(tmp_path / "b" / "telemetry.jsonl")
    assert [r["vehicle_id"] for r in records] == ["SV-7"]  # the repeated point once; the stranger refused
    assert [r.where for r in summary.rejected] == ["device 'stranger'"]
    assert json.loads((tmp_path / "b" / "fleet.json").read_text()) == fleet


GPX = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
 <trk><name>VAN-3</name><trkseg>
  <trkpt lat="41.3870" lon="2.1700"><ele>12.0</ele><time>2025-11-24T08:00:00Z</time><sat>8</sat><hdop>1.2</hdop></trkpt>
  <trkpt lat="41.3875" lon="2.1710"><ele>12.5</ele><time>2025-11-24T08:00:05Z</time></trkpt>
  <trkpt lat="41.3880" lon="2.1720"></trkpt>
 </trkseg></trk>
</gpx>
"""


def test_gpx_track(tmp_path: Path) -> None:
    trace = tmp_path / "day.gpx"
    trace.write_text(GPX)
    summary = import_traces([trace], tmp_path / "b")
    records = _lines(tmp_path / "b" / "telemetry.jsonl")
    assert [r["vehicle_id"] for r in records] == ["VAN-3", "VAN-3"]
    assert records[0]["satellites"] == 8 and records[0]["hdop"] == 1.2 and records[0]["altitude_m"] == 12.0
    assert [r.reason for r in summary.rejected] == ["no time"]


def _nmea(body: str) -> str:
    checksum = 0
    for char in body:
        checksum ^= ord(char)
    return f"${body}*{checksum:02X}"


def test_nmea_rmc_joined_with_gga(tmp_path: Path) -> None:
    lines = [
        _nmea("GPGGA,092750.000,5321.6802,N,00630.3372,W,1,8,1.03,61.7,M,55.2,M,,"),
        _nmea("GPRMC,092750.000,A,5321.6802,N,00630.3372,W,20.0,45.0,241125,,,A"),
        _nmea("GPRMC,092751.000,V,,,,,,,241125,,,N"),
        "$GPRMC,092752.000,A,5321.6802,N,00630.3372,W,0.02,31.66,241125,,,A*00",  # wrong checksum
    ]
    trace = tmp_path / "unit.nmea"
    trace.write_text("\n".join(lines) + "\n")
    summary = import_traces([trace], tmp_path / "b", device_id="TRK-9")
    records = _lines(tmp_path / "b" / "telemetry.jsonl")
    assert len(records) == 2
    first = records[0]
    assert first["ts"] == "2025-11-24T09:27:50Z"
    assert first["lat"] == pytest.approx(53.36134) and first["lon"] == pytest.approx(-6.50562)
    assert first["gnss_speed_kmh"] == pytest.approx(37.04)  # 20 knots
    assert first["satellites"] == 8 and first["hdop"] == pytest.approx(1.03) and first["altitude_m"] == 61.7
    assert records[1]["gnss_fix"] is False and "lat" not in records[1]
    assert len(summary.rejected) == 1 and "NMEA" in summary.rejected[0].reason


def test_unreadable_inputs_say_why(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("a,b\n1,2\n")
    with pytest.raises(TraceFormatError, match="no column for ts, lat, lon"):
        import_traces([trace], tmp_path / "b")
    with pytest.raises(TraceFormatError, match="suffix"):
        import_traces([tmp_path / "t.kml"], tmp_path / "b")
    with pytest.raises(TraceFormatError, match="speed unit"):
        CsvLayout(speed_unit="furlongs")


def run_command(argv: list[str]) -> int:
    """Parses argv with the subcommands of truckguard/commands/devices.py and runs the chosen handler."""
    parser = argparse.ArgumentParser(prog="truckguard")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args, Settings())


def test_import_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "day.csv"
    trace.write_text("Zeit;Breite;Laenge\n24.11.2025 09:00;52.5;13.4\n")
    argv = ["import", str(trace), "--out", str(tmp_path / "b"), "--device-id", "TRK-1", "--column", "ts=Zeit",
            "--column", "lat=Breite", "--column", "lon=Laenge", "--time-format", "%d.%m.%Y %H:%M",
            "--timezone", "Europe/Berlin"]
    assert run_command(argv) == 0
    assert "1 telemetry records of 1 vehicles imported" in capsys.readouterr().out
    assert _lines(tmp_path / "b" / "telemetry.jsonl")[0]["ts"] == "2025-11-24T08:00:00Z"
