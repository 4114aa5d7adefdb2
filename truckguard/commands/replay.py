"""`truckguard replay` and `evaluate`: the detector over a bundle in event time, and its score against labels."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from telematics.settings import Settings
from truckguard.commands.common import (
    Subparsers,
    add_command,
    lateness_flag,
    load_can_model,
    load_models,
    models_flag,
)


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from anomaly.config import EngineConfig
    from ingest.replay import replay_bundle

    summary = replay_bundle(
        Path(args.bundle),
        Path(args.alerts),
        Path(args.stop_requests),
        Path(args.rejects) if args.rejects else None,
        config=EngineConfig(lateness_ms=int(settings.lateness_s * 1000)),
        models=load_models(settings),
        can_model=load_can_model(settings.can_model_path) if settings.can_model_path else None,
        progress=False if args.no_progress else None,
    )
    print(summary.render(), file=sys.stderr)
    return 0


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    import tempfile

    import orjson

    from anomaly.config import EngineConfig
    from anomaly.evaluation import evaluate, format_report
    from ingest.replay import replay_bundle

    bundle = Path(args.bundle)
    labels = orjson.loads((bundle / "labels.json").read_bytes())
    with tempfile.TemporaryDirectory(prefix="truckguard-evaluate-") as scratch:
        alerts_path = Path(args.alerts) if args.alerts else Path(scratch) / "alerts.jsonl"
        stops_path = Path(args.stop_requests) if args.stop_requests else Path(scratch) / "stop_requests.jsonl"
        if not (args.alerts and args.stop_requests):
            summary = replay_bundle(
                bundle,
                alerts_path,
                stops_path,
                config=EngineConfig(lateness_ms=int(settings.lateness_s * 1000)),
                models=load_models(settings),
                progress=False if args.no_progress else None,
            )
            print(summary.render(), file=sys.stderr)
        alerts = [orjson.loads(line) for line in alerts_path.read_bytes().splitlines() if line.strip()]
        stops = [orjson.loads(line) for line in stops_path.read_bytes().splitlines() if line.strip()]
    report = evaluate(labels, alerts, stops)
    print(format_report(report))
    if args.json:
        Path(args.json).write_bytes(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2))
    return 0


def register(sub: Subparsers) -> None:
    p = add_command(sub, "replay", cmd_replay, "Run the detector over a bundle in event time, with no broker or clock.")
    p.add_argument("bundle", help="bundle directory: fleet.json, trips.geojson, zones.geojson, telemetry.jsonl")
    p.add_argument("--alerts", required=True, help="write alerts here (JSON Lines)")
    p.add_argument("--stop-requests", required=True, help="write stop requests here (JSON Lines)")
    p.add_argument("--rejects", help="write each rejected line here with its line number and reason")
    lateness_flag(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    models_flag(p)
    p.add_argument(
        "--can-model",
        dest="can_model_path",
        type=Path,
        help="CAN model from `truckguard can train`, "
        "to run intrusion detection over the bundle's can.jsonl (TRUCKGUARD_CAN_MODEL)",
    )

    p = add_command(
        sub, "evaluate", cmd_evaluate, "Score the detector on a labelled bundle: recall, lead times, false alerts."
    )
    p.add_argument("bundle", help="a bundle with labels.json (see `truckguard scenarios generate`)")
    p.add_argument("--alerts", help="score these alerts instead of replaying the bundle now")
    p.add_argument("--stop-requests", help="score these stop requests instead of replaying the bundle now")
    p.add_argument("--json", help="also write the figures as JSON here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    models_flag(p)
