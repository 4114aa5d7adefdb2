"""Password hashing a few at a time: a flood of sign-ins gets 503 with Retry-After beyond the cap, never more hashes
at once than the cap, and the site's other pages are served meanwhile."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from telematics.settings import Settings, SettingsError, load_settings
from web import passwords
from web.accounts import create_user
from web.db import make_engine
from web.migrate import upgrade_store
from web.passwords import HashGate, HashingBusy
from web.reference import put_fleet_document
from web.scope import Scope
from web.server import make_server

PASSWORD = "correct horse battery"
HASH_S = 0.4
"""How long each check takes in the flood: long enough that the sign-ins overlap on a loaded machine."""


def _hold(gate: HashGate, entered: threading.Event, leave: threading.Event) -> None:
    with gate.slot():
        entered.set()
        leave.wait(5)


def test_the_gate_lets_one_wait_for_a_slot_and_turns_the_rest_away() -> None:
    gate = HashGate(1, wait_s=2.0)
    entered, leave = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold, args=(gate, entered, leave))
    holder.start()
    assert entered.wait(5)
    waited: list[float] = []

    def wait_for_slot() -> None:
        started = time.monotonic()
        with gate.slot():
            waited.append(time.monotonic() - started)

    waiter = threading.Thread(target=wait_for_slot)
    waiter.start()
    deadline = time.monotonic() + 5
    while gate.waiting < 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    # one hashing, one waiting: the next is turned away at once
    with pytest.raises(HashingBusy) as refused, gate.slot():
        pass
    assert refused.value.code == 503 and refused.value.retry_after == 2
    leave.set()
    holder.join(5)
    waiter.join(5)
    assert len(waited) == 1 and waited[0] < 2.0, "the waiter got the slot as soon as it was free"
    assert gate.busy == 0 and gate.waiting == 0 and gate.refused == 1


def test_a_waiter_gives_up_after_its_wait() -> None:
    gate = HashGate(1, wait_s=0.05)
    entered, leave = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold, args=(gate, entered, leave))
    holder.start()
    assert entered.wait(5)
    started = time.monotonic()
    with pytest.raises(HashingBusy), gate.slot():
        pass
    assert 0.05 <= time.monotonic() - started < 1.0
    leave.set()
    holder.join(5)
    with gate.slot():  # free again
        assert gate.busy == 1


def test_the_cap_is_a_setting() -> None:
    settings = load_settings({"TRUCKGUARD_PASSWORD_HASH_SLOTS": "3", "TRUCKGUARD_PASSWORD_HASH_WAIT_S": "0.5"})
    assert (settings.password_hash_slots, settings.password_hash_wait_s) == (3, 0.5)
    with pytest.raises(SettingsError, match="TRUCKGUARD_PASSWORD_HASH_SLOTS=0"):
        load_settings({"TRUCKGUARD_PASSWORD_HASH_SLOTS": "0"})


class SlowHasher(PasswordHasher):
    """The tests' cheap Argon2, made to take HASH_S per check, counting how many run at once."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> Any:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(HASH_S)
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The site in waitress (its 8 threads) in this process, one hashing slot and 0.1 s of waiting for it."""
    settings = Settings(data_dir=tmp_path / "data", password_hash_slots=1, password_hash_wait_s=0.1)
    upgrade_store(settings.store_url)
    engine = make_engine(settings.store_url)
    with Session(engine) as session, session.begin():
        put_fleet_document(session, {"fleets": [{"fleet_id": "ber-haul", "name": "Berlin Haulage", "kind": "haulier",
                                                 "timezone": "Europe/Berlin"}]}, Scope(None), actor="test")
        for n in range(8):
            create_user(session, f"dispatch{n}", PASSWORD, "fleet_operator", ("ber-haul",), actor="test")
    engine.dispose()
    site = make_server(settings, "127.0.0.1", 0)
    thread = threading.Thread(target=site.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.effective_port}"
    finally:
        site.close()
        thread.join(5)


def _sign_in(base: str, username: str, start: threading.Barrier) -> requests.Response:
    with requests.Session() as browser:
        page = browser.get(f"{base}/login", timeout=10).text
        token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        start.wait(10)
        return browser.post(f"{base}/login", data={"username": username, "password": PASSWORD, "csrf_token": token},
                            allow_redirects=False, timeout=10)


def test_a_flood_of_sign_ins_is_capped_and_the_site_keeps_serving(server: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = SlowHasher()
    monkeypatch.setattr(passwords, "HASHER", hasher)
    start = threading.Barrier(8)
    with ThreadPoolExecutor(8) as pool:
        flood = [pool.submit(_sign_in, server, f"dispatch{n}", start) for n in range(8)]
        start_wait = time.monotonic()
        while hasher.running == 0 and time.monotonic() - start_wait < 10:
            time.sleep(0.01)
        started = time.monotonic()  # while the first sign-in hashes, the site still answers other pages at once
        health = requests.get(f"{server}/healthz", timeout=10)
        page_s = time.monotonic() - started
        answers = [f.result() for f in flood]
    codes = sorted(a.status_code for a in answers)
    assert health.status_code == 200 and page_s < HASH_S, f"/healthz took {page_s:.2f} s during the flood"
    assert hasher.most == 1, "never more hashes at once than the cap"
    assert 302 in codes and 503 in codes and set(codes) <= {302, 503}, codes
    busy = next(a for a in answers if a.status_code == 503)
    assert busy.headers["Retry-After"] == "1"
    assert "Sign-in busy" in busy.text and "Internal Server Error" not in busy.text
