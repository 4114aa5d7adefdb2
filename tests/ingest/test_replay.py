"""`truckguard replay`: byte-identical reruns, rejects with line numbers, ordering and duplicates, the summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ingest.replay import replay_bundle
from tests.bundles import night_theft_into_market, theft_wave, write_bundle


def run_replay(bundle: Path, out: Path) -> tuple[bytes, bytes, bytes]:
    out.mkdir(exist_ok=True)
    replay_bundle(bundle, out / "alerts.jsonl", out / "stops.jsonl", out / "rejects.jsonl", progress=False)
    return tuple((out / name).read_bytes() for name in ("alerts.jsonl", "stops.jsonl", "rejects.jsonl"))  # type: ignore[return-value]


def test_two_runs_give_identical_bytes(tmp_path: Path) -> None:
    fleet, records = theft_wave(12)
    bundle = write_bundle(tmp_path / "bundle", records, fleet=fleet)
    first = run_replay(bundle, tmp_path / "one")
    second = run_replay(bundle, tmp_path / "two")
    assert first == second
    assert first[0].count(b"\n") >= 12 * 4  # four alert kinds per stolen truck
    assert first[1].count(b"\n") == 12  # one stop request per truck


def test_disorder_and_duplicates_give_the_same_alerts_as_clean_input(tmp_path: Path) -> None:
    fleet, messy = theft_wave(6, disorder=True)
    _, clean = theft_wave(6, disorder=False)
    messy_out = run_replay(write_bundle(tmp_path / "messy", messy, fleet=fleet), tmp_path / "m")
    clean_out = run_replay(write_bundle(tmp_path / "clean", clean, fleet=fleet), tmp_path / "c")
    assert len(messy) > len(clean)  # the duplicates are really there
    # Held records are released a little later, so lines interleave differently across vehicles; each is identical.
    for messy_lines, clean_lines in zip(messy_out[:2], clean_out[:2], strict=True):
        assert sorted(messy_lines.splitlines()) == sorted(clean_lines.splitlines())


def test_rejects_file_names_each_bad_line_and_reason(tmp_path: Path) -> None:
    good = night_theft_into_market()
    lines: list[object] = [good[0], "not json", {"vehicle_id": "NF-101"}, *good[1:], {"vehicle_id": "NF 1", "ts": 0}]
    bundle = write_bundle(tmp_path / "b", lines)
    _, _, rejects = run_replay(bundle, tmp_path / "out")
    rows = [json.loads(line) for line in rejects.splitlines()]
    assert [r["line"] for r in rows] == [2, 3, len(lines)]
    assert rows[0]["error"].startswith("message: not valid JSON")
    assert rows[1]["error"].startswith("ts: missing")
    assert rows[2]["error"].startswith("vehicle_id: got 'NF 1'")
    assert rows[0]["raw"] == "not json"


def test_a_record_later_than_the_lateness_is_rejected_not_lost(tmp_path: Path) -> None:
    records = night_theft_into_market()
    late = dict(records[5], seq=999)  # arrives after the whole drive: 70 s behind, beyond 60 s
    bundle = write_bundle(tmp_path / "b", [*records, late])
    _, _, rejects = run_replay(bundle, tmp_path / "out")
    (row,) = [json.loads(line) for line in rejects.splitlines()]
    assert row["line"] == len(records) + 1
    assert "allowed lateness is 60 s" in row["error"]


def test_command_line_prints_a_summary(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", [*night_theft_into_market(), "oops"])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "truckguard",
            "replay",
            str(bundle),
            "--alerts",
            str(tmp_path / "a.jsonl"),
            "--stop-requests",
            str(tmp_path / "s.jsonl"),
            "--rejects",
            str(tmp_path / "r.jsonl"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = result.stderr
    assert "records               76" in summary
    assert "rejected               1" in summary
    assert "protected_zone_intrusion" in summary and "records/s" in summary
    kinds = {json.loads(line)["kind"] for line in (tmp_path / "a.jsonl").read_text().splitlines()}
    assert {"unauthorized_driver", "off_hours_use", "protected_zone_intrusion", "speed_in_zone"} <= kinds
