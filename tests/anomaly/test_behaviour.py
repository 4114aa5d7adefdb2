"""behaviour_anomaly: training per fleet with a manifest, compiled scoring equal to scikit-learn's, online = batch."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from anomaly.behaviour.features import FEATURES
from anomaly.behaviour.store import ModelStoreError, load_models
from anomaly.behaviour.training import record_rows, train_models, window_features
from anomaly.detectors.behaviour import BehaviourState
from anomaly.engine import DetectionEngine
from telematics.validation import validate_record
from tests.anomaly.helpers import DEPOT, Track, alerts, point, reference, run


def normal_days() -> list[dict]:
    records = []
    for day, vehicle in enumerate(["NF-101", "NF-102"] * 15):
        start = f"{7 + day % 5:02d}:{(day * 7) % 60:02d}:00"
        track = Track(vehicle, start, point(DEPOT, 90, 200 * day))
        for leg in range(8):
            track.drive((leg * 90) % 360, 240, 40 + (leg % 3) * 5, every_s=5).stand(120, every_s=20)
        records += [dict(r, seq=r["seq"] + 10_000 * day) for r in track.records]
    return records


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    ref = reference()
    out = tmp_path_factory.mktemp("models")
    records = [validate_record(r) for r in normal_days()]
    report = train_models(records, out, reference=ref, progress=False, n_estimators=50)
    return ref, out, report, records


def test_training_saves_versioned_models_with_a_manifest(trained):
    _, out, report, _ = trained
    manifest = json.loads((Path(out) / "manifest.json").read_text())
    assert manifest["fleet_ids"] == ["nordfracht"] and manifest["features"] == list(FEATURES)
    assert manifest["model_version"] and manifest["sklearn_version"]
    assert manifest["training"]["windows"]["nordfracht"] == report.windows["nordfracht"] > 30


def test_compiled_forest_scores_like_scikit_learn(trained):
    import joblib

    ref, out, _, records = trained
    models = load_models(out)
    table = window_features(pl.DataFrame(record_rows(records, ref)), ref)
    x = table.select(FEATURES).to_numpy()
    forest = joblib.load(Path(out) / "forests.joblib")["nordfracht"]
    expected = forest.score_samples(x)
    got = [models.fleets["nordfracht"].score(list(map(float, row))) for row in x]
    assert got == pytest.approx(list(expected), abs=1e-9)


def test_online_window_features_match_the_batch_features(trained):
    ref, out, _, records = trained
    engine = DetectionEngine(ref, models=load_models(out))
    mine = [r for r in records if r.vehicle_id == "NF-101"][:400]
    for record in mine:
        engine.process(record)
    engine.flush_all()
    state = engine._states["NF-101"].detectors["behaviour_anomaly"]
    assert isinstance(state, BehaviourState) and state.last_window_ms is not None
    table = window_features(pl.DataFrame(record_rows(mine, ref)), ref)
    batch = table.filter(pl.col("window") == state.last_window_ms).select(FEATURES).row(0)
    assert state.last_features == pytest.approx(list(batch), rel=1e-9, abs=1e-9)


def test_a_night_joyride_is_a_behaviour_anomaly_and_a_normal_day_is_not(trained):
    ref, out, _, _ = trained
    models = load_models(out)
    night = Track("NF-101", "01:00:00", (52.47, 13.40)).drive(0, 1500, 95, every_s=5, driver_card_id=...)
    assert alerts(run(ref, night.records, models=models), "behaviour_anomaly")
    day = Track("NF-101", "09:10:00", point(DEPOT, 90, 400))
    for leg in range(4):
        day.drive((leg * 90) % 360, 240, 45, every_s=5).stand(120, every_s=20)
    assert not alerts(run(ref, day.records, models=models), "behaviour_anomaly")


def test_loading_refuses_models_made_for_other_features(trained, tmp_path):
    _, out, _, _ = trained
    manifest = json.loads((Path(out) / "manifest.json").read_text())
    manifest["features"] = ["speed"]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelStoreError, match="features"):
        load_models(tmp_path)
