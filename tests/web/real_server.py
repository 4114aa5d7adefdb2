"""The site as it is deployed, for tests: `truckguard web` (and `truckguard sink`) in processes of their own on
loopback, and browsers that sign in, keep cookies and send CSRF tokens as a person's does."""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import Any

import pyotp
import requests
from requests.adapters import HTTPAdapter
from sqlalchemy.orm import Session

from ingest.broker import free_port
from ingest.processes import start_child, stop_child
from telematics.settings import Settings
from web.accounts import create_user
from web.db import make_engine
from web.migrate import upgrade_store
from web.reference import announce_change, put_fleet_document
from web.scope import Scope

PASSWORD = "correct horse battery"
START_S = 60.0
"""Generous: two cores may be busy with another engineer's suite."""


@dataclass(frozen=True)
class Account:
    username: str
    role: str
    fleet_ids: tuple[str, ...] = ()


@dataclass
class Site:
    """A running site: its address, its settings (the store the test may also read) and the officers' and
    administrators' TOTP secrets, as the demo prints them."""

    base: str
    port: int
    settings: Settings
    secrets: dict[str, str] = field(default_factory=dict)

    def code(self, username: str, step_offset: int = 0) -> str:
        """The account's TOTP code (empty without a second factor); each code is accepted once per account."""
        if username not in self.secrets:
            return ""
        totp = pyotp.TOTP(self.secrets[username])
        return totp.generate_otp(totp.timecode(time.time()) + step_offset)  # type: ignore[arg-type]


def _start(args: list[str], env: dict[str, str], log_path: Path) -> Popen[bytes]:
    return start_child([sys.executable, "-m", "truckguard", *args], {**os.environ, **env}, log_path)


def _wait(ready: Any, process: Popen[bytes], log_path: Path, what: str) -> None:
    deadline = time.monotonic() + START_S
    while not ready():
        assert process.poll() is None, f"{what} exited with code {process.returncode}:\n{log_path.read_text()}"
        assert time.monotonic() < deadline, f"{what} not ready within {START_S:g} s:\n{log_path.read_text()}"
        time.sleep(0.1)


def _answers(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def _seed(settings: Settings, accounts: Iterable[Account], fleet: dict[str, Any] | None) -> dict[str, str]:
    upgrade_store(settings.store_url)
    engine = make_engine(settings.store_url)
    secrets = {}
    try:
        with Session(engine) as session, session.begin():
            if fleet:
                put_fleet_document(session, fleet, Scope(None), actor="test")
                announce_change(session)
            for account in accounts:
                user = create_user(session, account.username, PASSWORD, account.role, account.fleet_ids,
                                   actor="test")
                if user.totp_secret:
                    secrets[account.username] = user.totp_secret
    finally:
        engine.dispose()
    return secrets


@contextmanager
def running_site(root: Path, accounts: Iterable[Account], *, fleet: dict[str, Any] | None = None,
                 bootstrap: str | None = None) -> Iterator[Site]:
    """`truckguard web` on a free loopback port over a fresh store in ``root`` holding ``accounts`` and the fleets,
    vehicles and sites of ``fleet`` (a fleet.json document); with ``bootstrap``, `truckguard sink` beside it on that
    broker (one partition a topic), as a deployment runs them. Both are stopped on leaving."""
    settings = Settings(data_dir=root / "data", bootstrap_servers=bootstrap or "")
    secrets = _seed(settings, accounts, fleet)
    port = free_port()
    env = {"TRUCKGUARD_DATA_DIR": str(settings.data_dir), "TRUCKGUARD_BOOTSTRAP_SERVERS": bootstrap or "",
           "TRUCKGUARD_PARTITIONS": "1"}
    site = Site(f"http://127.0.0.1:{port}", port, settings, secrets)
    web_log, sink_log = root / "web.log", root / "sink.log"
    web = _start(["web", "--host", "127.0.0.1", "--port", str(port)], env, web_log)
    sink = _start(["sink"], env, sink_log) if bootstrap else None
    try:
        _wait(lambda: _answers(site.base), web, web_log, "the web site")
        if sink is not None:
            # Logged once its topics exist, its consumer and producer are connected and its stop lane runs.
            _wait(lambda: b"output sink consuming" in sink_log.read_bytes(), sink, sink_log, "the sink")
        yield site
    finally:
        for process in (web, sink):
            if process is not None:
                stop_child(process, 15)


class _From(HTTPAdapter):
    """Connections from a chosen loopback address (all of 127.0.0.0/8 is this machine)."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]


def browser(source: str = "127.0.0.1") -> requests.Session:
    """A browser at one loopback address: the site throttles failed sign-ins per account and address."""
    session = requests.Session()
    session.mount("http://", _From(source))
    return session


def form_token(site: Site, client: requests.Session, page: str) -> str:
    """The CSRF token of the forms on ``page``, as a browser posts it back."""
    html = client.get(f"{site.base}{page}", timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token, f"no form token on {page}: {html[:500]}"
    return token.group(1)


def sign_in(site: Site, username: str, password: str = PASSWORD, *, code: str = "",
            client: requests.Session | None = None) -> tuple[requests.Session, int, float]:
    """Signs in through the form as a browser does; returns the browser, the answer's status and its seconds."""
    client = client or browser()
    token = form_token(site, client, "/login")
    started = time.monotonic()
    response = client.post(f"{site.base}/login", data={"username": username, "password": password, "code": code,
                                                      "csrf_token": token},
                           allow_redirects=False, timeout=30)
    return client, response.status_code, time.monotonic() - started


def signed_in(site: Site, username: str, source: str = "127.0.0.1", step_offset: int = 0) -> requests.Session:
    """A browser signed in as ``username`` (with its current TOTP code), sending the page's CSRF token with every
    request as the site's scripts do for the API."""
    client, status, _ = sign_in(site, username, code=site.code(username, step_offset), client=browser(source))
    assert status == 302, f"{username} could not sign in ({status})"
    html = client.get(f"{site.base}/account", timeout=30).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert token, html[:500]
    client.headers["X-CSRFToken"] = token.group(1)
    return client
