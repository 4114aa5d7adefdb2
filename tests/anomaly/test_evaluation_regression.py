"""The detector's scores on a small labelled suite stay at least as good as the thresholds in docs/evaluation.json."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from anomaly.evaluation import EvaluationReport, GroupScore, evaluate
from can_sim.scenarios import generate_bundle
from ingest.replay import replay_bundle

FIGURES = Path(__file__).resolve().parents[2] / "docs" / "evaluation.json"


def _suite() -> dict[str, Any]:
    return json.loads(FIGURES.read_text())["regression"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> EvaluationReport:
    suite = _suite()["suite"]
    work = tmp_path_factory.mktemp("regression")
    bundle = work / "bundle"
    generate_bundle(
        bundle,
        seed=suite["seed"],
        vehicles=suite["vehicles"],
        days=suite["days"],
        start=datetime.fromisoformat(suite["start"]).astimezone(UTC),
        cities=list(suite["cities"]),
        incidents=list(suite["incidents"]),
    )
    replay_bundle(bundle, work / "alerts.jsonl", work / "stops.jsonl", progress=False)

    def rows(path: Path) -> list[dict[str, Any]]:
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    labels = json.loads((bundle / "labels.json").read_text())
    return evaluate(labels, rows(work / "alerts.jsonl"), rows(work / "stops.jsonl"))


def _dense(report: EvaluationReport) -> GroupScore:
    """The vehicles whose units report at least every 15 s while moving (evaluate's cadence class "<=15 s")."""
    (group,) = [g for g in report.by_group if g.grouping == "cadence" and g.group == "<=15 s"]
    return group


def test_recall_and_every_incident_on_a_dense_unit_detected(report: EvaluationReport) -> None:
    at_least = _suite()["thresholds"]
    assert report.recall is not None and report.recall >= at_least["recall"], report.missed
    dense = _dense(report)
    assert dense.recall is not None and dense.recall >= at_least["dense_recall"], report.missed
    assert dense.ramming.incidents >= 2, "the suite must put rammings on dense units"


def test_ramming_on_a_dense_unit_flagged_before_zone_entry(report: EvaluationReport) -> None:
    at_least = _suite()["thresholds"]
    ramming = _dense(report).ramming
    assert ramming.share_detected_before_entry is not None
    assert ramming.share_detected_before_entry >= at_least["dense_share_detected_before_entry"]
    assert ramming.lead_time_median_s is not None
    assert ramming.lead_time_median_s >= at_least["dense_lead_time_median_s"]


def test_false_alerts_and_false_stop_requests(report: EvaluationReport) -> None:
    at_most = _suite()["thresholds"]
    loud = sum(row.count for row in report.false_alerts if row.severity in ("warning", "critical"))
    assert loud * 1000.0 / report.vehicle_hours <= at_most["false_loud_alerts_per_1000_vehicle_hours"], (
        report.false_alerts_by_kind
    )
    assert report.false_stop_requests <= at_most["false_stop_requests"]
