"""Sign-in that protects without locking out, a second factor for officers, strong passwords, sessions that end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.web.people import PASSWORD, csrf_token, ensure_user, signed_in, totp_code
from web.accounts import FREE_TRIES_PER_PAIR, LoginThrottled, authenticate, create_user
from web.db import get_engine
from web.models import LoginAttemptRow, UserRow, WebSessionRow
from web.passwords import WeakPassword, check_strength


def _login(client: FlaskClient, username: str, password: str = PASSWORD, code: str = "",
           ip: str = "127.0.0.1") -> int:
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"username": username, "password": password, "code": code,
                                           "csrf_token": token}, environ_base={"REMOTE_ADDR": ip})
    return response.status_code


def test_an_officer_needs_the_code_from_their_second_factor_and_each_code_works_once(app: Flask) -> None:
    officer = ensure_user(app, "officer1", "law_enforcement")
    assert officer.totp_secret and len(officer.totp_secret) == 32
    client = app.test_client()
    assert _login(client, "officer1") == 401  # right password, no code
    code = totp_code(app, "officer1")
    wrong = code[:5] + str((int(code[5]) + 1) % 10)
    assert _login(client, "officer1", code=wrong) == 401
    assert _login(client, "officer1", code=code) == 302
    # The same code, seen over a shoulder or replayed from a capture, is refused (RFC 6238 section 5.2).
    assert _login(app.test_client(), "officer1", code=code) == 401
    # Fleet roles have no second factor.
    assert ensure_user(app, "op", "fleet_operator", ("nordfracht",)).totp_secret is None
    assert _login(app.test_client(), "op") == 302


@pytest.mark.parametrize("password", [" " * 12, "a" * 12, "password1234", "qwertyuiop12", "officer1officer1"])
def test_weak_and_common_passwords_are_refused(password: str) -> None:
    with pytest.raises(WeakPassword, match="password: "):
        check_strength(password, ("officer1",))


def test_an_administrator_cannot_create_an_admin_with_a_guessable_password(app: Flask) -> None:
    admin = signed_in(app, "admin", "admin")
    token = csrf_token(admin)
    response = admin.post("/api/users", json={"username": "admin2", "password": "aaaaaaaaaaaa", "role": "admin"},
                          headers={"X-CSRFToken": token})
    assert response.status_code == 400 and response.get_json()["message"].startswith("password: too easy to guess")
    response = admin.post("/api/users", json={"username": "admin2", "password": "plum orbit candle 42",
                                              "role": "admin"}, headers={"X-CSRFToken": token})
    assert response.status_code == 201
    body = response.get_json()
    assert len(body["totp_secret"]) == 32 and body["totp_uri"].startswith("otpauth://totp/truckguard:admin2?")


def test_failures_slow_down_only_the_address_they_come_from(app: Flask) -> None:
    ensure_user(app, "officer1", "law_enforcement")
    attacker = app.test_client()
    statuses = [_login(attacker, "officer1", "guess-" + str(n), ip="10.0.0.66") for n in range(50)]
    assert statuses[:FREE_TRIES_PER_PAIR] == [401] * FREE_TRIES_PER_PAIR
    assert set(statuses[FREE_TRIES_PER_PAIR:]) == {429}
    # Meanwhile, at the police station:
    assert _login(app.test_client(), "officer1", code=totp_code(app, "officer1"), ip="10.1.2.3") == 302


def test_the_wait_doubles_with_each_failure_and_ends(app: Flask) -> None:
    ensure_user(app, "op", "fleet_operator", ("nordfracht",))
    with app.app_context(), Session(get_engine()) as session, session.begin():
        now = datetime.now(UTC)
        for _ in range(FREE_TRIES_PER_PAIR + 3):
            session.add(LoginAttemptRow(username="op", ip="10.0.0.66", at=now - timedelta(seconds=1)))
        with pytest.raises(LoginThrottled) as refused:
            authenticate(session, "op", PASSWORD, "10.0.0.66")
        assert refused.value.retry_after_s == 2 ** 3 - 1  # 8 s after the last failure, 1 s of it gone
        assert authenticate(session, "op", PASSWORD, "10.9.9.9") is not None
    with app.app_context(), Session(get_engine()) as session, session.begin():
        session.execute(LoginAttemptRow.__table__.update().values(at=datetime.now(UTC) - timedelta(seconds=9)))
        assert authenticate(session, "op", PASSWORD, "10.0.0.66") is not None


def test_a_copied_cookie_is_refused_after_sign_out(app: Flask) -> None:
    client = signed_in(app, "op", "fleet_operator", ("nordfracht",))
    cookie = client.get_cookie("truckguard_session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("truckguard_session", cookie.value)
    assert thief.get("/alerts").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf_token(client, "/alerts")}).status_code == 302
    response = thief.get("/alerts")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert thief.get("/api/me").status_code == 401


def test_a_password_change_ends_every_other_session(app: Flask) -> None:
    laptop = signed_in(app, "op", "fleet_operator", ("nordfracht",))
    phone = signed_in(app, "op", "fleet_operator", ("nordfracht",))
    response = laptop.post("/account/password", data={"current": PASSWORD, "new": "violet ferry lantern 7",
                                                      "csrf_token": csrf_token(laptop)})
    assert response.status_code == 302
    assert laptop.get("/alerts").status_code == 200
    assert phone.get("/alerts").status_code == 302


def test_an_admin_disabling_an_account_ends_its_sessions_at_once(app: Flask) -> None:
    officer = signed_in(app, "officer2", "law_enforcement")
    admin = signed_in(app, "admin", "admin")
    assert officer.get("/stop-requests").status_code == 200
    response = admin.post("/users/officer2/active", data={"active": "0", "csrf_token": csrf_token(admin)})
    assert response.status_code == 302
    assert officer.get("/stop-requests").status_code == 302
    with app.app_context(), Session(get_engine()) as session:
        user = session.execute(select(UserRow).where(UserRow.username == "officer2")).scalar_one()
        assert session.execute(select(WebSessionRow).where(WebSessionRow.user_id == user.user_id)).first() is None


def test_the_cli_and_fixtures_still_create_accounts(app: Flask) -> None:
    with app.app_context(), Session(get_engine()) as session, session.begin():
        user = create_user(session, "admin9", "granite tulip harbour", "admin", ())
        assert user.totp_secret is not None


def test_an_admin_replaces_a_lost_second_factor_and_the_old_codes_stop_working(app: Flask) -> None:
    import re

    import pyotp

    old_secret = ensure_user(app, "officer1", "law_enforcement").totp_secret
    officer = signed_in(app, "officer1", "law_enforcement")
    admin = signed_in(app, "admin", "admin")
    page = admin.post("/users/officer1/second-factor", data={"csrf_token": csrf_token(admin, "/users")},
                      follow_redirects=True).get_data(as_text=True)
    new_secret = re.search(r"New second-factor secret for officer1: ([A-Z2-7]{32})", page)
    assert new_secret and new_secret.group(1) != old_secret
    assert officer.get("/stop-requests").status_code == 302  # its sessions ended
    assert _login(app.test_client(), "officer1", code=pyotp.TOTP(old_secret or "").now()) == 401
    assert _login(app.test_client(), "officer1", code=pyotp.TOTP(new_secret.group(1)).now()) == 302
