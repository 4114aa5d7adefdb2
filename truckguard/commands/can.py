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
    detect = add_action(actions, "detect", cmd_can_detect, "score a CAN log file window by window")
    detect.add_argument("log", help="a CAN log (asc, blf, candump .log, csv, trc, ...) or can.jsonl")
    detect.add_argument(
        "--model", help="model from `truckguard can train` (without it, the J1939 protocol rules alone)"
    )
