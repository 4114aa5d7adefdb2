"""Window-by-window scores of a whole CAN log (``truckguard can detect LOG``) and window-level F1 against labels."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from anomaly.can_intrusion.detector import CanIntrusionDetector
from anomaly.can_intrusion.findings import CanDetectorConfig
from anomaly.can_intrusion.frames import as_triples
from anomaly.can_intrusion.model import ATTACKS, CanModel
from telematics.canlog import batch_to_frames, read_frames

BATCH_SUFFIX = ".jsonl"
"""Files of contract section-5 batches (a bundle's can.jsonl); any other suffix is a python-can log format."""


class WindowScore(msgspec.Struct, kw_only=True):
    """One window of one vehicle's bus: how many frames, which attacks (labels) and how sure (scores)."""

    vehicle_id: str
    index: int
    """Window number: start time divided by the window length."""
    start: float
    frames: int
    labels: list[str]
    scores: dict[str, float]
    details: dict[str, Any]


def score_frames(
    frames: Iterable[Any], model: CanModel, *, vehicle_id: str = "log", config: CanDetectorConfig | None = None,
    detector: CanIntrusionDetector | None = None,
) -> list[WindowScore]:
    """Every window of one vehicle's frames (in bus order) with the attacks the detector saw in it."""
    detector = detector or CanIntrusionDetector(model, config)
    triples = as_triples(frames)
    w = model.window_s
    counts = Counter(math.floor(t / w) for t, _, _ in triples)
    state = detector.new_state(vehicle_id)
    findings = detector.observe_batch(state, triples) + detector.flush(state)
    by_window: dict[int, list[Any]] = {}
    for finding in findings:
        by_window.setdefault(round(finding.window_start / w), []).append(finding)
    windows = []
    for index in sorted(counts):
        found = by_window.get(index, [])
        windows.append(
            WindowScore(
                vehicle_id=vehicle_id, index=index, start=index * w, frames=counts[index],
                labels=sorted(f.attack for f in found), scores={f.attack: f.score for f in found},
                details={f.attack: f.details for f in found},
            )
        )
    return windows


def score_log(path: Path | str, model: CanModel, *, config: CanDetectorConfig | None = None) -> list[WindowScore]:
    """Windows with labels and scores for a CAN log (python-can formats) or a file of contract batches."""
    path = Path(path)
    detector = CanIntrusionDetector(model, config)
    if path.suffix.lower() != BATCH_SUFFIX:
        return score_frames(read_frames(path), model, vehicle_id=path.stem, detector=detector)
    per_vehicle: dict[str, list[Any]] = {}
    with path.open("rb") as lines:
        for line in lines:
            if line.strip():
                batch = msgspec.json.decode(line)
                per_vehicle.setdefault(batch["vehicle_id"], []).extend(batch_to_frames(batch))
    windows: list[WindowScore] = []
    for vehicle_id in sorted(per_vehicle):
        windows.extend(score_frames(per_vehicle[vehicle_id], model, vehicle_id=vehicle_id, detector=detector))
    return windows


def window_f1(
    predicted: Mapping[int, Iterable[str]],
    labels: Mapping[int, Iterable[str]],
    windows: Iterable[int],
    attacks: Sequence[str] = ATTACKS,
) -> dict[str, dict[str, float]]:
    """Per attack type: true/false positives and negatives over windows, precision, recall and F1."""
    table: dict[str, dict[str, float]] = {}
    window_list = list(windows)
    for attack in attacks:
        tp = fp = fn = 0
        for index in window_list:
            got = attack in set(predicted.get(index, ()))
            want = attack in set(labels.get(index, ()))
            tp += got and want
            fp += got and not want
            fn += want and not got
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        table[attack] = {"tp": tp, "fp": fp, "fn": fn, "support": tp + fn,
                         "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}
    return table
