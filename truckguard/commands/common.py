"""What several command groups share: adding a command, the usual flags, and the parts built from settings."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from telematics.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]
Subparsers = Any  # argparse's _SubParsersAction, which it does not export


def add_command(sub: Subparsers, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
    """A top-level command whose handler gets the parsed flags and the settings."""
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=handler)
    return parser


def add_action(actions: Subparsers, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
    """An action of a command group (`truckguard users add`)."""
    parser = actions.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=handler)
    return parser


def kafka_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap",
        dest="bootstrap_servers",
        help="Kafka bootstrap servers HOST:PORT "
        "(TRUCKGUARD_BOOTSTRAP_SERVERS; default: the embedded broker on 127.0.0.1:broker port)",
    )
    parser.add_argument(
        "--partitions", type=int, help="partitions of topics created when missing (TRUCKGUARD_PARTITIONS)"
    )


def database_url_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="SQLAlchemy URL of the store (TRUCKGUARD_DATABASE_URL)")


def models_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models", dest="models_dir", type=Path, help="behaviour models from `truckguard train` (TRUCKGUARD_MODELS)"
    )


def lateness_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lateness", dest="lateness_s", type=float, help="seconds a record may arrive late (TRUCKGUARD_LATENESS_S)"
    )


def load_models(settings: Settings):
    """The behaviour models named by the settings, or None."""
    if settings.models_dir is None:
        return None
    from anomaly.behaviour.store import load_models as load

    return load(settings.models_dir)


def load_can_model(path: Path | None):
    """The trained CAN model at path; without one, the J1939 protocol rules alone (an empty model)."""
    from anomaly.can_intrusion import CanModel

    return CanModel.load(path) if path is not None else CanModel()


def reference_source(settings: Settings):
    """Reference data from a directory when one is configured, else the web site's snapshots on the topic."""
    from ingest.reference_source import DirectorySource, TopicSource
    from ingest.topics import ensure_topics

    if settings.reference_dir is not None:
        return DirectorySource(settings.reference_dir)
    ensure_topics(settings.bootstrap, settings.partitions)
    return TopicSource(settings.bootstrap)


def stop_pid_file(pid_file: Path, what: str) -> int:
    """Stop the background process whose pid a previous command wrote to pid_file."""
    if not pid_file.exists():
        print(f"no {what} started by truckguard is running ({pid_file} not found)", file=sys.stderr)
        return 1
    pid = int(pid_file.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    pid_file.unlink()
    print(f"{what} (pid {pid}) stopped")
    return 0
