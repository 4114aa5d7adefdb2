"""`truckguard demo`: the whole platform on one machine on its embedded defaults."""

from __future__ import annotations

import argparse

from telematics.settings import Settings
from truckguard.commands.common import Subparsers, add_command
from truckguard.signals import stop_on_signals


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from truckguard.demo import run_demo

    return run_demo(
        settings, speed=args.speed, stop=stop_on_signals(), duration_s=args.duration, durable=args.durable
    )


def register(sub: Subparsers) -> None:
    p = add_command(
        sub, "demo", cmd_demo, "Run everything on one machine: broker, detector, simulated fleet, store and web site."
    )
    p.add_argument("--speed", type=float, default=5.0, help="simulated fleet's speed-up over real time (default 5)")
    p.add_argument("--duration", type=float, help="stop by itself after this many seconds (default: until Ctrl-C)")
    p.add_argument("--port", dest="web_port", type=int, help="web port (TRUCKGUARD_WEB_PORT, default 8000)")
    p.add_argument("--broker-port", type=int, help="embedded broker port (TRUCKGUARD_BROKER_PORT)")
    p.add_argument(
        "--durable", action="store_true", help="keep the embedded broker's messages on disk (see broker --durable)"
    )
