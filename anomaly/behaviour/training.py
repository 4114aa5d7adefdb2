"""Trains one isolation forest per fleet on normal history: batch window features with polars, then scikit-learn."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sklearn.ensemble import IsolationForest
from tqdm import tqdm

from anomaly.behaviour.features import FEATURES, MAX_STEP_MS, MIN_RECORDS, WINDOW_MS, hour_of_day
from anomaly.behaviour.model import BehaviourModels, compile_forest
from anomaly.behaviour.store import save_models
from anomaly.config import EngineConfig
from anomaly.observation import Observation
from anomaly.spatial import ReferenceIndex
from telematics.bundle import TELEMETRY_FILE, iter_lines, load_reference
from telematics.errors import BadInput
from telematics.parse import parse_telemetry
from telematics.records import TelemetryRecord
from telematics.reference import ReferenceData
from telematics.validation import InvalidRecord

MIN_WINDOWS = 30
"""A fleet with fewer normal windows than this gets no model (it would call everything strange)."""
THRESHOLD_QUANTILE = 0.005
THRESHOLD_MARGIN = 0.02
STRONG_MARGIN = 0.06


class TrainingError(BadInput):
    """Training input is unusable: no records, or no reference data for records given directly."""


@dataclass
class TrainReport:
    out_path: Path
    records: int = 0
    rejected: int = 0
    windows: dict[str, int] = field(default_factory=dict)
    fleets_skipped: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        lines = [f"records   {self.records:>10}   (rejected {self.rejected})"]
        lines += [f"fleet {f:<20} {n:>6} windows, anomalous below {self.thresholds[f]:.3f}"
                  for f, n in sorted(self.windows.items()) if f in self.thresholds]
        lines += [f"fleet {f:<20} skipped: {why}" for f, why in sorted(self.fleets_skipped.items())]
        lines.append(f"saved to  {self.out_path}")
        return "\n".join(lines)


def record_rows(records: Iterable[TelemetryRecord], reference: ReferenceData,
                config: EngineConfig | None = None) -> dict[str, list[Any]]:
    """The per-record quantities the window features are built from, as columns (one bundle's records)."""
    config = config or EngineConfig()
    index = ReferenceIndex(reference)
    columns: dict[str, list[Any]] = {k: [] for k in (
        "vehicle_id", "fleet_id", "ts_ms", "seq", "speed", "moving", "heading", "route_excess", "on_trip", "has_fix")}
    for record in records:
        vehicle = reference.vehicles.get(record.vehicle_id)
        if vehicle is None:
            continue
        obs = Observation(record=record, reference=reference, config=config, vehicle=vehicle,
                          fleet=reference.fleets.get(vehicle.fleet_id), last_lat=None, last_lon=None,
                          open_alerts={}, index=index)
        columns["vehicle_id"].append(record.vehicle_id)
        columns["fleet_id"].append(vehicle.fleet_id)
        columns["ts_ms"].append(record.ts_ms)
        columns["seq"].append(-1 if record.seq is None else record.seq)
        columns["speed"].append(obs.speed_kmh)
        columns["moving"].append(obs.moving)
        columns["heading"].append(record.heading_deg)
        columns["route_excess"].append(obs.route_excess_m)
        columns["on_trip"].append(obs.trip is not None)
        columns["has_fix"].append(record.has_position)
    return columns


def window_features(rows: pl.DataFrame, reference: ReferenceData) -> pl.DataFrame:
    """Per (vehicle, window) features from per-record rows, as the engine computes them online."""
    df = (
        rows.unique(subset=["vehicle_id", "seq", "ts_ms"], keep="first", maintain_order=True)
        .sort(["vehicle_id", "ts_ms", "seq"])
        .with_columns(
            gap=(pl.col("ts_ms") - pl.col("ts_ms").shift(1).over("vehicle_id")).fill_null(0),
            prev_heading=pl.col("heading").shift(1).over("vehicle_id"),
            prev_moving=pl.col("moving").shift(1).over("vehicle_id").fill_null(False),
            window=pl.col("ts_ms") // WINDOW_MS * WINDOW_MS,
        )
        .with_columns(
            turn_raw=(pl.col("heading") - pl.col("prev_heading")).abs() % 360.0,
            metres=(pl.col("speed") / 3.6 * pl.col("gap").clip(upper_bound=MAX_STEP_MS) / 1000).fill_null(0.0),
        )
        .with_columns(
            turn=pl.when(pl.col("moving") & pl.col("prev_moving") & pl.col("turn_raw").is_not_null())
            .then(pl.when(pl.col("turn_raw") > 180.0).then(360.0 - pl.col("turn_raw")).otherwise(pl.col("turn_raw")))
            .otherwise(0.0)
        )
    )
    grouped = (
        df.group_by(["fleet_id", "vehicle_id", "window"], maintain_order=True)
        .agg(
            n=pl.len(),
            mean_speed_kmh=pl.col("speed").mean().fill_null(0.0),
            std_speed_kmh=pl.col("speed").std(ddof=0).fill_null(0.0),
            max_speed_kmh=pl.col("speed").max().fill_null(0.0).clip(lower_bound=0.0),
            stop_ratio=(~pl.col("moving")).mean(),
            heading_change_deg_per_min=pl.col("turn").sum() / (WINDOW_MS / 60_000),
            km_driven=pl.col("metres").sum() / 1000,
            route_excess_m=pl.col("route_excess").max(),
            on_trip_ratio=pl.col("on_trip").mean(),
            max_gap_s=pl.col("gap").max() / 1000,
            no_fix_ratio=(~pl.col("has_fix")).mean(),
        )
        .filter(pl.col("n") >= MIN_RECORDS)
    )
    hours = [
        hour_of_day(w, reference.fleets[f].timezone)
        for f, w in zip(grouped["fleet_id"].to_list(), grouped["window"].to_list(), strict=True)
    ]
    return grouped.with_columns(
        hour_sin=pl.Series([h[0] for h in hours], dtype=pl.Float64),
        hour_cos=pl.Series([h[1] for h in hours], dtype=pl.Float64),
    ).sort(["fleet_id", "vehicle_id", "window"])


def _bundle_frames(sources: list[Any], reference: ReferenceData | None, progress: bool,
                   report: TrainReport) -> list[pl.DataFrame]:
    frames = []
    bar = tqdm(total=len(sources), unit="bundle", desc="features", disable=not progress)
    try:
        for source in sources:
            if isinstance(source, str | Path):
                bundle = Path(source)
                ref = load_reference(bundle)
                records = []
                for _, line in iter_lines(bundle / TELEMETRY_FILE):
                    try:
                        records.append(parse_telemetry(line))
                    except InvalidRecord:
                        report.rejected += 1
            else:
                if reference is None:
                    raise TrainingError("records given without reference data: pass reference=ReferenceData(...)")
                ref, records = reference, list(source)
            report.records += len(records)
            rows = pl.DataFrame(record_rows(records, ref), schema={
                "vehicle_id": pl.Utf8, "fleet_id": pl.Utf8, "ts_ms": pl.Int64, "seq": pl.Int64,
                "speed": pl.Float64, "moving": pl.Boolean, "heading": pl.Float64, "route_excess": pl.Float64,
                "on_trip": pl.Boolean, "has_fix": pl.Boolean})
            if rows.height:
                frames.append(window_features(rows, ref))
            bar.update(1)
    finally:
        bar.close()
    return frames


def train_models(
    bundles_or_records: Iterable[Any],
    out_path: Path,
    *,
    reference: ReferenceData | None = None,
    progress: bool = True,
    seed: int = 0,
    n_estimators: int = 100,
) -> TrainReport:
    """Train and save one model per fleet on normal history.

    ``bundles_or_records``: bundle directories (each with its own reference data), or lists of TelemetryRecord
    (then ``reference`` is required), or a mix. Only normal history belongs here: anything in it is "normal".
    """
    sources = list(bundles_or_records)
    if sources and isinstance(sources[0], TelemetryRecord):
        sources = [sources]
    report = TrainReport(out_path=Path(out_path))
    frames = _bundle_frames(sources, reference, progress, report)
    if not frames:
        raise TrainingError("no usable records to train on")
    table = pl.concat(frames)
    forests: dict[str, IsolationForest] = {}
    thresholds: dict[str, tuple[float, float]] = {}
    fleets = sorted(set(table["fleet_id"].to_list()))
    for fleet_id in tqdm(fleets, unit="fleet", desc="train", disable=not progress):
        x = table.filter(pl.col("fleet_id") == fleet_id).select(FEATURES).to_numpy().astype(np.float64)
        report.windows[fleet_id] = len(x)
        if len(x) < MIN_WINDOWS:
            report.fleets_skipped[fleet_id] = f"{len(x)} windows, at least {MIN_WINDOWS} needed"
            continue
        forest = IsolationForest(n_estimators=n_estimators, max_samples=min(256, len(x)), max_features=1.0,
                                 random_state=seed).fit(x)
        scores = forest.score_samples(x)
        low = float(np.quantile(scores, THRESHOLD_QUANTILE))
        thresholds[fleet_id] = (low - THRESHOLD_MARGIN, low - STRONG_MARGIN)
        report.thresholds[fleet_id] = thresholds[fleet_id][0]
        forests[fleet_id] = forest
    summary = {
        "records": report.records,
        "rejected": report.rejected,
        "windows": dict(sorted(report.windows.items())),
        "window_s": WINDOW_MS // 1000,
        "seed": seed,
        "feature_means": {
            f: {n: round(float(v), 4) for n, v in zip(FEATURES, table.filter(pl.col("fleet_id") == f)
                                                     .select(FEATURES).mean().row(0), strict=True)
                if v is not None and math.isfinite(v)}
            for f in sorted(forests)
        },
    }
    report.manifest = save_models(Path(out_path), forests, thresholds, summary)
    return report


def models_from_forests(
    forests: dict[str, IsolationForest], thresholds: dict[str, tuple[float, float]]
) -> BehaviourModels:
    """In-memory models without a round trip through files (tests, notebooks)."""
    return BehaviourModels(fleets={f: compile_forest(f, forests[f], *thresholds[f]) for f in sorted(forests)})
