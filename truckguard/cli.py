"""The `truckguard` command: parses flags, builds the settings, and hands off to the part that does the work."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from telematics.errors import TruckguardError
from telematics.settings import Settings, SettingsError, load_settings
from truckguard.device_commands import register as register_device_commands
from truckguard.signals import stop_on_signals

log = logging.getLogger("truckguard")


# -- commands ----------------------------------------------------------------------------------------------
def _models(settings: Settings):
    if settings.models_dir is None:
        return None
    from anomaly.behaviour.store import load_models

    return load_models(settings.models_dir)


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from anomaly.config import EngineConfig
    from ingest.replay import replay_bundle

    summary = replay_bundle(
        Path(args.bundle),
        Path(args.alerts),
        Path(args.stop_requests),
        Path(args.rejects) if args.rejects else None,
        config=EngineConfig(lateness_ms=int(settings.lateness_s * 1000)),
        models=_models(settings),
        can_model=_can_model(settings.can_model_path),
        progress=False if args.no_progress else None,
    )
    print(summary.render(), file=sys.stderr)
    return 0


def _can_model(path: Path | None):
    """The trained CAN model at path; without one, the J1939 protocol rules alone (an empty model)."""
    from anomaly.can_intrusion import CanModel

    return CanModel.load(path) if path is not None else CanModel()


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

    windows = score_log(Path(args.log), _can_model(Path(args.model) if args.model else None))
    flagged = [w for w in windows if w.labels]
    for window in flagged:
        print(f"{window.vehicle_id} window {window.index} at {window.start:.3f}: {', '.join(sorted(window.labels))}")
    print(f"{len(windows)} windows scored, {len(flagged)} with an attack")
    return 0


def cmd_broker(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.broker import EmbeddedBroker

    pid_file = settings.data_dir / "broker.pid"
    if args.stop:
        return _stop_pid_file(pid_file, "broker")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    broker = EmbeddedBroker(
        settings.broker_port, log_path=settings.data_dir / "broker.log", detached=not args.foreground
    )
    bootstrap = broker.start()
    assert broker.process is not None
    if args.foreground:
        print(f"broker answers at {bootstrap} (Ctrl-C stops it)", flush=True)
        stop_on_signals().wait()
        broker.stop()
        return 0
    pid_file.write_text(str(broker.process.pid))
    print(f"broker answers at {bootstrap} (pid {broker.process.pid}; `truckguard broker --stop` stops it)")
    return 0


def _stop_pid_file(pid_file: Path, what: str) -> int:
    if not pid_file.exists():
        print(f"no {what} started by truckguard is running ({pid_file} not found)", file=sys.stderr)
        return 1
    pid = int(pid_file.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    pid_file.unlink()
    print(f"{what} (pid {pid}) stopped")
    return 0


def cmd_detect(args: argparse.Namespace, settings: Settings) -> int:
    from anomaly.config import EngineConfig
    from anomaly.engine import DetectionEngine
    from ingest import topics
    from ingest.live_detector import LiveDetector, LiveDetectorOptions
    from ingest.pipeline import DetectPipeline

    options = LiveDetectorOptions(
        bootstrap=settings.bootstrap,
        group_id=settings.group_id,
        partitions=settings.partitions,
        config=EngineConfig(lateness_ms=int(settings.lateness_s * 1000)),
        idle_flush_s=settings.idle_flush_s,
        checkpoint_s=settings.checkpoint_s,
    )
    stop = stop_on_signals()
    reference = _reference_source(settings)
    pipeline = DetectPipeline(DetectionEngine(reference.load(), options.config, models=_models(settings)))
    from ingest.can_pipeline import CanPipeline

    # CAN frames are always scored: by the J1939 protocol rules, and by the model when there is one.
    can_options = dataclasses.replace(options, topic=topics.CAN, group_id=f"{settings.group_id}-can")
    can_reference = _reference_source(settings)
    can_pipeline = CanPipeline(_can_model(settings.can_model_path), can_reference.load())
    can_loop = threading.Thread(
        target=LiveDetector(can_options, can_reference, can_pipeline).run, args=(stop,), name="can-detect"
    )
    can_loop.start()
    try:
        LiveDetector(options, reference, pipeline).run(stop)
    finally:
        stop.set()
        can_loop.join()
    return 0


def _reference_source(settings: Settings):
    from ingest.reference_source import DirectorySource, TopicSource
    from ingest.topics import ensure_topics

    if settings.reference_dir is not None:
        return DirectorySource(settings.reference_dir)
    ensure_topics(settings.bootstrap, settings.partitions)
    return TopicSource(settings.bootstrap)


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from anomaly.behaviour.training import train_models

    report = train_models([Path(b) for b in args.bundles], Path(args.out), progress=not args.no_progress)
    print(report.render())
    return 0


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
                models=_models(settings),
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


def cmd_toolkit_export(args: argparse.Namespace, settings: Settings) -> int:
    from toolkit.export import export_items

    sys.stdout.write(export_items(args.format))
    return 0


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
    )
    print(stats.render())
    return 0


def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    from web.server import serve

    serve(settings, settings.web_host, settings.web_port)
    return 0


def cmd_sink(args: argparse.Namespace, settings: Settings) -> int:
    from web.sink import run_sink

    run_sink(settings, stop_on_signals())
    return 0


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    from web.accounts import add_user
    from web.db import find_store

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    store = find_store(settings.database_url, settings.data_dir, create=True)
    secret = add_user(store, args.username, password, args.role, args.fleet or ())
    print(f"user {args.username} ({args.role}) created")
    if secret:
        print(f"second-factor secret (base32, for an authenticator app): {secret}")
    return 0


def cmd_users_token(args: argparse.Namespace, settings: Settings) -> int:
    from web.db import find_store
    from web.tokens import issue_token

    print(issue_token(find_store(settings.database_url, settings.data_dir), args.username, args.name))
    return 0


def cmd_users_totp(args: argparse.Namespace, settings: Settings) -> int:
    from web.accounts import reset_second_factor
    from web.db import find_store

    secret = reset_second_factor(find_store(settings.database_url, settings.data_dir), args.username)
    print(f"new second-factor secret for {args.username} (base32, for an authenticator app): {secret}")
    return 0


def cmd_reference_import(args: argparse.Namespace, settings: Settings) -> int:
    from web.db import find_store
    from web.reference import import_reference

    counts = import_reference(find_store(settings.database_url, settings.data_dir, create=True), Path(args.bundle))
    print(", ".join(f"{n} {what}" for what, n in counts.items()) + " imported; the sink publishes the new snapshot")
    return 0


def cmd_keys_generate(args: argparse.Namespace, settings: Settings) -> int:
    from telematics.commands import generate_keypair

    keys = generate_keypair(Path(args.dir) if args.dir else settings.keys_dir)
    print(f"key id {keys.key_id}\nprivate key {keys.private_path} (keep it on the platform only)")
    print(f"public key {keys.public_path} (install it on the vehicle gateways)")
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


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from truckguard.demo import run_demo

    return run_demo(settings, speed=args.speed, stop=stop_on_signals(), duration_s=args.duration)


# -- parser ------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="truckguard",
        description="Real-time hijack, theft and ramming detection for commercial vehicle fleets.",
        epilog="Every flag has a TRUCKGUARD_* environment variable; see the README's Configuration section.",
    )
    parser.add_argument("--data-dir", type=Path, help="where the store, logs and demo data live (TRUCKGUARD_DATA_DIR)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING (TRUCKGUARD_LOG_LEVEL)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, handler: Callable[[argparse.Namespace, Settings], int], help_text: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    def kafka_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--bootstrap",
            dest="bootstrap_servers",
            help="Kafka bootstrap servers HOST:PORT "
            "(TRUCKGUARD_BOOTSTRAP_SERVERS; default: the embedded broker on 127.0.0.1:broker port)",
        )
        p.add_argument(
            "--partitions", type=int, help="partitions of topics created when missing (TRUCKGUARD_PARTITIONS)"
        )

    p = command("replay", cmd_replay, "Run the detector over a bundle in event time, with no broker or clock.")
    p.add_argument("bundle", help="bundle directory: fleet.json, trips.geojson, zones.geojson, telemetry.jsonl")
    p.add_argument("--alerts", required=True, help="write alerts here (JSON Lines)")
    p.add_argument("--stop-requests", required=True, help="write stop requests here (JSON Lines)")
    p.add_argument("--rejects", help="write each rejected line here with its line number and reason")
    p.add_argument(
        "--lateness", dest="lateness_s", type=float, help="seconds a record may arrive late (TRUCKGUARD_LATENESS_S)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    p.add_argument(
        "--models", dest="models_dir", type=Path, help="behaviour models from `truckguard train` (TRUCKGUARD_MODELS)"
    )

    p.add_argument(
        "--can-model",
        dest="can_model_path",
        type=Path,
        help="CAN model from `truckguard can train`, "
        "to run intrusion detection over the bundle's can.jsonl (TRUCKGUARD_CAN_MODEL)",
    )

    p = command("can", cmd_can_detect, "CAN bus intrusion detection (J1939).")
    actions = p.add_subparsers(dest="can_action", required=True, metavar="ACTION")
    can_train = actions.add_parser("train", help="learn a vehicle model's normal traffic from clean captures")
    can_train.set_defaults(handler=cmd_can_train)
    can_train.add_argument("captures", nargs="+", help="capture files in any format python-can reads, or can.jsonl")
    can_train.add_argument("--out", required=True, help="where to save the model (JSON)")
    can_train.add_argument(
        "--control-sender",
        action="append",
        metavar="PGN=SA",
        help="a node allowed to send TSC1 (PGN 0) or XBR (1024), e.g. 0=0x03 (repeatable)",
    )
    can_detect = actions.add_parser("detect", help="score a CAN log file window by window")
    can_detect.set_defaults(handler=cmd_can_detect)
    can_detect.add_argument("log", help="a CAN log (asc, blf, candump .log, csv, trc, ...) or can.jsonl")
    can_detect.add_argument(
        "--model", help="model from `truckguard can train` (without it, the J1939 protocol rules alone)"
    )

    p = command("train", cmd_train, "Train the per-fleet behaviour models on bundles of normal history.")
    p.add_argument("bundles", nargs="+", help="bundle directories of normal operation (no incidents)")
    p.add_argument("--out", required=True, help="directory to save the models and their manifest in")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = command("scenarios", cmd_scenarios_generate, "Labelled scenario bundles: normal days, hard cases, incidents.")
    actions = p.add_subparsers(dest="scenarios_action", required=True, metavar="ACTION")
    gen = actions.add_parser("generate", help="write a labelled bundle (fleet, trips, zones, telemetry, labels)")
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

    p = command("evaluate", cmd_evaluate, "Score the detector on a labelled bundle: recall, lead times, false alerts.")
    p.add_argument("bundle", help="a bundle with labels.json (see `truckguard scenarios generate`)")
    p.add_argument("--alerts", help="score these alerts instead of replaying the bundle now")
    p.add_argument("--stop-requests", help="score these stop requests instead of replaying the bundle now")
    p.add_argument("--json", help="also write the figures as JSON here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--models", dest="models_dir", type=Path, help="behaviour models from `truckguard train` (TRUCKGUARD_MODELS)"
    )

    p = command("toolkit", cmd_toolkit_export, "The security toolkit's guidance content.")
    toolkit_actions = p.add_subparsers(dest="toolkit_action", required=True, metavar="ACTION")
    export = toolkit_actions.add_parser("export", help="print every guidance item (id, audience, phase, text, sources)")
    export.add_argument("--format", choices=("json", "csv"), default="json")

    p = command(
        "broker", cmd_broker, "Start the embedded Kafka-compatible broker on loopback; returns when it answers."
    )
    p.add_argument("--port", dest="broker_port", type=int, help="listen on 127.0.0.1:PORT (TRUCKGUARD_BROKER_PORT)")
    p.add_argument("--foreground", action="store_true", help="stay attached until Ctrl-C")
    p.add_argument("--stop", action="store_true", help="stop the broker a previous `truckguard broker` started")

    p = command("detect", cmd_detect, "Run a live detector: consume telemetry, produce alerts and stop requests.")
    kafka_flags(p)
    p.add_argument(
        "--models", dest="models_dir", type=Path, help="behaviour models from `truckguard train` (TRUCKGUARD_MODELS)"
    )
    p.add_argument(
        "--reference",
        dest="reference_dir",
        type=Path,
        help="reference data directory in the bundle layout (TRUCKGUARD_REFERENCE); "
        "default: the web site's snapshots on truckguard.reference.v1",
    )
    p.add_argument("--group-id", help="consumer group shared by detector instances (TRUCKGUARD_GROUP_ID)")
    p.add_argument(
        "--can-model",
        dest="can_model_path",
        type=Path,
        help="CAN model from `truckguard can train`: adds spoofing and injection to the J1939 protocol rules that "
        "always watch truckguard.can.v1 (TRUCKGUARD_CAN_MODEL)",
    )
    p.add_argument(
        "--lateness", dest="lateness_s", type=float, help="seconds a record may arrive late (TRUCKGUARD_LATENESS_S)"
    )

    p = command("feed", cmd_feed, "Stream a bundle's telemetry.jsonl to Kafka, paced in accelerated event time.")
    kafka_flags(p)
    p.add_argument("bundle", help="bundle directory")
    p.add_argument(
        "--speed", type=float, default=10.0, help="event-time speed-up; 0 = as fast as possible (default 10)"
    )

    p = command("fleet", cmd_fleet, "Replay a bundle's fleet live: incident vehicles as J1939 trucks that obey stops.")
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
        "--bus",
        action="append",
        metavar="VEHICLE",
        help="run this vehicle on a J1939 bus (repeatable; default: the vehicles with incidents)",
    )

    p = command("web", cmd_web, "Serve the web site against the configured store.")
    p.add_argument("--host", dest="web_host", help="listen address (TRUCKGUARD_WEB_HOST, default 127.0.0.1)")
    p.add_argument("--port", dest="web_port", type=int, help="listen port (TRUCKGUARD_WEB_PORT, default 8000)")
    p.add_argument("--database-url", help="SQLAlchemy URL of the store (TRUCKGUARD_DATABASE_URL)")

    p = command("users", cmd_users_add, "Accounts of the web site.")
    actions = p.add_subparsers(dest="users_action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="create an account")
    add.set_defaults(handler=cmd_users_add)
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=("fleet_operator", "rental", "law_enforcement", "admin"))
    add.add_argument("--fleet", action="append", help="a fleet the account may see (repeat for several)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--database-url", help="SQLAlchemy URL of the store (TRUCKGUARD_DATABASE_URL)")
    token = actions.add_parser("token", help="issue an API bearer token for an account")
    token.set_defaults(handler=cmd_users_token)
    token.add_argument("username")
    token.add_argument("--name", default="cli", help="what the token is for (shown on the account page)")
    token.add_argument("--database-url", help="SQLAlchemy URL of the store (TRUCKGUARD_DATABASE_URL)")
    totp = actions.add_parser(
        "totp", help="issue a new second factor (TOTP secret) to an officer or administrator; ends their sessions"
    )
    totp.set_defaults(handler=cmd_users_totp)
    totp.add_argument("username")
    totp.add_argument("--database-url", help="SQLAlchemy URL of the store (TRUCKGUARD_DATABASE_URL)")

    p = command("reference", cmd_reference_import, "Reference data in the web store.")
    actions = p.add_subparsers(dest="reference_action", required=True, metavar="ACTION")
    imp = actions.add_parser("import", help="load a bundle's fleet.json, trips.geojson and zones.geojson")
    imp.set_defaults(handler=cmd_reference_import)
    imp.add_argument("bundle")
    imp.add_argument("--database-url", help="SQLAlchemy URL of the store (TRUCKGUARD_DATABASE_URL)")

    p = command("keys", cmd_keys_generate, "The platform's Ed25519 key that signs remote-stop commands.")
    actions = p.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    gen_keys = actions.add_parser("generate", help="write a new signing key pair (never overwrites one)")
    gen_keys.add_argument(
        "dir", nargs="?", help="where to write it (default: TRUCKGUARD_COMMAND_KEYS or data dir/keys)"
    )

    p = command(
        "dispatch", cmd_dispatch, "Turn stop requests authorised by law enforcement into signed vehicle commands."
    )
    kafka_flags(p)

    p = command("sink", cmd_sink, "Consume alerts and stop requests from Kafka into the web store.")
    kafka_flags(p)
    p.add_argument("--database-url", help="SQLAlchemy URL of the store (TRUCKGUARD_DATABASE_URL)")

    p = command(
        "demo", cmd_demo, "Run everything on one machine: broker, detector, simulated fleet, store and web site."
    )
    p.add_argument("--speed", type=float, default=5.0, help="simulated fleet's speed-up over real time (default 5)")
    p.add_argument("--duration", type=float, help="stop by itself after this many seconds (default: until Ctrl-C)")
    p.add_argument("--port", dest="web_port", type=int, help="web port (TRUCKGUARD_WEB_PORT, default 8000)")
    p.add_argument("--broker-port", type=int, help="embedded broker port (TRUCKGUARD_BROKER_PORT)")
    register_device_commands(sub)
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
