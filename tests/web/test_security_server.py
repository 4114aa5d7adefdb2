"""Through the real server (`truckguard web` in its own process): 200 live consoles leave sign-in and the health
check fast; a password-guessing address cannot keep an officer at another address out."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
import pytest
import requests
from requests.adapters import HTTPAdapter
from sqlalchemy.orm import Session

from telematics.settings import Settings
from tests.conftest import truckguard_process
from web.accounts import create_user
from web.db import make_engine
from web.migrate import upgrade_store
from web.reference import announce_change, put_fleet_document
from web.scope import Scope

PASSWORD = "correct horse battery"
USERS = [f"dispatch{n}" for n in range(10)]
CONSOLES_PER_USER = 20


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Site:
    base: str
    port: int
    secrets: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("server")
    settings = Settings(data_dir=root / "data")
    upgrade_store(settings.store_url)
    engine = make_engine(settings.store_url)
    found = Site("", 0)
    try:
        with Session(engine) as session, session.begin():
            put_fleet_document(session, {"fleets": [{"fleet_id": "ber-haul", "name": "Berlin Haulage",
                                                     "kind": "haulier", "timezone": "Europe/Berlin"}]},
                               Scope(None), actor="test")
            announce_change(session)
            for username in USERS:
                create_user(session, username, PASSWORD, "fleet_operator", ("ber-haul",), actor="test")
            for username in ("officer1", "admin"):
                found.secrets[username] = create_user(session, username, PASSWORD,
                                                      "law_enforcement" if username == "officer1" else "admin", (),
                                                      actor="test").totp_secret or ""
    finally:
        engine.dispose()
    port = _free_port()
    process = truckguard_process(["web", "--host", "127.0.0.1", "--port", str(port)],
                                 {"TRUCKGUARD_DATA_DIR": str(settings.data_dir)}, root / "web.log")
    found.base, found.port = f"http://127.0.0.1:{port}", port
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{found.base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (root / "web.log").read_text()
            time.sleep(0.2)
        yield found
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


class _From(HTTPAdapter):
    """Connections from a chosen loopback address (all of 127.0.0.0/8 is this machine)."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]


def _browser(source: str = "127.0.0.1") -> requests.Session:
    browser = requests.Session()
    browser.mount("http://", _From(source))
    return browser


def _sign_in(site: Site, username: str, password: str = PASSWORD, *, code: str = "",
             browser: requests.Session | None = None) -> tuple[requests.Session, int, float]:
    """Signs in through the form as a browser does; returns the browser, the answer's status and its seconds."""
    browser = browser or _browser()
    page = browser.get(f"{site.base}/login", timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    started = time.monotonic()
    response = browser.post(f"{site.base}/login", data={"username": username, "password": password, "code": code,
                                                         "csrf_token": token.group(1)},
                            allow_redirects=False, timeout=30)
    return browser, response.status_code, time.monotonic() - started


def _code(site: Site, username: str, step_offset: int = 0) -> str:
    totp = pyotp.TOTP(site.secrets[username])
    return totp.generate_otp(totp.timecode(time.time()) + step_offset)  # type: ignore[arg-type]


async def _console(port: int, cookie: str, stop: asyncio.Event, answers: list[int]) -> None:
    """One open live page: its EventSource asks, reads the answer, waits the ``retry`` it was given, asks again,
    on one kept-alive connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    last_id = ""
    try:
        while not stop.is_set():
            request = (f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
                       f"Cookie: truckguard_session={cookie}\r\n" + (f"Last-Event-ID: {last_id}\r\n" if last_id else "")
                       + "\r\n")
            writer.write(request.encode())
            await writer.drain()
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            status = int(head.split(" ", 2)[1])
            length = int(re.search(r"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
            body = (await reader.readexactly(length)).decode()
            answers.append(status)
            ids = re.findall(r"^id: (.+)$", body, re.M)
            last_id = ids[-1] if ids else last_id
            retry = re.search(r"^retry: (\d+)$", body, re.M)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=int(retry.group(1)) / 1000 if retry else 2.0)
    finally:
        writer.close()


class Consoles:
    """CONSOLES_PER_USER open live pages for each of USERS, in a thread of their own."""

    def __init__(self, site: Site, cookies: list[str]) -> None:
        self.answers: list[int] = []
        self.errors: list[BaseException] = []
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, args=(site.port, cookies), daemon=True)
        self._thread.start()

    def _run(self, port: int, cookies: list[str]) -> None:
        async def main() -> None:
            tasks = [asyncio.create_task(_console(port, cookie, self._stop, self.answers))
                     for cookie in cookies for _ in range(CONSOLES_PER_USER)]
            for outcome in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(outcome, BaseException):
                    self.errors.append(outcome)

        self._loop.run_until_complete(main())

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.mark.slow
def test_200_live_consoles_leave_sign_in_and_the_health_check_under_a_second(site: Site) -> None:
    cookies = []
    for username in USERS:
        browser, status, _ = _sign_in(site, username)
        assert status == 302
        cookies.append(browser.cookies["truckguard_session"])
    consoles = Consoles(site, cookies)
    try:
        deadline = time.monotonic() + 60
        while len(consoles.answers) < 2 * len(USERS) * CONSOLES_PER_USER and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(consoles.answers) >= 2 * len(USERS) * CONSOLES_PER_USER, consoles.errors[:3]
        sign_ins, health = [], []
        for username in ("officer1", "dispatch3", "dispatch7"):
            code = _code(site, username) if username in site.secrets else ""
            _, status, seconds = _sign_in(site, username, code=code)
            assert status == 302
            sign_ins.append(seconds)
            started = time.monotonic()
            assert requests.get(f"{site.base}/healthz", timeout=10).status_code == 200
            health.append(time.monotonic() - started)
        answered = len(consoles.answers)
    finally:
        consoles.close()
    print(f"\n200 consoles, {answered} event answers; sign-in {max(sign_ins):.3f} s at most "
          f"(median {statistics.median(sign_ins):.3f}), health {max(health):.3f} s at most")
    assert not consoles.errors, consoles.errors[:3]
    assert set(consoles.answers) == {200}
    assert max(sign_ins) < 1.0 and max(health) < 1.0


@pytest.mark.slow
def test_an_officer_signs_in_while_another_address_guesses_their_password(site: Site) -> None:
    attacker = _browser("127.0.0.1")
    statuses: list[int] = []

    def guess() -> None:
        for n in range(50):
            _, status, _ = _sign_in(site, "officer1", f"guess number {n}", browser=attacker)
            statuses.append(status)

    guessing = threading.Thread(target=guess)
    guessing.start()
    try:
        time.sleep(0.5)  # the guessing is under way
        officer, status, seconds = _sign_in(site, "officer1", code=_code(site, "officer1", 1),
                                            browser=_browser("127.0.0.2"))
        assert status == 302, "the officer was kept out"
        assert officer.get(f"{site.base}/stop-requests", timeout=10, allow_redirects=False).status_code == 200
    finally:
        guessing.join(120)
    assert len(statuses) == 50 and statuses.count(401) == 5 and statuses.count(429) == 45
    assert seconds < 5


def test_the_server_is_configured_for_many_connections(tmp_path: Path) -> None:
    from web.server import CONNECTION_LIMIT, make_server

    settings = Settings(data_dir=tmp_path / "data")
    upgrade_store(settings.store_url)
    server = make_server(settings, "127.0.0.1", 0)
    try:
        assert server.adj.connection_limit == CONNECTION_LIMIT >= 1_000 and server.adj.asyncore_use_poll
    finally:
        server.close()


@pytest.mark.slow
def test_a_cookie_copied_from_a_browser_is_refused_by_the_server_once_that_browser_signs_out(site: Site) -> None:
    # From an address of its own: the guessing test above throttles 127.0.0.1, whichever order the tests run in.
    browser, status, _ = _sign_in(site, "dispatch9", browser=_browser("127.0.0.3"))
    assert status == 302
    thief = _browser("127.0.0.4")
    thief.cookies.set("truckguard_session", browser.cookies["truckguard_session"])
    assert thief.get(f"{site.base}/api/me", timeout=10).status_code == 200
    page = browser.get(f"{site.base}/alerts", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    assert browser.post(f"{site.base}/logout", data={"csrf_token": token.group(1)}, allow_redirects=False,
                        timeout=10).status_code == 302
    assert thief.get(f"{site.base}/api/me", timeout=10).status_code == 401
    refused = thief.get(f"{site.base}/alerts", timeout=10, allow_redirects=False)
    assert refused.status_code == 302 and "/login" in refused.headers["Location"]
