"""Contract v1: our copy of the schemas is the shared one, and what the detector writes validates against it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from ingest.replay import replay_bundle
from telematics.contract import SCHEMAS, schema
from telematics.outputs import ALERT_KINDS, SEVERITIES, STOP_MODES, STOP_STATUSES
from tests.bundles import theft_wave, write_bundle

SHARED = Path(__file__).resolve().parents[2] / "shared" / "contract"


@pytest.mark.parametrize("name", SCHEMAS)
def test_shipped_schema_is_the_shared_contract(name: str) -> None:
    shared = SHARED / f"{name}.schema.json"
    if not shared.exists():
        pytest.skip(f"{shared} is not beside this checkout; the shipped copy is checked where it is")
    assert schema(name) == json.loads(shared.read_text())


def test_our_enumerations_are_the_contract_s() -> None:
    alert = schema("alert")["properties"]
    stop = schema("stop_request")["properties"]
    assert tuple(alert["kind"]["enum"]) == ALERT_KINDS
    assert tuple(alert["severity"]["enum"]) == SEVERITIES
    assert tuple(stop["mode"]["enum"]) == STOP_MODES
    assert tuple(stop["status"]["enum"]) == STOP_STATUSES


def test_replay_outputs_validate_against_the_schemas(tmp_path: Path) -> None:
    fleet, records = theft_wave(5)
    bundle = write_bundle(tmp_path / "b", records, fleet=fleet)
    replay_bundle(bundle, tmp_path / "a.jsonl", tmp_path / "s.jsonl", progress=False)
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    alerts = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    stops = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert alerts and stops
    for alert in alerts:
        jsonschema.validate(alert, schema("alert"), format_checker=checker)
    for stop in stops:
        jsonschema.validate(stop, schema("stop_request"), format_checker=checker)
    for record in records:
        jsonschema.validate(record, schema("telemetry"), format_checker=checker)
