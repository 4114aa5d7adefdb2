"""Users and signed-in test clients for the web tests."""

from __future__ import annotations

import re

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from web.accounts import create_user
from web.db import get_engine
from web.models import UserRow

PASSWORD = "correct horse battery"


def ensure_user(app: Flask, username: str, role: str, fleet_ids: tuple[str, ...] = ()) -> UserRow:
    with app.app_context(), Session(get_engine(), expire_on_commit=False) as session, session.begin():
        user = session.execute(select(UserRow).where(UserRow.username == username)).scalar_one_or_none()
        return user or create_user(session, username, PASSWORD, role, fleet_ids, actor="test")


def totp_code(app: Flask, username: str) -> str:
    """The user's current second-factor code (empty without one), made usable again: a test signs the same
    officer in several times within one 30-second step, which a real authenticator app never needs to."""
    with app.app_context(), Session(get_engine()) as session, session.begin():
        user = session.execute(select(UserRow).where(UserRow.username == username)).scalar_one()
        user.totp_last_step = None
        return pyotp.TOTP(user.totp_secret).now() if user.totp_secret else ""


def signed_in(app: Flask, username: str, role: str, fleet_ids: tuple[str, ...] = ()) -> FlaskClient:
    """A client with a session for the user (created when missing), signed in through the real form (with the
    TOTP code for officers and administrators)."""
    ensure_user(app, username, role, fleet_ids)
    client = app.test_client()
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token,
                                           "code": totp_code(app, username)})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def csrf_token(client: FlaskClient, page: str = "/account") -> str:
    html = client.get(page).get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, f"no CSRF token on {page}"
    return match.group(1)
