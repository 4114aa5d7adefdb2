"""Live consoles without a valid session cost the least and never count against anybody's cap."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from telematics.settings import Settings
from tests.web.people import csrf_token, signed_in
from web import create_app
from web.db import get_engine
from web.live import CONSOLE_CAP
from web.migrate import upgrade_store
from web.views.events import ALLOWANCE


@pytest.fixture
def small_site(tmp_path: Path) -> Iterator[Flask]:
    """A site process that serves two live consoles, one per account, asked for again every 60 s (so the test's
    own pace makes no room)."""
    settings = Settings(data_dir=tmp_path / "data", live_consoles_max=2)
    upgrade_store(settings.store_url)
    app = create_app(settings, testing=True)
    app.config.update(EVENTS_RETRY_S=60.0, EVENTS_CONSOLES_PER_USER=1)
    CONSOLE_CAP.forget()
    ALLOWANCE.forget()
    yield app
    CONSOLE_CAP.forget()
    ALLOWANCE.forget()


def test_a_console_without_a_session_is_refused_without_a_query(small_site: Flask) -> None:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    with small_site.app_context():
        engine = get_engine()
    event.listen(engine, "before_cursor_execute", count)
    try:
        stranger = small_site.test_client()
        assert stranger.get("/events").status_code == 401
        stranger.set_cookie("truckguard_session", "forged.cookie.value")
        assert stranger.get("/events").status_code == 401
        assert small_site.test_client().get("/events", headers={"Authorization": "Bearer nonsense"}).status_code == 401
        assert statements == []
        signed_in(small_site, "dispatch1", "fleet_operator", ("ber-haul",)).get("/events")
        assert statements  # the count sees the store's statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_refused_consoles_take_nothing_from_a_users_cap_or_the_process_cap(small_site: Flask) -> None:
    gone = signed_in(small_site, "dispatch2", "fleet_operator", ("ber-haul",))
    cookie = gone.get_cookie("truckguard_session")
    assert cookie is not None
    assert gone.post("/logout", data={"csrf_token": csrf_token(gone, "/alerts")}).status_code == 302
    thief = small_site.test_client()
    thief.set_cookie("truckguard_session", cookie.value)  # a copied cookie of dispatch2's ended session
    statuses = [small_site.test_client().get("/events").status_code for _ in range(20)]
    statuses += [thief.get("/events").status_code for _ in range(20)]
    statuses += [small_site.test_client().get("/events", headers={"Authorization": "Bearer tg_guessed"}).status_code
                 for _ in range(20)]
    assert set(statuses) == {401}
    # Sixty refusals later both accounts still have their one console, and the process its two.
    first = signed_in(small_site, "dispatch1", "fleet_operator", ("ber-haul",))
    second = signed_in(small_site, "dispatch2", "fleet_operator", ("ber-haul",))
    assert [first.get("/events").status_code, second.get("/events").status_code] == [200, 200]
    assert first.get("/events").status_code in (429, 503)  # the caps were there all along
