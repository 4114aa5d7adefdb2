"""`truckguard broker`: the embedded Kafka-compatible broker, started in the background or in the foreground."""

from __future__ import annotations

import argparse

from telematics.settings import Settings
from truckguard.commands.common import Subparsers, add_command, stop_pid_file
from truckguard.signals import stop_on_signals


def cmd_broker(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.broker import BrokerStorage, EmbeddedBroker

    pid_file = settings.data_dir / "broker.pid"
    if args.stop:
        return stop_pid_file(pid_file, "broker")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    storage = BrokerStorage.durable(settings.data_dir, settings.broker_storage) if args.durable else BrokerStorage()
    broker = EmbeddedBroker(
        settings.broker_port, log_path=settings.data_dir / "broker.log", detached=not args.foreground,
        storage=storage,
    )
    bootstrap = broker.start()
    assert broker.process is not None
    kept = f"messages kept {storage.describe()}"
    if args.foreground:
        print(f"broker answers at {bootstrap}, {kept} (Ctrl-C stops it)", flush=True)
        stop_on_signals().wait()
        broker.stop()
        return 0
    pid_file.write_text(str(broker.process.pid))
    print(f"broker answers at {bootstrap}, {kept} (pid {broker.process.pid}; `truckguard broker --stop` stops it)")
    return 0


def register(sub: Subparsers) -> None:
    p = add_command(
        sub, "broker", cmd_broker, "Start the embedded Kafka-compatible broker on loopback; returns when it answers."
    )
    p.add_argument("--port", dest="broker_port", type=int, help="listen on 127.0.0.1:PORT (TRUCKGUARD_BROKER_PORT)")
    p.add_argument("--foreground", action="store_true", help="stay attached until Ctrl-C")
    p.add_argument("--stop", action="store_true", help="stop the broker a previous `truckguard broker` started")
    p.add_argument(
        "--durable",
        action="store_true",
        help="keep messages, consumer offsets and detector checkpoints on disk (DATA_DIR/broker-storage), or on "
        "TRUCKGUARD_BROKER_STORAGE, so a restart of the broker or the machine loses nothing; default: in memory",
    )
