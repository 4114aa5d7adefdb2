"""Through the real server (`truckguard web` in its own process): 200 live consoles leave sign-in and the health
check fast; a password-guessing address cannot keep an officer at another address out; sign-out, a password change
and an administrator's disable end the other sessions at once."""

from __future__ import annotations

import asyncio
import contextlib
import re
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from telematics.settings import Settings
from tests.web.real_server import PASSWORD, Account, Site, browser, form_token, running_site, sign_in, signed_in
from web.migrate import upgrade_store

BER_HAUL = {"fleet_id": "ber-haul", "name": "Berlin Haulage", "kind": "haulier", "timezone": "Europe/Berlin"}
USERS = [f"dispatch{n}" for n in range(10)]
CONSOLES_PER_USER = 20


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    accounts = [*(Account(u, "fleet_operator", ("ber-haul",)) for u in USERS), Account("officer1", "law_enforcement"),
                Account("officer2", "law_enforcement"), Account("admin", "admin"),
                Account("planner", "fleet_operator", ("ber-haul",))]
    with running_site(tmp_path_factory.mktemp("server"), accounts, fleet={"fleets": [BER_HAUL]}) as running:
        yield running


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
        client, status, _ = sign_in(site, username)
        assert status == 302
        cookies.append(client.cookies["truckguard_session"])
    consoles = Consoles(site, cookies)
    try:
        deadline = time.monotonic() + 60
        while len(consoles.answers) < 2 * len(USERS) * CONSOLES_PER_USER and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(consoles.answers) >= 2 * len(USERS) * CONSOLES_PER_USER, consoles.errors[:3]
        sign_ins, health = [], []
        for username in ("officer1", "dispatch3", "dispatch7"):
            code = site.code(username) if username in site.secrets else ""
            _, status, seconds = sign_in(site, username, code=code)
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
    attacker = browser("127.0.0.1")
    statuses: list[int] = []
    took: list[float] = []

    def guess() -> None:
        started = time.monotonic()
        for n in range(50):
            _, status, _ = sign_in(site, "officer1", f"guess number {n}", client=attacker)
            statuses.append(status)
        took.append(time.monotonic() - started)

    guessing = threading.Thread(target=guess)
    guessing.start()
    try:
        time.sleep(0.5)  # the guessing is under way
        officer, status, seconds = sign_in(site, "officer1", code=site.code("officer1", 1),
                                            client=browser("127.0.0.2"))
        assert status == 302, "the officer was kept out"
        assert officer.get(f"{site.base}/stop-requests", timeout=10, allow_redirects=False).status_code == 200
    finally:
        guessing.join(120)
    # Five free tries, then each failure doubles the wait from 1 s: a guess that comes after the wait is heard (and
    # fails), so n more failures need 1 + 2 + ... + 2^(n-1) = 2^n - 1 seconds of guessing. On a quiet machine the
    # 50 guesses take under a second (five failures, then only refusals); on a loaded one, a few more are heard.
    assert len(statuses) == 50 and statuses[:5] == [401] * 5 and set(statuses) == {401, 429}
    heard_after_free = statuses.count(401) - 5
    assert 2**heard_after_free - 1 <= took[0], (heard_after_free, took)
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


def _thief_with_the_cookie_of(site: Site, victim: requests.Session, source: str) -> requests.Session:
    """Another machine holding a copy of the victim's session cookie, let in while that session lasts."""
    thief = browser(source)
    thief.cookies.set("truckguard_session", victim.cookies["truckguard_session"])
    assert thief.get(f"{site.base}/api/me", timeout=10).status_code == 200
    return thief


def _refused(site: Site, client: requests.Session) -> None:
    assert client.get(f"{site.base}/api/me", timeout=10).status_code == 401
    page = client.get(f"{site.base}/alerts", timeout=10, allow_redirects=False)
    assert page.status_code == 302 and "/login" in page.headers["Location"]


# Each test signs in from addresses of its own: the guessing test above throttles 127.0.0.1, whichever order the
# tests run in.


@pytest.mark.slow
def test_a_cookie_copied_from_a_browser_is_refused_by_the_server_once_that_browser_signs_out(site: Site) -> None:
    client, status, _ = sign_in(site, "dispatch9", client=browser("127.0.0.3"))
    assert status == 302
    thief = _thief_with_the_cookie_of(site, client, "127.0.0.4")
    assert client.post(f"{site.base}/logout", data={"csrf_token": form_token(site, client, "/alerts")},
                       allow_redirects=False, timeout=10).status_code == 302
    _refused(site, thief)


@pytest.mark.slow
def test_a_password_change_ends_every_other_session_on_the_server_at_once(site: Site) -> None:
    laptop = signed_in(site, "planner", "127.0.0.5")
    phone = signed_in(site, "planner", "127.0.0.6")
    thief = _thief_with_the_cookie_of(site, phone, "127.0.0.7")
    response = laptop.post(f"{site.base}/account/password",
                           data={"current": PASSWORD, "new": "violet ferry lantern 7",
                                 "csrf_token": form_token(site, laptop, "/account")},
                           allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text[:500]
    assert laptop.get(f"{site.base}/api/me", timeout=10).json()["username"] == "planner"
    _refused(site, phone)
    _refused(site, thief)
    _, status, _ = sign_in(site, "planner", client=browser("127.0.0.8"))
    assert status == 401, "the old password still opens a session"
    _, status, _ = sign_in(site, "planner", "violet ferry lantern 7", client=browser("127.0.0.8"))
    assert status == 302


@pytest.mark.slow
def test_an_admin_disabling_an_officer_ends_the_officers_sessions_on_the_server_at_once(site: Site) -> None:
    officer = signed_in(site, "officer2", "127.0.0.9")
    thief = _thief_with_the_cookie_of(site, officer, "127.0.0.10")
    assert officer.get(f"{site.base}/stop-requests", timeout=10, allow_redirects=False).status_code == 200
    admin = signed_in(site, "admin", "127.0.0.11")
    response = admin.post(f"{site.base}/users/officer2/active",
                          data={"active": "0", "csrf_token": form_token(site, admin, "/users")},
                          allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text[:500]
    _refused(site, officer)
    _refused(site, thief)
    assert admin.get(f"{site.base}/api/me", timeout=10).status_code == 200
