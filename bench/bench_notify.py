"""Benchmark of the notifier: time from an alert produced to Kafka to its e-mail, webhook and web push delivered.

    python bench/bench_notify.py [--alerts 300] [--rate 10] [--people 3]

On the embedded defaults: the embedded broker, a SQLite store, the notifier worker (consume → plan → store →
send, the `truckguard notify` code run in this process), a real local SMTP server (aiosmtpd) and a local HTTP
server as the webhook receiver and as the push service (RFC 8030: it answers 201 Created; the bench decrypts each
message with the subscription's keys, as the browser would, to learn its alert). Each of --people dispatchers of
one fleet has an e-mail, a webhook and a web-push channel (and the browser), so every critical alert makes three
sends per person; web push pays the VAPID signature and the RFC 8291 encryption on every send. Alerts are produced
at --rate per second, each a new alert id; a delivery's latency runs from just before the produce call to the
receiver holding the message. Prints p50, p95, p99 and the worst per channel, the machine and its load; asserts
nothing (the target is p99 < 2 s).
"""

from __future__ import annotations

import argparse
import email
import os
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import http_ece
import orjson
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from kafka import KafkaProducer
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.broker import EmbeddedBroker, free_port
from ingest.notifier.channels import ChannelSettings, build_channels
from ingest.notifier.vapid import b64url
from ingest.notifier.worker import Notifier, NotifierOptions, run_notifier
from ingest.topics import ALERTS, ensure_topics
from web.accounts import create_user
from web.db import make_engine, writer
from web.migrate import upgrade_store
from web.notification_models import NotificationChannelRow
from web.notifications import SqlNotificationStore

SITE = "http://127.0.0.1:8000"
_ALERT_LINK = re.compile(r"/alerts/([A-Za-z0-9._-]+)")


class Arrivals:
    """When each (channel, alert id) delivery reached its receiver, by the monotonic clock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[str, list[tuple[str, float]]] = {"email": [], "webhook": [], "webpush": []}

    def add(self, channel: str, alert_id: str, at: float | None = None) -> None:
        at = time.monotonic() if at is None else at
        with self.lock:
            self.times[channel].append((alert_id, at))


class PushKeys:
    """One browser's web-push subscription keys (P-256 pair, auth secret), to decrypt what the push service got."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)

    @property
    def secret(self) -> str:
        """As the channel keeps them: ``p256dh.auth``."""
        point = self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint)
        return f"{b64url(point)}.{b64url(self.auth)}"

    def decrypt(self, body: bytes) -> dict[str, Any]:
        value: dict[str, Any] = orjson.loads(http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth,
                                                             version="aes128gcm"))
        return value


class _Mailbox:
    def __init__(self, arrivals: Arrivals) -> None:
        self.arrivals = arrivals

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        body = email.message_from_bytes(envelope.content).get_payload(decode=True).decode()
        match = _ALERT_LINK.search(body)
        if match:
            self.arrivals.add("email", match.group(1))
        return "250 Message accepted"


def _webhook_server(arrivals: Arrivals, browsers: dict[str, PushKeys]) -> ThreadingHTTPServer:
    """The webhook receiver at /hook, and the push service at /wpush/<person>."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            at = time.monotonic()
            if self.path.startswith("/wpush/"):
                match = _ALERT_LINK.search(browsers[self.path[len("/wpush/"):]].decrypt(body)["url"])
                if match:
                    arrivals.add("webpush", match.group(1), at)
                self.send_response(201)  # RFC 8030 §5: the push service took the message
            else:
                arrivals.add("webhook", orjson.loads(body)["subject_id"], at)
                self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def _people(url: str, count: int, hook_url: str, push_url: str, browsers: dict[str, PushKeys]) -> None:
    from argon2 import PasswordHasher

    from web import passwords

    passwords.HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # nobody signs in here
    engine = make_engine(url)
    with Session(writer(engine)) as session, session.begin():
        for n in range(count):
            user = create_user(session, f"dispatcher{n}", "correct horse battery", "fleet_operator", ["nordfracht"],
                               actor="bench")
            browsers[user.username] = PushKeys()
            for kind, target, secret in (("email", f"dispatcher{n}@nordfracht.example", None),
                                         ("webhook", hook_url, "bench"),
                                         ("webpush", f"{push_url}/{user.username}", browsers[user.username].secret)):
                session.add(NotificationChannelRow(user_id=user.user_id, kind=kind, label=kind, target=target,
                                                   secret=secret, enabled=True, created_at=datetime.now(UTC)))
    engine.dispose()


def _alert(n: int) -> dict[str, Any]:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {"alert_id": f"bench-{n:06d}", "vehicle_id": f"NF-{n % 50:03d}", "fleet_id": "nordfracht",
            "kind": "hijack_suspected", "severity": "critical", "ts": stamp, "onset_ts": stamp, "lat": 52.5,
            "lon": 13.4, "score": 0.9, "zone_id": None, "evidence": {"summary": "bench alert"}}


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=300)
    parser.add_argument("--rate", type=float, default=10.0, help="alerts per second")
    parser.add_argument("--people", type=int, default=3, help="dispatchers told of each alert")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tg-bench-notify-"))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"work in {workdir}", flush=True)
    arrivals = Arrivals()
    smtp_port = free_port()
    smtp = Controller(_Mailbox(arrivals), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    browsers: dict[str, PushKeys] = {}
    hooks = _webhook_server(arrivals, browsers)
    threading.Thread(target=hooks.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    url = f"sqlite:///{workdir / 'truckguard.sqlite'}"
    upgrade_store(url)
    local = f"http://127.0.0.1:{hooks.server_address[1]}"
    _people(url, args.people, f"{local}/hook", f"{local}/wpush", browsers)
    engine = make_engine(url)
    stop, ready = threading.Event(), threading.Event()
    try:
        with EmbeddedBroker(free_port(), log_path=workdir / "broker.log") as broker:
            ensure_topics(broker.bootstrap, 4, (ALERTS,))
            channels = build_channels(ChannelSettings(smtp_host="127.0.0.1", smtp_port=smtp_port,
                                                      smtp_security="none",
                                                      vapid_key_path=workdir / "webpush" / "vapid_private.pem",
                                                      vapid_subject="mailto:bench@truckguard.example"))
            notifier = Notifier(SqlNotificationStore(engine), channels, NotifierOptions(SITE))
            worker = threading.Thread(target=run_notifier, args=(notifier, broker.bootstrap, 4, stop, ready),
                                      daemon=True)
            worker.start()
            if not ready.wait(60):
                print("the notifier never got its partitions", file=sys.stderr)
                return 1
            producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=0)
            produced: dict[str, float] = {}
            start = time.monotonic()
            for n in range(args.alerts):
                due = start + n / args.rate
                time.sleep(max(0.0, due - time.monotonic()))
                alert = _alert(n)
                produced[alert["alert_id"]] = time.monotonic()
                producer.send(ALERTS, key=alert["vehicle_id"].encode(), value=orjson.dumps(alert))
                producer.flush()
            expected = args.alerts * args.people
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and min(len(v) for v in arrivals.times.values()) < expected:
                time.sleep(0.2)
            producer.close()
            stop.set()
            worker.join(20)
    finally:
        smtp.stop()
        hooks.shutdown()
        engine.dispose()
    print(f"{args.alerts} critical alerts at {args.rate:g}/s, {args.people} people each with e-mail, webhook and "
          "web push "
          f"({expected} deliveries expected per channel); notifier sent {notifier.sent}, dead-lettered "
          f"{notifier.dead}")
    for channel, times in arrivals.times.items():
        latencies = [at - produced[alert_id] for alert_id, at in times if alert_id in produced]
        if not latencies:
            print(f"{channel:8} nothing delivered")
            continue
        print(f"{channel:8} delivered {len(latencies)}/{expected}: p50 {statistics.median(latencies) * 1000:.0f} ms, "
              f"p95 {_percentile(latencies, 95) * 1000:.0f} ms, p99 {_percentile(latencies, 99) * 1000:.0f} ms, "
              f"worst {max(latencies) * 1000:.0f} ms")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
