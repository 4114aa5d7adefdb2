"""Saves and loads behaviour models: joblib files of the fitted forests beside a JSON manifest (called by the edges)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import sklearn

from anomaly.behaviour.features import FEATURES
from anomaly.behaviour.model import MODEL_VERSION, BehaviourModels, compile_forest
from telematics.errors import BadInput

MANIFEST_FILE = "manifest.json"
FORESTS_FILE = "forests.joblib"


class ModelStoreError(BadInput):
    """A model directory is missing, or was made for other features or another model version."""


def save_models(out_dir: Path, forests: dict[str, Any], thresholds: dict[str, tuple[float, float]],
                summary: dict[str, Any]) -> dict[str, Any]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(forests, out_dir / FORESTS_FILE)
    manifest = {
        "model_version": MODEL_VERSION,
        "features": list(FEATURES),
        "sklearn_version": sklearn.__version__,
        "fleet_ids": sorted(forests),
        "thresholds": {f: {"anomalous_below": t[0], "strongly_below": t[1]} for f, t in sorted(thresholds.items())},
        "training": summary,
        "files": {"forests": FORESTS_FILE},
    }
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def load_models(model_dir: Path) -> BehaviourModels:
    model_dir = Path(model_dir)
    manifest_path = model_dir / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ModelStoreError(f"{manifest_path}: file not found (expected a directory written by `truckguard train`)")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("model_version") != MODEL_VERSION:
        raise ModelStoreError(
            f"{manifest_path}: model_version {manifest.get('model_version')!r}, expected {MODEL_VERSION!r}; retrain"
        )
    if tuple(manifest.get("features", ())) != FEATURES:
        raise ModelStoreError(f"{manifest_path}: features {manifest.get('features')!r}, expected {list(FEATURES)}")
    forests = joblib.load(model_dir / manifest["files"]["forests"])
    fleets = {
        fleet_id: compile_forest(
            fleet_id, forest,
            manifest["thresholds"][fleet_id]["anomalous_below"], manifest["thresholds"][fleet_id]["strongly_below"],
        )
        for fleet_id, forest in sorted(forests.items())
    }
    return BehaviourModels(fleets=fleets, manifest=manifest)
