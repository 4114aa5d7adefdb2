"""The `truckguard` command line: each command reachable, flags and TRUCKGUARD_* variables reach the settings."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from telematics.settings import SettingsError, documented_variables, load_settings
from toolkit.loader import default_content
from truckguard.cli import build_parser, main


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "truckguard", *args], capture_output=True, text=True)


def test_toolkit_export_prints_every_item_as_json_and_csv(capsys: pytest.CaptureFixture[str]) -> None:
    content = default_content()
    assert main(["toolkit", "export", "--format", "json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    ids = {item["id"] for item in exported["items"]}
    assert ids == set(content.items)
    assert all(item["sources"] and item["text"] for item in exported["items"])
    assert main(["toolkit", "export", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {row["id"] for row in rows} == ids


def test_every_documented_variable_is_in_the_readme() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = [v for v in documented_variables() if v not in readme]
    assert not missing


def test_bad_settings_are_refused_with_the_variable_named() -> None:
    with pytest.raises(SettingsError, match="TRUCKGUARD_PARTITIONS='many': expected int"):
        load_settings({"TRUCKGUARD_PARTITIONS": "many"})
    with pytest.raises(SettingsError, match="TRUCKGUARD_PARTITIONS=0"):
        load_settings({"TRUCKGUARD_PARTITIONS": "0"})
    result = run("replay", "x", "--alerts", "a", "--stop-requests", "s")
    assert result.returncode == 1 and "telemetry.jsonl: file not found" in result.stderr


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUCKGUARD_WEB_PORT", "8100")
    args = build_parser().parse_args(["web", "--port", "8200"])
    settings = load_settings().with_overrides(web_port=args.web_port)
    assert settings.web_port == 8200
    assert load_settings().web_port == 8100


def test_help_lists_every_command() -> None:
    result = run("--help")
    for command in ("replay", "broker", "detect", "feed", "web", "sink", "demo", "train", "toolkit"):
        assert command in result.stdout
