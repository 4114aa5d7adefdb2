"""`truckguard web`, `sink` and `reference`: the web site, the worker filling its store, and reference imports."""

from __future__ import annotations

import argparse
from pathlib import Path

from telematics.settings import Settings
from truckguard.commands.common import Subparsers, add_action, add_command, database_url_flag, kafka_flags
from truckguard.signals import stop_on_signals


def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    from web.migrate import upgrade_store
    from web.server import serve

    upgrade_store(settings.store_url)  # as `truckguard db upgrade` does; the site itself only checks
    serve(settings, settings.web_host, settings.web_port)
    return 0


def cmd_sink(args: argparse.Namespace, settings: Settings) -> int:
    from workers.sink import run_sink

    run_sink(settings, stop_on_signals())
    return 0


def cmd_reference_import(args: argparse.Namespace, settings: Settings) -> int:
    from web.db import find_store
    from web.reference import import_reference

    counts = import_reference(find_store(settings.database_url, settings.data_dir, create=True), Path(args.bundle))
    print(", ".join(f"{n} {what}" for what, n in counts.items()) + " imported; the sink publishes the new snapshot")
    return 0


def register(sub: Subparsers) -> None:
    p = add_command(sub, "web", cmd_web, "Serve the web site against the configured store.")
    p.add_argument("--host", dest="web_host", help="listen address (TRUCKGUARD_WEB_HOST, default 127.0.0.1)")
    p.add_argument("--port", dest="web_port", type=int, help="listen port (TRUCKGUARD_WEB_PORT, default 8000)")
    database_url_flag(p)

    p = add_command(sub, "sink", cmd_sink, "Consume alerts and stop requests from Kafka into the web store.")
    kafka_flags(p)
    database_url_flag(p)

    p = add_command(sub, "reference", cmd_reference_import, "Reference data in the web store.")
    actions = p.add_subparsers(dest="reference_action", required=True, metavar="ACTION")
    imp = add_action(
        actions, "import", cmd_reference_import, "load a bundle's fleet.json, trips.geojson and zones.geojson"
    )
    imp.add_argument("bundle")
    database_url_flag(imp)
