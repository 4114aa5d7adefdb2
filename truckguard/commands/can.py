"""`truckguard can`: J1939 intrusion detection, trained on clean captures and scored on a log."""

from __future__ import annotations

import argparse
from pathlib import Path

from telematics.settings import Settings
from truckguard.commands.common import Subparsers, add_action, add_command, load_can_model


def cmd_can_train(args: argparse.Namespace, settings: Settings) -> int:
    from anomaly.can_intrusion import train_can_model

    senders: dict[int, list[int]] = {}
    for spec in args.control_sender or ():
        pgn, _, sa = spec.partition("=")
        senders.setdefault(int(pgn, 0), []).append(int(sa, 0))
    model = train_can_model([Path(c) for c in args.captures], control_senders=senders or None)
    model.save(Path(args.out))
    print(f"CAN model of {len(args.captures)} capture(s) saved to {args.out}")
    return 0


def cmd_can_detect(args: argparse.Namespace, settings: Settings) -> int:
    from anomaly.can_intrusion import score_log

    windows = score_log(Path(args.log), load_can_model(Path(args.model) if args.model else None))
    flagged = [w for w in windows if w.labels]
    for window in flagged:
        print(f"{window.vehicle_id} window {window.index} at {window.start:.3f}: {', '.join(sorted(window.labels))}")
    print(f"{len(windows)} windows scored, {len(flagged)} with an attack")
    return 0


SIMULATED_SCENARIOS = {
    "zone-approach": "an N3 truck at 50 km/h straight into a pedestrian zone it may not enter, no backend link",
    "zone-pass-by": "the same truck on a road alongside the zone at 50 km/h",
    "gnss-jammed-approach": "the approach with GNSS jammed 200 m before the zone",
    "aebs-off-approach": "emergency braking switched off 30 s before the truck heads into the zone",
    "delivery-window": "a permitted delivery entering at walking pace inside its window",
}
"""The scenarios of can_sim/truck/zone_scenarios.py (named here so that help needs no simulator import; a test
holds the two lists equal)."""


def cmd_can_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from can_sim.truck.zone_scenarios import write_scenario_bundle

    out = Path(args.out)
    run = write_scenario_bundle(args.scenario, out, seed=args.seed)
    governed = [r for r in run.records if (r.get("speed_governor") or {}).get("active")]
    print(f"{args.scenario}: {len(run.records)} records, {len(run.truck.frames)} frames, governed in "
          f"{len(governed)} records; bundle written to {out} (replay it with `truckguard replay {out} ...`)")
    return 0


def register(sub: Subparsers) -> None:
    p = add_command(sub, "can", cmd_can_detect, "CAN bus intrusion detection (J1939).")
    actions = p.add_subparsers(dest="can_action", required=True, metavar="ACTION")
    train = add_action(actions, "train", cmd_can_train, "learn a vehicle model's normal traffic from clean captures")
    train.add_argument("captures", nargs="+", help="capture files in any format python-can reads, or can.jsonl")
    train.add_argument("--out", required=True, help="where to save the model (JSON)")
    train.add_argument(
        "--control-sender",
        action="append",
        metavar="PGN=SA",
        help="a node allowed to send TSC1 (PGN 0) or XBR (1024), e.g. 0=0x03 (repeatable)",
    )
    simulate = add_action(actions, "simulate", cmd_can_simulate,
                          "write a replayable bundle (fleet.json, trips.geojson, zones.geojson, telemetry.jsonl, "
                          "can.jsonl) of one simulated J1939 truck with its on-board zone guard")
    simulate.add_argument("scenario", choices=SIMULATED_SCENARIOS, metavar="SCENARIO",
                          help="; ".join(f"{name}: {summary}" for name, summary in SIMULATED_SCENARIOS.items()))
    simulate.add_argument("--out", required=True, help="the bundle directory to write")
    simulate.add_argument("--seed", type=int, default=0, help="varies start, speed and offsets (default 0)")
    detect = add_action(actions, "detect", cmd_can_detect, "score a CAN log file window by window")
    detect.add_argument("log", help="a CAN log (asc, blf, candump .log, csv, trc, ...) or can.jsonl")
    detect.add_argument(
        "--model", help="model from `truckguard can train` (without it, the J1939 protocol rules alone)"
    )
