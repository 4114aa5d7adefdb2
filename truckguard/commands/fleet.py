"""`truckguard feed`, `fleet` and `dispatch`: bundles streamed live, J1939 trucks that obey stops, signed commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from telematics.settings import Settings
from truckguard.commands.common import Subparsers, add_command, kafka_flags
from truckguard.signals import stop_on_signals


def cmd_feed(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.feed import stream_bundle
    from ingest.topics import ensure_topics

    ensure_topics(settings.bootstrap, settings.partitions)
    sent = stream_bundle(Path(args.bundle), settings.bootstrap, speed=args.speed, stop=stop_on_signals())
    print(f"sent {sent} telemetry records to {settings.bootstrap}")
    return 0


def cmd_fleet(args: argparse.Namespace, settings: Settings) -> int:
    from can_sim.live_fleet import run_live_fleet
    from ingest.topics import ensure_topics
    from telematics.commands import PUBLIC_KEY_NAME

    ensure_topics(settings.bootstrap, settings.partitions)
    public_key = args.public_key
    if public_key is None and (settings.keys_dir / PUBLIC_KEY_NAME).exists():
        public_key = settings.keys_dir / PUBLIC_KEY_NAME
    stats = run_live_fleet(
        Path(args.bundle),
        settings.bootstrap,
        speed=args.speed,
        public_key_path=public_key,
        stop=stop_on_signals(),
        forward_can=args.can,
        bus_vehicles=args.bus,
        zone_guard=True if args.zone_guard else (args.zone_guard_on or False),
        skip_vehicles=args.skip or (),
    )
    print(stats.render())
    return 0


def cmd_dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.command_dispatch import CommandDispatch, DispatchOptions
    from telematics.commands import PRIVATE_KEY_NAME

    options = DispatchOptions(
        bootstrap=settings.bootstrap,
        private_key_path=settings.keys_dir / PRIVATE_KEY_NAME,
        partitions=settings.partitions,
        ttl_s=settings.command_ttl_s,
        max_authorization_age_s=settings.max_authorization_age_s,
    )
    CommandDispatch(options).run(stop_on_signals())
    return 0


def register(sub: Subparsers) -> None:
    p = add_command(
        sub, "feed", cmd_feed, "Stream a bundle's telemetry.jsonl to Kafka, paced in accelerated event time."
    )
    kafka_flags(p)
    p.add_argument("bundle", help="bundle directory")
    p.add_argument(
        "--speed", type=float, default=10.0, help="event-time speed-up; 0 = as fast as possible (default 10)"
    )

    p = add_command(
        sub, "fleet", cmd_fleet, "Replay a bundle's fleet live: incident vehicles as J1939 trucks that obey stops."
    )
    kafka_flags(p)
    p.add_argument("bundle", help="bundle directory (telemetry.jsonl; labels.json names the J1939 trucks)")
    p.add_argument("--speed", type=float, default=5.0, help="event-time speed-up over real time, above 0 (default 5)")
    p.add_argument(
        "--public-key",
        type=Path,
        help="command-signing public key the trucks trust "
        "(default: TRUCKGUARD_COMMAND_KEYS/command-signing.pub if present; none: commands are ignored)",
    )
    p.add_argument("--can", action="store_true", help="also publish raw CAN batches on truckguard.can.v1")
    p.add_argument(
        "--zone-guard",
        action="store_true",
        help="fit the J1939 trucks with the on-board zone guard, governed by the zone sets truckguard dispatch signs",
    )
    p.add_argument(
        "--zone-guard-on",
        action="append",
        metavar="VEHICLE",
        help="fit only this J1939 truck with the zone guard (repeatable; --zone-guard fits all of them)",
    )
    p.add_argument(
        "--bus",
        action="append",
        metavar="VEHICLE",
        help="run this vehicle on a J1939 bus (repeatable; default: the vehicles with incidents)",
    )
    p.add_argument(
        "--skip",
        action="append",
        metavar="VEHICLE",
        help="leave this vehicle's records out, as they reach the platform another way, e.g. through a device "
        "listener (repeatable; the demo's Teltonika unit)",
    )

    p = add_command(
        sub, "dispatch", cmd_dispatch, "Turn stop requests authorised by law enforcement into signed vehicle commands."
    )
    kafka_flags(p)
