"""`truckguard demo`: the whole platform on one machine — broker, detector, simulated fleet, store sink and web site."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from ingest import topics
from ingest.broker import BrokerStorage, EmbeddedBroker, free_port
from ingest.processes import start_child, stop_child
from telematics.errors import OperationFailed
from telematics.settings import Settings

if TYPE_CHECKING:
    from web.accounts import DemoAccount

log = logging.getLogger(__name__)

SEGMENT_S = 20 * 60
"""Event time one demo bundle covers (can_sim.scenarios.demo.DEMO_MINUTES); the fleet loops segment after segment."""


class DemoError(OperationFailed):
    """A part of the demo did not start or stopped by itself."""


def _wait_http(url: str, timeout_s: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(f"the web site exited with code {process.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise DemoError(f"the web site did not answer at {url} within {timeout_s:g} s")


def _print_alerts(bootstrap: str, stop: threading.Event) -> None:
    """Echo each new alert and stop request on the terminal, so the demo shows life without a browser."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topics.ALERTS,
        topics.STOP_REQUESTS,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=500,
    )
    try:
        while not stop.is_set():
            for message in consumer:
                value = orjson.loads(message.value)
                if message.topic == topics.ALERTS:
                    summary = value.get("evidence", {}).get("summary", "")
                    print(
                        f"  alert  {value['ts']}  {value['vehicle_id']:<10} {value['severity']:<8} "
                        f"{value['kind']:<26} {summary}",
                        flush=True,
                    )
                else:
                    print(_stop_request_line(value), flush=True)
                if stop.is_set():
                    break
    finally:
        consumer.close()


@dataclass(frozen=True)
class DemoData:
    """What the demo prepared before anything runs: the fleet's bundle, the store, accounts and keys."""

    workdir: Path
    bundle: Path
    store_url: str
    accounts: list[DemoAccount]
    keys_dir: Path
    start: datetime
    """Event time at which the fleet's first segment begins."""
    teltonika_vehicle: str | None
    """The first segment's vehicle that carries the simulated Teltonika unit (None: no vehicle suited)."""


CATCH_UP_S = 8 * 60
"""How far in the past a faster-than-real-time demo starts its fleet: less than the ten minutes after which the map
shows a vehicle as out of touch (web.mapdata.STALE_AFTER), so every vehicle is on the map from the first second."""


def segment_start(now: datetime, speed: float) -> datetime:
    """Where the first segment's event time starts, so that, run at ``speed``, it never passes the wall clock.

    At 1x it starts now (to the second below). Faster, it starts up to CATCH_UP_S in the past and catches up
    with the wall clock; the fleet then runs in real time (can_sim.live_fleet never runs a bundle that began in
    the past ahead of the clock), and in real time too while a stop request for one of its trucks is open.
    """
    lead = min(SEGMENT_S * (1 - 1 / speed), CATCH_UP_S) if speed > 1 else 0.0
    return (now - timedelta(seconds=lead)).replace(microsecond=0)


def write_segment(store_url: str, bundle: Path, start: datetime, seed: int) -> str | None:
    """One segment of the demo's day: the fleet's bundle from ``start``, its reference data in the store.

    Returns the vehicle fitted with the simulated Teltonika unit (can_sim.teltonika_device.fit_demo_device): its
    records reach the platform through `devices serve`, not from the fleet.
    """
    from can_sim.scenarios import demo_bundle
    from can_sim.teltonika_device import fit_demo_device
    from web.reference import import_reference

    demo_bundle(bundle, start=start, seed=seed)
    fitted = fit_demo_device(bundle)
    import_reference(store_url, bundle, actor="demo")
    return fitted


def prepare(settings: Settings, speed: float = 1.0) -> DemoData:
    """A fresh demo directory: the simulated fleet's first segment, a store with its reference data and
    accounts, a key."""
    from telematics.commands import generate_keypair
    from web.accounts import create_demo_users
    from web.migrate import upgrade_store

    workdir = settings.data_dir / "demo"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    bundle = workdir / "bundle"
    store_url = settings.database_url or f"sqlite:///{workdir / 'truckguard.sqlite'}"
    upgrade_store(store_url)  # `truckguard db upgrade`: the web site it starts only checks the store
    start = segment_start(datetime.now(UTC), speed)
    fitted = write_segment(store_url, bundle, start, FIRST_SEED)
    accounts = create_demo_users(store_url)
    keys = generate_keypair(workdir / "keys")  # a fresh signing key per demo; vehicles trust its public half
    return DemoData(workdir, bundle, store_url, accounts, keys.private_path.parent, start, fitted)


def hauliers_trucks_at_risk(bundle: Path) -> list[str]:
    """The haulier's incident trucks of a segment: they carry the on-board zone guard (truck makers sell geofenced
    speed limits with their connected services), so on the map the truck slows at the market's boundary before the
    officers act. The hired van carries none, as most rental vans do not: the rental desk sees what such a van does."""
    fleet = orjson.loads((bundle / "fleet.json").read_bytes())
    labels = orjson.loads((bundle / "labels.json").read_bytes())
    hauliers = {f["fleet_id"] for f in fleet["fleets"] if f.get("kind") == "haulier"}
    fleet_of = {v["vehicle_id"]: v["fleet_id"] for v in fleet["vehicles"]}
    return sorted({i["vehicle_id"] for i in labels.get("incidents", []) if fleet_of.get(i["vehicle_id"]) in hauliers})


FIRST_SEED = 7
"""The first segment's seed (can_sim.scenarios.demo's default); each later segment takes the next one, so its
trips and the moments of its incidents differ."""


def mark_running(demo: DemoData) -> Path:
    """Tells the store commands (``truckguard users token``…) which store this running demo uses (web.db)."""
    from web.db import DEMO_STORE_MARK

    mark = demo.workdir / DEMO_STORE_MARK
    mark.write_text(f"{os.getpid()}\n{demo.store_url}\n")
    return mark


def child_environment(settings: Settings, demo: DemoData, bootstrap: str) -> dict[str, str]:
    return {
        **os.environ,
        "TRUCKGUARD_BOOTSTRAP_SERVERS": bootstrap,
        "TRUCKGUARD_DATABASE_URL": demo.store_url,
        "TRUCKGUARD_DATA_DIR": str(demo.workdir),
        "TRUCKGUARD_SECRET_KEY": settings.secret_key or secrets.token_hex(32),
        "TRUCKGUARD_WEB_HOST": settings.web_host,
        "TRUCKGUARD_WEB_PORT": str(settings.web_port),
        "TRUCKGUARD_PARTITIONS": str(settings.partitions),
        "TRUCKGUARD_COMMAND_KEYS": str(demo.keys_dir),
    }


def _stop_request_line(request: dict) -> str:
    """One terminal line per stop-request change: which step (``approved 1 of 2``, ``authorized``…), by whom."""
    from web.display import step_label

    last = (request.get("history") or [{}])[-1]
    status = request.get("status", "?")
    step = step_label(last)
    waiting = "" if status != "requested" else \
        " (awaiting a second officer)" if step == "approved 1 of 2" else " (awaiting two law-enforcement officers)"
    return (
        f"  STOP REQUEST {request['vehicle_id']:<10} {request['mode']}: {step} by {last.get('by', '?')} "
        f"at {last.get('recorded_at') or last.get('at', '?')}{waiting}"
    )


def run_demo(settings: Settings, *, speed: float, stop: threading.Event, duration_s: float | None = None,
             durable: bool = False) -> int:
    """Durable: the embedded broker keeps its messages on disk (or on TRUCKGUARD_BROKER_STORAGE), not in memory."""
    from can_sim.teltonika_device import start_demo_device
    from workers.reference_publish import publish_reference

    demo = prepare(settings, speed)
    workdir = demo.workdir
    mark = mark_running(demo)
    # A durable demo's broker data lives in the demo's folder, which each new demo starts afresh like its store.
    storage = BrokerStorage.durable(workdir, settings.broker_storage) if durable else BrokerStorage()
    broker = (
        EmbeddedBroker(settings.broker_port, log_path=workdir / "broker.log", storage=storage)
        if settings.uses_embedded_broker else None
    )
    children: dict[str, subprocess.Popen[bytes]] = {}
    printer_stop = threading.Event()
    printer: threading.Thread | None = None
    device_stop = threading.Event()
    try:
        if broker is not None:
            broker.start()
        bootstrap = settings.bootstrap
        topics.ensure_topics(bootstrap, settings.partitions)
        # The web store holds the reference data; the detectors get it as a snapshot on the reference topic.
        publish_reference(settings.with_overrides(bootstrap_servers=bootstrap, database_url=demo.store_url))
        env = child_environment(settings, demo, bootstrap)
        me = [sys.executable, "-m", "truckguard"]
        for name in ("detect", "sink", "dispatch", "notify", "web"):
            children[name] = start_child([*me, name], env, workdir / f"{name}.log")
        teltonika_port = settings.teltonika_port or free_port()
        children["devices"] = start_child([*me, "devices", "serve", "--teltonika", str(teltonika_port)], env,
                                          workdir / "devices.log")
        url = f"http://{settings.web_host}:{settings.web_port}/"
        _wait_http(url + "healthz", 30, children["web"])

        def start_fleet(bundle: Path, fitted: str | None, log_name: str) -> subprocess.Popen[bytes]:
            """The segment's fleet (it trusts the key in TRUCKGUARD_COMMAND_KEYS), and the vehicle fitted with the
            Teltonika unit sending its records through `devices serve`, paced like the fleet."""
            skip = ["--skip", fitted] if fitted else []
            guarded = [arg for vehicle in hauliers_trucks_at_risk(bundle) for arg in ("--zone-guard-on", vehicle)]
            fleet = start_child([*me, "fleet", str(bundle), "--speed", str(speed), *guarded, *skip], env,
                                workdir / log_name)
            if fitted:
                start_demo_device(bundle, "127.0.0.1", teltonika_port, track_of=fitted, speed=speed, stop=device_stop)
            return fleet

        children["fleet"] = start_fleet(demo.bundle, demo.teltonika_vehicle, "fleet.log")
        printer = threading.Thread(target=_print_alerts, args=(bootstrap, printer_stop), daemon=True)
        printer.start()
        _print_welcome(url, demo, speed)
        if demo.teltonika_vehicle:
            print(f"  {demo.teltonika_vehicle} carries a simulated Teltonika unit: its records go over TCP (Codec 8) "
                  f"to `devices serve` on 127.0.0.1:{teltonika_port} ({workdir / 'devices.log'})", flush=True)
        if broker is not None:
            print(f"  embedded broker at {broker.bootstrap}, messages kept {storage.describe()}", flush=True)
        segment, segment_end = 0, demo.start + timedelta(seconds=SEGMENT_S)

        def next_segment() -> None:
            """The segment's day is over: the next one carries on in real time from where it ended."""
            nonlocal segment, segment_end
            segment += 1
            bundle = workdir / f"bundle-{segment}"
            start = min(segment_end, datetime.now(UTC).replace(microsecond=0))
            fitted = write_segment(demo.store_url, bundle, start, FIRST_SEED + segment)
            publish_reference(settings.with_overrides(bootstrap_servers=bootstrap, database_url=demo.store_url))
            segment_end = start + timedelta(seconds=SEGMENT_S)
            print(f"  the simulated fleet starts its next {SEGMENT_S // 60} minutes ({bundle.name})", flush=True)
            children["fleet"] = start_fleet(bundle, fitted, f"fleet-{segment}.log")

        _supervise(children, stop, None if duration_s is None else time.monotonic() + duration_s, workdir, next_segment)
    except DemoError as exc:
        print(f"truckguard demo: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping the demo ...", flush=True)
        printer_stop.set()
        device_stop.set()
        _stop_all(children, printer, broker)
        mark.unlink(missing_ok=True)
        print("demo stopped; nothing left running.", flush=True)
    return 0


def _supervise(children: dict[str, subprocess.Popen[bytes]], stop: threading.Event, deadline: float | None,
               workdir: Path, next_segment: Callable[[], None]) -> None:
    """Until stopped or the deadline: a process that died ends the demo with its log named; a fleet whose segment
    is over is followed by the next segment's."""
    while not stop.wait(0.5):
        if deadline is not None and time.monotonic() >= deadline:
            return
        for name, child in children.items():
            if name != "fleet" and child.poll() is not None:
                raise DemoError(f"{name} stopped with code {child.returncode}; see {workdir / (name + '.log')}")
        if children["fleet"].poll() is not None:
            next_segment()


def _stop_all(children: dict[str, subprocess.Popen[bytes]], printer: threading.Thread | None,
              broker: EmbeddedBroker | None) -> None:
    """Stops the demo's processes, producers first, then the alert printer and the broker under them."""
    for name in ("fleet", "devices", "web", "notify", "dispatch", "sink", "detect"):
        if name in children:
            stop_child(children[name])
    if printer is not None:
        # Its consumer closes within a poll (0.5 s); stopping the broker under it would log connection errors.
        printer.join(5)
    if broker is not None:
        broker.stop()


def _print_welcome(url: str, demo: DemoData, speed: float) -> None:
    print(f"truckguard demo is running: open {url}", flush=True)
    print("  sign in as (demo accounts, new passwords each run):", flush=True)
    for account in demo.accounts:
        second = f"  second-factor secret {account.totp_secret}" if account.totp_secret else ""
        print(f"    {account.username:<10} {account.password:<24} {account.role:<16}{second}", flush=True)
    if any(account.totp_secret for account in demo.accounts):
        print("  (officers and the administrator also give a code: add the secret to an authenticator app, or run"
              " `python3 -c \"import pyotp; print(pyotp.TOTP('SECRET').now())\"`)", flush=True)
    pace = "in real time" if speed <= 1 else \
        f"begun {CATCH_UP_S // 60} minutes ago at {speed:g}x real time until it reaches the clock (no time lies " \
        "ahead of it), then in real time, and in real time whenever a stop request is open"
    print(f"  simulated fleet: {demo.bundle} {pace}, {SEGMENT_S // 60} minutes after {SEGMENT_S // 60} minutes "
          "for as long as the demo runs;", flush=True)
    print(f"  the vehicles with incidents run on J1939 buses and obey authorised stops; logs in {demo.workdir}",
          flush=True)
    print(
        "  authorise a stop request as officer1 then officer2 to send the signed command; Ctrl-C stops everything.",
        flush=True,
    )
