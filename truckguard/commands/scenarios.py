"""`truckguard scenarios` and `train`: labelled scenario bundles, and behaviour models learnt from normal days."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from telematics.settings import Settings
from truckguard.commands.common import Subparsers, add_action, add_command


def cmd_scenarios_generate(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from tqdm import tqdm

    from can_sim.scenarios import generate_bundle

    start = datetime.fromisoformat(args.start) if args.start else datetime(2026, 12, 1, tzinfo=UTC)
    if start.tzinfo is None:
        print("scenarios generate: --start needs a UTC offset, e.g. 2026-12-01T00:00:00Z", file=sys.stderr)
        return 2
    with tqdm(unit=" lines", desc="generate", disable=None) as bar:
        summary = generate_bundle(
            Path(args.out),
            seed=args.seed,
            vehicles=args.vehicles,
            days=args.days,
            start=start,
            cities=args.city or None,
            incidents=args.incidents,
            on_progress=lambda lines: bar.update(lines - bar.n),
            profiles=args.profiles == "mixed",
            device_profile=args.device_profile,
            driving_profile=args.driving_profile,
        )
    print(json.dumps(summary.to_dict(), indent=2, default=str))
    return 0


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from anomaly.behaviour.training import train_models

    report = train_models([Path(b) for b in args.bundles], Path(args.out), progress=not args.no_progress)
    print(report.render())
    return 0


def register(sub: Subparsers) -> None:
    p = add_command(sub, "train", cmd_train, "Train the per-fleet behaviour models on bundles of normal history.")
    p.add_argument("bundles", nargs="+", help="bundle directories of normal operation (no incidents)")
    p.add_argument("--out", required=True, help="directory to save the models and their manifest in")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = add_command(
        sub, "scenarios", cmd_scenarios_generate, "Labelled scenario bundles: normal days, hard cases, incidents."
    )
    actions = p.add_subparsers(dest="scenarios_action", required=True, metavar="ACTION")
    gen = add_action(
        actions, "generate", cmd_scenarios_generate, "write a labelled bundle (fleet, trips, zones, telemetry, labels)"
    )
    gen.add_argument("out", help="bundle directory to write")
    gen.add_argument("--seed", type=int, default=1, help="random seed: the same seed gives the same bytes")
    gen.add_argument("--vehicles", type=int, default=30)
    gen.add_argument("--days", type=float, default=1.0)
    gen.add_argument("--start", help="RFC 3339 start with offset (default 2026-12-01T00:00:00Z)")
    gen.add_argument("--city", action="append", help="Berlin, Nice, Stockholm, London, Barcelona (repeatable)")
    gen.add_argument("--incidents", type=int, help="how many incidents (default: one per three vehicles, capped)")
    gen.add_argument(
        "--profiles", choices=("mixed", "classic"), default="mixed",
        help="mixed: each vehicle draws a device profile (cadence, GNSS noise, buffering) and a driving profile "
        "(early and late, breaks, queues, detours) from the seed; classic: 1 Hz units on punctual plans",
    )
    gen.add_argument("--device-profile", help="give every vehicle this device profile (see docs/labels.md)")
    gen.add_argument("--driving-profile", help="give every vehicle this driving profile (see docs/labels.md)")
