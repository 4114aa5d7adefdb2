"""Load test of the web store: the sink writes ten times the demo fleet's positions while 20 people sign in and browse.

Runs the real site (waitress, as ``truckguard web``) in a child process on SQLite and, when ``initdb``/``pg_ctl`` are on
the machine, on a throw-away PostgreSQL server; the position writer is the sink's own code (PositionBuffer, one
transaction a second) in another process, with an alert stored now and then. Prints, per store, the requests made,
how many answered 500 or more (must be 0), sign-ins, and page times (p50/p95/max; the target is p95 < 500 ms).

    python bench/bench_store.py [--seconds 30] [--users 20] [--fleet-factor 10] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

DEMO_VEHICLES = 6
"""The demo fleet (can_sim.scenarios.demo.DEMO_VEHICLES), each reporting once a second while it drives."""
PASSWORD = "bench-password-long-enough"
PAGES = ("/alerts", "/map", "/api/map", "/stop-requests", "/stop-requests/sr-bench", "/vehicles/BV-0001",
         "/api/alerts", "/alerts/al-bench-0")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class Postgres:
    """A throw-away PostgreSQL server on a free loopback port (as tests/web/conftest.py starts one)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="truckguard-bench-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self.data, port = self.root / "data", _free_port()
        subprocess.run(_as_postgres_user([shutil.which("initdb") or "initdb", "-D", str(self.data), "-U", "postgres",
                                          "--auth=trust", "--no-sync", "-E", "UTF8"]), check=True, capture_output=True)
        options = f"-p {port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        subprocess.run(_as_postgres_user([shutil.which("pg_ctl") or "pg_ctl", "-D", str(self.data), "-o", options,
                                          "-l", str(self.root / "log"), "-w", "start"]), check=True,
                       capture_output=True)
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def stop(self) -> None:
        subprocess.run(_as_postgres_user([shutil.which("pg_ctl") or "pg_ctl", "-D", str(self.data), "-m", "immediate",
                                          "stop"]), capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def prepare_store(url: str, users: int, vehicles: int) -> list[str]:
    """Schema, a fleet of ``vehicles``, an incident with a stop request, and ``users`` accounts; their names."""
    from sqlalchemy.orm import Session

    from tests.web.samples import alert, stop_request
    from web.accounts import create_user
    from web.db import make_engine, writer
    from web.migrate import upgrade_store
    from web.reference import put_fleet_document
    from web.scope import Scope
    from web.store import upsert_alert, upsert_stop_request

    upgrade_store(url)
    engine = make_engine(url)
    fleet = {"fleets": [{"fleet_id": "bench", "name": "Bench Haulage", "kind": "haulier", "timezone": "Europe/Berlin"}],
             "vehicles": [{"vehicle_id": f"BV-{n:04d}", "fleet_id": "bench", "category": "N3", "plate": f"B-{n}",
                           "authorized_driver_cards": []} for n in range(1, vehicles + 1)],
             "sites": []}
    now = datetime.now(UTC).replace(microsecond=0)
    names = [f"bench{n:02d}" for n in range(users)]
    with Session(writer(engine)) as session, session.begin():
        put_fleet_document(session, fleet, Scope(None), actor="bench")
        for n in range(20):
            stamp = (now - timedelta(seconds=60 * n)).strftime("%Y-%m-%dT%H:%M:%SZ")
            upsert_alert(session, alert(alert_id=f"al-bench-{n}", vehicle_id="BV-0001", fleet_id="bench", ts=stamp,
                                        onset_ts=stamp))
        upsert_stop_request(session, stop_request(
            request_id="sr-bench", vehicle_id="BV-0001", fleet_id="bench", alert_ids=["al-bench-0"],
            ts=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            history=[{"status": "requested", "at": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "by": "detector"}]))
        for name in names:  # fleet roles: officers' and admins' second factor is not what this measures
            create_user(session, name, PASSWORD, random.choice(("fleet_operator", "rental")), ["bench"], actor="bench")
    engine.dispose()
    return names


def write_positions(url: str, vehicles: int, stop: multiprocessing.synchronize.Event, counts: dict[str, int]) -> None:
    """The sink's positions loop at ``vehicles`` fixes a second, one transaction a second, with an alert every
    five seconds through the sink's own batch writer."""
    from sqlalchemy.orm import Session

    from tests.web.samples import alert
    from web.db import make_engine, writer
    from web.positions import Fix, PositionBuffer
    from workers.store_sink import Message, write_batch

    engine = make_engine(url)
    buffer = PositionBuffer()
    rng = random.Random(1)
    places = {f"BV-{n:04d}": (52.4 + rng.random() * 0.2, 13.3 + rng.random() * 0.2) for n in range(1, vehicles + 1)}
    tick = 0
    try:
        while not stop.is_set():
            started = time.monotonic()
            now = datetime.now(UTC)
            for vehicle_id, (lat, lon) in places.items():
                places[vehicle_id] = (lat + 0.0001, lon + 0.0001)
                buffer.add(Fix(vehicle_id, now, lat, lon, 50.0, 45.0, True))
            with Session(writer(engine)) as session, session.begin():
                counts["fixes"] += buffer.flush(session)
            counts["transactions"] += 1
            if tick % 5 == 0:
                stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
                value = alert(alert_id=f"al-sink-{tick}", vehicle_id="BV-0002", fleet_id="bench", ts=stamp,
                              onset_ts=stamp)
                write_batch(engine, [(Message("truckguard.alerts.v1", 0, tick, b"BV-0002", b""), value)])
                counts["alerts"] += 1
            tick += 1
            stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))
    finally:
        engine.dispose()


@dataclass
class Results:
    times: list[float] = field(default_factory=list)
    by_page: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    sign_ins: int = 0
    turned_away: int = 0
    """Sign-ins answered 503 with Retry-After because the site's hashing slots were taken (web/passwords.py): the
    site asked the person to come back, it did not fail. Counted apart from the responses >= 500."""
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def failures(self) -> int:
        """Responses >= 500 other than the sign-ins asked to retry."""
        return sum(n for status, n in self.statuses.items() if status >= 500) - self.turned_away

    def note(self, status: int, seconds: float, where: str, turned_away: bool = False) -> None:
        with self.lock:
            self.times.append(seconds)
            self.by_page.setdefault(where, []).append(seconds)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self.turned_away += turned_away
            if status >= 500 and not turned_away and len(self.errors) < 5:
                self.errors.append(f"{where}: {status}")


def browse(base: str, username: str, deadline: float, results: Results, seed: int) -> None:
    """One person: signs in through the form (all at once, as at a shift's start), then opens pages until the
    deadline, pausing as a reader does; signed out by the site (a 302 to /login), signs in again."""
    rng = random.Random(seed)
    with requests.Session() as http:
        def timed(method: str, path: str, **kwargs: object) -> requests.Response:
            started = time.monotonic()
            response = http.request(method, base + path, allow_redirects=False, timeout=60, **kwargs)
            busy = path == "/login" and response.status_code == 503 and "Retry-After" in response.headers
            results.note(response.status_code, time.monotonic() - started, f"{method} {path}", busy)
            if busy:  # as a person told "try again in a few seconds" does
                time.sleep(float(response.headers["Retry-After"]) * rng.uniform(1.0, 1.5))
            return response

        signed_in = False
        while time.monotonic() < deadline:
            if not signed_in:
                token = re.search(r'name="csrf-token" content="([^"]+)"', timed("GET", "/login").text)
                if token is None:
                    continue
                response = timed("POST", "/login", data={"username": username, "password": PASSWORD,
                                                         "csrf_token": token.group(1)})
                signed_in = response.status_code == 302
                if signed_in:
                    with results.lock:
                        results.sign_ins += 1
                continue
            signed_in = timed("GET", rng.choice(PAGES)).status_code != 302
            time.sleep(rng.uniform(0.2, 1.0))  # a person reads; the live pages poll about once a second


def _ms(times: list[float], quantile: float) -> str:
    return f"{times[int(quantile * (len(times) - 1))] * 1000:.0f} ms" if times else "-"


def run(url: str, label: str, seconds: float, users: int, factor: int) -> Results:
    vehicles = DEMO_VEHICLES * factor
    names = prepare_store(url, users, vehicles)
    port = _free_port()
    env = {**os.environ, "TRUCKGUARD_DATABASE_URL": url, "TRUCKGUARD_DATA_DIR": tempfile.mkdtemp(),
           "TRUCKGUARD_LOG_LEVEL": "WARNING", "TRUCKGUARD_WEB_PORT": str(port), "TRUCKGUARD_WEB_HOST": "127.0.0.1"}
    web = subprocess.Popen([sys.executable, "-m", "truckguard", "web"], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    manager = multiprocessing.Manager()
    counts = manager.dict({"fixes": 0, "transactions": 0, "alerts": 0})
    stop = multiprocessing.Event()
    writer = multiprocessing.Process(target=write_positions, args=(url, vehicles, stop, counts))
    results = Results()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.3)
        writer.start()
        time.sleep(1.5)
        finish = time.monotonic() + seconds
        people = [threading.Thread(target=browse, args=(base, name, finish, results, n))
                  for n, name in enumerate(names)]
        for person in people:
            person.start()
        for person in people:
            person.join()
    finally:
        stop.set()
        writer.join(10)
        web.terminate()
        _, stderr = web.communicate(timeout=15)
    pages = sorted(t for where, ts in results.by_page.items() if where.startswith("GET") for t in ts)
    sign_ins = sorted(results.by_page.get("POST /login", []))
    high = results.failures()
    print(f"{label}: {len(results.times)} requests by {users} people in {seconds:g} s while the sink wrote "
          f"{counts['fixes']} positions of {vehicles} vehicles in {counts['transactions']} transactions "
          f"(+{counts['alerts']} alerts); responses >= 500: {high} (besides {results.turned_away} sign-ins asked to "
          f"retry, 503 with Retry-After); statuses {dict(sorted(results.statuses.items()))}",
          flush=True)
    print(f"  page time (GET) p50 {_ms(pages, 0.5)}, p95 {_ms(pages, 0.95)}, max {_ms(pages, 1.0)}; "
          f"{results.sign_ins} sign-ins (Argon2id), p50 {_ms(sign_ins, 0.5)}, p95 {_ms(sign_ins, 0.95)}", flush=True)
    slowest = sorted(((statistics.median(t), page) for page, t in results.by_page.items()), reverse=True)
    print("  median by page: " + ", ".join(f"{page} {m * 1000:.0f} ms" for m, page in slowest), flush=True)
    for error in results.errors:
        print(f"  {error}", flush=True)
    if high and stderr:
        print(stderr.decode(errors="replace")[-2000:], flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the people browse, per store")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--fleet-factor", type=int, default=10, help="times the demo fleet's 6 vehicles")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    folder = Path(tempfile.mkdtemp(prefix="truckguard-bench-store-"))
    failed = False
    try:
        results = run(f"sqlite:///{folder / 'store.sqlite'}", "SQLite", args.seconds, args.users, args.fleet_factor)
        failed |= results.failures() > 0
        if not args.skip_postgres and shutil.which("initdb") and shutil.which("pg_ctl"):
            server = Postgres()
            try:
                results = run(server.url, "PostgreSQL", args.seconds, args.users, args.fleet_factor)
                failed |= results.failures() > 0
            finally:
                server.stop()
        elif not args.skip_postgres:
            print("PostgreSQL: skipped (initdb and pg_ctl are not on the PATH)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
