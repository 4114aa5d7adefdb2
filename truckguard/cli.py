"""The `truckguard` command: parses flags, builds the settings, and hands off to the command group's handler."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from telematics.errors import TruckguardError
from telematics.settings import SettingsError, load_settings
from truckguard.commands import (
    audit,
    basemap,
    broker,
    can,
    db,
    demo,
    detect,
    devices,
    fleet,
    keys,
    notify,
    replay,
    scenarios,
    site,
    toolkit,
    users,
)

log = logging.getLogger("truckguard")

# Each group adds its commands; the order is the order of `truckguard --help`.
COMMAND_GROUPS = (
    replay, can, scenarios, toolkit, broker, detect, fleet, notify, site, db, users, keys, audit, demo, devices,
    basemap,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="truckguard",
        description="Real-time hijack, theft and ramming detection for commercial vehicle fleets.",
        epilog="Every flag has a TRUCKGUARD_* environment variable; see the README's Configuration section.",
    )
    parser.add_argument("--data-dir", type=Path, help="where the store, logs and demo data live (TRUCKGUARD_DATA_DIR)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING (TRUCKGUARD_LOG_LEVEL)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


_SETTINGS_FLAGS = (
    "data_dir",
    "log_level",
    "bootstrap_servers",
    "partitions",
    "broker_port",
    "reference_dir",
    "group_id",
    "lateness_s",
    "web_host",
    "web_port",
    "database_url",
    "models_dir",
    "can_model_path",
)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings().with_overrides(**{k: getattr(args, k, None) for k in _SETTINGS_FLAGS})
    except SettingsError as exc:
        print(f"truckguard: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("kafka", "alembic", "numexpr"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        return args.handler(args, settings)
    except (TruckguardError, OSError) as exc:
        # Ours (bad input, configuration, a part that failed) and the file system's: one line, what to fix.
        # Anything else is a bug and keeps its traceback.
        log.debug("failed", exc_info=True)
        print(f"truckguard {args.command}: {exc}", file=sys.stderr)
        return 1
