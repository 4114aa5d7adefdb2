"""`truckguard detect`: a live detector consuming telemetry and CAN frames, producing alerts and stop requests."""

from __future__ import annotations

import argparse
import dataclasses
import threading
from pathlib import Path

from telematics.settings import Settings
from truckguard.commands.common import (
    Subparsers,
    add_command,
    kafka_flags,
    lateness_flag,
    load_can_model,
    load_models,
    models_flag,
    reference_source,
)
from truckguard.signals import stop_on_signals

CAN_FETCH_MAX_WAIT_MS = 200


def cmd_detect(args: argparse.Namespace, settings: Settings) -> int:
    from anomaly.config import EngineConfig
    from anomaly.engine import DetectionEngine
    from ingest import topics
    from ingest.can_pipeline import CanPipeline
    from ingest.live_detector import LiveDetector, LiveDetectorOptions
    from ingest.pipeline import DetectPipeline

    options = LiveDetectorOptions(
        bootstrap=settings.bootstrap,
        group_id=settings.group_id,
        partitions=settings.partitions,
        config=EngineConfig(lateness_ms=int(settings.lateness_s * 1000)),
        idle_flush_s=settings.idle_flush_s,
        checkpoint_s=settings.checkpoint_s,
    )
    stop = stop_on_signals()
    reference = reference_source(settings)
    pipeline = DetectPipeline(DetectionEngine(reference.load(), options.config, models=load_models(settings)))
    # CAN frames are always scored: by the J1939 protocol rules, and by the model when there is one.
    # CAN findings come when a window of bus time closes (a second or more), so its fetches may wait longer: an
    # idle CAN loop then costs a tenth of the requests.
    can_options = dataclasses.replace(
        options, topic=topics.CAN, group_id=f"{settings.group_id}-can", fetch_max_wait_ms=CAN_FETCH_MAX_WAIT_MS
    )
    can_reference = reference_source(settings)
    can_pipeline = CanPipeline(load_can_model(settings.can_model_path), can_reference.load())
    can_loop = threading.Thread(
        target=LiveDetector(can_options, can_reference, can_pipeline).run, args=(stop,), name="can-detect"
    )
    can_loop.start()
    try:
        LiveDetector(options, reference, pipeline).run(stop)
    finally:
        stop.set()
        can_loop.join()
    return 0


def register(sub: Subparsers) -> None:
    p = add_command(
        sub, "detect", cmd_detect, "Run a live detector: consume telemetry, produce alerts and stop requests."
    )
    kafka_flags(p)
    models_flag(p)
    p.add_argument(
        "--reference",
        dest="reference_dir",
        type=Path,
        help="reference data directory in the bundle layout (TRUCKGUARD_REFERENCE); "
        "default: the web site's snapshots on truckguard.reference.v1",
    )
    p.add_argument("--group-id", help="consumer group shared by detector instances (TRUCKGUARD_GROUP_ID)")
    p.add_argument(
        "--can-model",
        dest="can_model_path",
        type=Path,
        help="CAN model from `truckguard can train`: adds spoofing and injection to the J1939 protocol rules that "
        "always watch truckguard.can.v1 (TRUCKGUARD_CAN_MODEL)",
    )
    lateness_flag(p)
