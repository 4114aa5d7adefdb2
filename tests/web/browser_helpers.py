"""The real site, sink, broker and Chromium for the browser journeys, and small helpers to drive them."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyotp
import pytest
from sqlalchemy.orm import Session

from telematics.settings import Settings
from tests.conftest import truckguard_process
from tests.ingest.kafka_helpers import read_all
from web.accounts import create_user
from web.db import make_engine
from web.server import make_server
from web.store import rfc3339

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
PASSWORD = "correct horse battery"

requires_chromium = pytest.mark.skipif(not CHROMIUM.exists(),
                                       reason=f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")


def sink_env(settings: Settings) -> dict[str, str]:
    """The environment of a `truckguard sink` child using the same store and broker as ``settings``."""
    return {"TRUCKGUARD_DATA_DIR": str(settings.data_dir), "TRUCKGUARD_BOOTSTRAP_SERVERS": settings.bootstrap,
            "TRUCKGUARD_PARTITIONS": str(settings.partitions),
            "TRUCKGUARD_STOP_REQUEST_EXPIRY_S": f"{settings.stop_request_expiry_s:g}",
            "TRUCKGUARD_LOG_LEVEL": "INFO"}


@contextmanager
def running_sink(settings: Settings, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`truckguard sink` as a child process, stopped with SIGTERM (as a service manager would) afterwards."""
    process = truckguard_process(["sink"], sink_env(settings), log_path)
    try:
        yield process
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 15) -> int:
    """SIGTERM, then SIGKILL when it does not exit in time; returns the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return process.returncode


@contextmanager
def running_site(settings: Settings, *, threads: int = 16) -> Iterator[str]:
    """The site under waitress on a free loopback port, in a thread, as `truckguard web` serves it; yields its
    base URL. The live feed answers at once, so the server is closed once no request is in progress."""
    server = make_server(settings, "127.0.0.1", 0, threads=threads)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        deadline = time.monotonic() + 10
        while server.task_dispatcher.active_count and time.monotonic() < deadline:
            time.sleep(0.1)
        server.close()
        thread.join(10)


@contextmanager
def cheap_passwords() -> Iterator[None]:
    """Argon2 at its real cost takes a while per hash on a busy machine; the journeys sign in often."""
    from argon2 import PasswordHasher

    from web import passwords

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        yield


TOTP_SECRETS: dict[str, str] = {}
"""Second-factor secrets of the officers and administrators add_users created, as a person's phone holds them."""
_LAST_STEP: dict[str, int] = {}


def add_users(settings: Settings, users: list[tuple[str, str, tuple[str, ...]]]) -> None:
    """Creates ``(username, role, fleet_ids)`` accounts with PASSWORD in the store."""
    engine = make_engine(settings.store_url)
    try:
        with Session(engine) as session, session.begin():
            for username, role, fleets in users:
                user = create_user(session, username, PASSWORD, role, fleets, actor="test")
                if user.totp_secret:
                    TOTP_SECRETS[username] = user.totp_secret
    finally:
        engine.dispose()


def totp_code(username: str) -> str:
    """A code the site has not seen yet: each is good once, and a journey may sign one person in twice in 30 s."""
    secret = TOTP_SECRETS.get(username)
    if secret is None:
        return ""
    totp = pyotp.TOTP(secret)
    now = datetime.now(UTC)
    step = max(totp.timecode(now), _LAST_STEP.get(username, -1) + 1)
    _LAST_STEP[username] = step
    return totp.generate_otp(step)


def sign_in(page: Any, base: str, username: str) -> None:
    """Signs in through the real form and waits for the page it leads to (the live alerts)."""
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.fill("#code", totp_code(username))
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/alerts")


def shoot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """A screenshot under tests/artifacts/ (gitignored) for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def ts(offset_s: float = 0.0) -> str:
    """RFC 3339 UTC of now plus ``offset_s``."""
    return rfc3339(datetime.now(UTC) + timedelta(seconds=offset_s))


def messages(bootstrap: str, topic: str, where: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """The JSON values now in ``topic`` that satisfy ``where``."""
    return [value for value in map(orjson.loads, read_all(bootstrap, topic)) if where(value)]


@dataclass(frozen=True)
class Site:
    """Everything a journey needs: the site's address, its settings (store, broker) and the sink's log."""

    base: str
    settings: Settings
    sink_log: Path

    @property
    def bootstrap(self) -> str:
        return self.settings.bootstrap


def drawn_on_map(page: Any, fill: str) -> int:
    """How many of the map's vector shapes filled with ``fill`` are visible inside the map box."""
    box = page.locator("#map").bounding_box()
    count = 0
    for path in page.locator(f'#map .leaflet-overlay-pane path[fill="{fill}"]').all():
        shape = path.bounding_box()
        if box and shape and shape["width"] > 0 and shape["height"] > 0 and \
                shape["x"] < box["x"] + box["width"] and shape["x"] + shape["width"] > box["x"] and \
                shape["y"] < box["y"] + box["height"] and shape["y"] + shape["height"] > box["y"]:
            count += 1
    return count
