"""A site process serves a bounded number of live consoles, all users together: beyond it a console gets 503 with
Retry-After while sign-in and the health check are answered as usual."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from telematics.settings import Settings, SettingsError, load_settings
from tests.web.people import signed_in
from web import create_app
from web.live import CONSOLE_CAP, ConsoleCap
from web.migrate import upgrade_store


def test_the_cap_holds_one_request_per_console_and_refills_at_one_per_console_per_interval() -> None:
    cap = ConsoleCap()
    assert [cap.take(3, 2.0, now=10.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = cap.take(3, 2.0, now=10.0)
    assert wait == pytest.approx(2.0 / 3)  # three consoles every 2 s: one request's room every 0.67 s
    assert ConsoleCap.retry_after(wait) == "1" and ConsoleCap.retry_after(2.2) == "3"
    assert cap.take(3, 2.0, now=10.7) == 0.0
    assert cap.take(3, 2.0, now=10.7) > 0
    # A long quiet spell does not save up more than one request per console.
    assert [cap.take(3, 2.0, now=100.0) for _ in range(4)][-1] > 0


def test_the_cap_is_a_setting() -> None:
    assert Settings().live_consoles_max == 400
    assert load_settings({"TRUCKGUARD_LIVE_CONSOLES_MAX": "50"}).live_consoles_max == 50
    with pytest.raises(SettingsError, match="TRUCKGUARD_LIVE_CONSOLES_MAX=0: expected at least 1"):
        load_settings({"TRUCKGUARD_LIVE_CONSOLES_MAX": "0"})


@pytest.fixture
def small_site(tmp_path: Path) -> Iterator[Flask]:
    """A site process that serves three live consoles, whose consoles ask again every 60 s (so the test's own
    pace cannot make room for a fourth)."""
    settings = Settings(data_dir=tmp_path / "data", live_consoles_max=3)
    upgrade_store(settings.store_url)
    app = create_app(settings, testing=True)
    app.config["EVENTS_RETRY_S"] = 60.0
    CONSOLE_CAP.forget()
    yield app
    CONSOLE_CAP.forget()


def test_a_console_beyond_the_process_cap_gets_503_while_sign_in_and_health_answer(small_site: Flask) -> None:
    first = signed_in(small_site, "dispatch1", "fleet_operator", ("ber-haul",))
    second = signed_in(small_site, "dispatch2", "fleet_operator", ("ber-haul",))
    assert [first.get("/events").status_code, first.get("/events").status_code,
            second.get("/events").status_code] == [200, 200, 200]
    # The fourth console is turned away whoever it belongs to: the cap is the process's, not the user's.
    for browser in (second, first):
        refused = browser.get("/events")
        assert refused.status_code == 503
        assert 1 <= int(refused.headers["Retry-After"]) <= 20  # one console's room: 60 s / 3 consoles
        assert "live consoles" in refused.get_json()["message"]
    assert small_site.test_client().get("/healthz").status_code == 200
    officer = signed_in(small_site, "officer1", "law_enforcement")  # asserts the sign-in went through
    assert officer.get("/stop-requests").status_code == 200
