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
from datetime import UTC, datetime

import orjson

from ingest import topics
from ingest.broker import EmbeddedBroker
from ingest.processes import start_child, stop_child
from truckguard.settings import Settings

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
                    print(
                        f"  STOP REQUEST {value['ts']}  {value['vehicle_id']:<10} {value['mode']}: "
                        f"awaiting law-enforcement authorisation",
                        flush=True,
                    )
                if stop.is_set():
                    break
    finally:
        consumer.close()


def run_demo(settings: Settings, *, speed: float, stop: threading.Event, duration_s: float | None = None) -> int:
    from can_sim.scenarios import demo_bundle

    workdir = settings.data_dir / "demo"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    bundle = workdir / "bundle"
    demo_bundle(bundle, start=start)
    store_url = settings.database_url or f"sqlite:///{workdir / 'truckguard.sqlite'}"

    broker = None
    if settings.uses_embedded_broker:
        broker = EmbeddedBroker(settings.broker_port, log_path=workdir / "broker.log")
        broker.start()
    bootstrap = settings.bootstrap
    topics.ensure_topics(bootstrap, settings.partitions)

    env = {
        **os.environ,
        "TRUCKGUARD_BOOTSTRAP_SERVERS": bootstrap,
        "TRUCKGUARD_DATABASE_URL": store_url,
        "TRUCKGUARD_DATA_DIR": str(workdir),
        "TRUCKGUARD_SECRET_KEY": settings.secret_key or secrets.token_hex(32),
        "TRUCKGUARD_WEB_HOST": settings.web_host,
        "TRUCKGUARD_WEB_PORT": str(settings.web_port),
        "TRUCKGUARD_PARTITIONS": str(settings.partitions),
    }
    from web.accounts import create_demo_users
    from web.reference import import_reference, publish_reference

    # The web store holds the reference data; the detector gets it as a snapshot on the reference topic.
    import_reference(store_url, bundle, actor="demo")
    accounts = create_demo_users(store_url)
    publish_reference(settings.with_overrides(bootstrap_servers=bootstrap, database_url=store_url))

    me = [sys.executable, "-m", "truckguard"]
    children: dict[str, subprocess.Popen[bytes]] = {}
    printer_stop = threading.Event()
    try:
        children["detect"] = start_child([*me, "detect"], env, workdir / "detect.log")
        children["sink"] = start_child([*me, "sink"], env, workdir / "sink.log")
        children["web"] = start_child([*me, "web"], env, workdir / "web.log")
        url = f"http://{settings.web_host}:{settings.web_port}/"
        _wait_http(url + "healthz", 30, children["web"])
        children["feed"] = start_child([*me, "feed", str(bundle), "--speed", str(speed)], env, workdir / "feed.log")
        printer = threading.Thread(target=_print_alerts, args=(bootstrap, printer_stop), daemon=True)
        printer.start()
        print(f"truckguard demo is running: open {url}", flush=True)
        print("  sign in as (demo accounts, new passwords each run):", flush=True)
        for username, password, role in accounts:
            print(f"    {username:<10} {password:<24} {role}", flush=True)
        print(f"  simulated fleet: {bundle} at {speed:g}x real time; logs in {workdir}", flush=True)
        print("  Ctrl-C stops everything.", flush=True)
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while not stop.wait(0.5):
            if deadline is not None and time.monotonic() >= deadline:
                break
            for name, child in children.items():
                if name != "feed" and child.poll() is not None:
                    raise DemoError(f"{name} stopped with code {child.returncode}; see {workdir / (name + '.log')}")
    except DemoError as exc:
        print(f"truckguard demo: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping the demo ...", flush=True)
        printer_stop.set()
        for name in ("feed", "web", "sink", "detect"):
            if name in children:
                stop_child(children[name])
        if broker is not None:
            broker.stop()
        print("demo stopped; nothing left running.", flush=True)
    return 0
