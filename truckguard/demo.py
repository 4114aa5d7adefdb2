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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from ingest import topics
from ingest.broker import EmbeddedBroker
from ingest.processes import start_child, stop_child
from telematics.settings import Settings

log = logging.getLogger(__name__)


class DemoError(RuntimeError):
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
    accounts: list[tuple[str, str, str]]
    keys_dir: Path


def prepare(settings: Settings) -> DemoData:
    """A fresh demo directory: tonight's simulated fleet, a store with its reference data and accounts, a key."""
    from can_sim.scenarios import demo_bundle
    from telematics.commands import generate_keypair
    from web.accounts import create_demo_users
    from web.reference import import_reference

    workdir = settings.data_dir / "demo"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    bundle = workdir / "bundle"
    demo_bundle(bundle, start=datetime.now(UTC).replace(second=0, microsecond=0))
    store_url = settings.database_url or f"sqlite:///{workdir / 'truckguard.sqlite'}"
    import_reference(store_url, bundle, actor="demo")
    accounts = create_demo_users(store_url)
    keys = generate_keypair(workdir / "keys")  # a fresh signing key per demo; vehicles trust its public half
    return DemoData(workdir, bundle, store_url, accounts, keys.private_path.parent)


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
    """One terminal line per stop-request change: who moved it to which status."""
    last = (request.get("history") or [{}])[-1]
    status = request.get("status", "?")
    waiting = " (awaiting two law-enforcement officers)" if status == "requested" else ""
    return (
        f"  STOP REQUEST {request['vehicle_id']:<10} {request['mode']}: {status} by {last.get('by', '?')} "
        f"at {last.get('at', '?')}{waiting}"
    )


def run_demo(settings: Settings, *, speed: float, stop: threading.Event, duration_s: float | None = None) -> int:
    from web.reference import publish_reference

    demo = prepare(settings)
    workdir = demo.workdir
    broker = (
        EmbeddedBroker(settings.broker_port, log_path=workdir / "broker.log") if settings.uses_embedded_broker else None
    )
    children: dict[str, subprocess.Popen[bytes]] = {}
    printer_stop = threading.Event()
    printer: threading.Thread | None = None
    try:
        if broker is not None:
            broker.start()
        bootstrap = settings.bootstrap
        topics.ensure_topics(bootstrap, settings.partitions)
        # The web store holds the reference data; the detectors get it as a snapshot on the reference topic.
        publish_reference(settings.with_overrides(bootstrap_servers=bootstrap, database_url=demo.store_url))
        env = child_environment(settings, demo, bootstrap)
        me = [sys.executable, "-m", "truckguard"]
        for name in ("detect", "sink", "dispatch", "web"):
            children[name] = start_child([*me, name], env, workdir / f"{name}.log")
        url = f"http://{settings.web_host}:{settings.web_port}/"
        _wait_http(url + "healthz", 30, children["web"])
        fleet = [*me, "fleet", str(demo.bundle), "--speed", str(speed)]  # trusts the key in TRUCKGUARD_COMMAND_KEYS
        children["fleet"] = start_child(fleet, env, workdir / "fleet.log")
        printer = threading.Thread(target=_print_alerts, args=(bootstrap, printer_stop), daemon=True)
        printer.start()
        _print_welcome(url, demo, speed)
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while not stop.wait(0.5):
            if deadline is not None and time.monotonic() >= deadline:
                break
            for name, child in children.items():
                if name != "fleet" and child.poll() is not None:  # the fleet ends by itself with the bundle
                    raise DemoError(f"{name} stopped with code {child.returncode}; see {workdir / (name + '.log')}")
    except DemoError as exc:
        print(f"truckguard demo: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping the demo ...", flush=True)
        printer_stop.set()
        for name in ("fleet", "web", "dispatch", "sink", "detect"):
            if name in children:
                stop_child(children[name])
        if printer is not None:
            # Its consumer closes within a poll (0.5 s); stopping the broker under it would log connection errors.
            printer.join(5)
        if broker is not None:
            broker.stop()
        print("demo stopped; nothing left running.", flush=True)
    return 0


def _print_welcome(url: str, demo: DemoData, speed: float) -> None:
    print(f"truckguard demo is running: open {url}", flush=True)
    print("  sign in as (demo accounts, new passwords each run):", flush=True)
    for username, password, role in demo.accounts:
        print(f"    {username:<10} {password:<24} {role}", flush=True)
    print(f"  simulated fleet: {demo.bundle} at {speed:g}x real time; the vehicles with incidents run on J1939 buses")
    print(f"  and obey authorised stops; logs in {demo.workdir}", flush=True)
    print(
        "  authorise a stop request as officer1 then officer2 to send the signed command; Ctrl-C stops everything.",
        flush=True,
    )
