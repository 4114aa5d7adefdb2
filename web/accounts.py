"""User accounts: creating them, signing in with throttling, and the functions the command line calls."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from web import passwords
from web.audit import record
from web.models import FleetRow, LoginAttemptRow, UserRow
from web.scope import FLEET_ROLES, ROLES

USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_IP = 20


class AccountError(ValueError):
    """A user cannot be created or changed as asked; the message names the field."""


class LoginThrottled(Exception):
    """Too many failed sign-ins for this account or from this address; try again later."""


def _now() -> datetime:
    return datetime.now(UTC)


def validate_user(username: str, role: str, fleet_ids: Iterable[str]) -> list[str]:
    """Checks a user's fields; returns the fleet ids as a sorted list."""
    if not username or len(username) > 64 or not set(username) <= USERNAME_CHARS:
        raise AccountError(f"username: got {username!r}, expected 1-64 of a-z 0-9 . _ -")
    if role not in ROLES:
        raise AccountError(f"role: got {role!r}, expected one of {', '.join(ROLES)}")
    fleets = sorted({f.strip() for f in fleet_ids if f.strip()})
    if role in FLEET_ROLES and not fleets:
        raise AccountError(f"fleet_ids: a {role} user needs at least one fleet")
    return fleets


def create_user(session: Session, username: str, password: str, role: str, fleet_ids: Iterable[str],
                *, actor: str = "cli", ip: str | None = None) -> UserRow:
    """Adds a user (and an audit entry) to the session; AccountError or WeakPassword when invalid."""
    fleets = validate_user(username, role, fleet_ids)
    passwords.check_strength(password)
    if session.execute(select(UserRow.user_id).where(UserRow.username == username)).first():
        raise AccountError(f"username: {username!r} is taken")
    user = UserRow(username=username, password_hash=passwords.hash_password(password), role=role,
                   fleet_ids=fleets, active=True, created_at=_now())
    session.add(user)
    session.flush()
    record(session, actor, "user.create", "user", username, after=user_summary(user), ip=ip)
    return user


def set_password(session: Session, user: UserRow, password: str, *, actor: str, ip: str | None = None) -> None:
    passwords.check_strength(password)
    user.password_hash = passwords.hash_password(password)
    record(session, actor, "user.password", "user", user.username, ip=ip)


def user_summary(user: UserRow) -> dict[str, object]:
    return {"username": user.username, "role": user.role, "fleet_ids": user.fleet_ids, "active": user.active}


def _failures(session: Session, column: object, value: str, since: datetime) -> int:
    return session.execute(
        select(func.count()).select_from(LoginAttemptRow).where(column == value, LoginAttemptRow.at >= since)
    ).scalar_one()


def authenticate(session: Session, username: str, password: str, ip: str) -> UserRow | None:
    """The active user with this name and password, or None; LoginThrottled after too many failures.

    Failures are stored, so the limit holds across processes; a success clears the account's failures.
    The caller commits.
    """
    now = _now()
    since = now - FAILURE_WINDOW
    if (_failures(session, LoginAttemptRow.username, username, since) >= MAX_FAILURES_PER_ACCOUNT
            or _failures(session, LoginAttemptRow.ip, ip, since) >= MAX_FAILURES_PER_IP):
        raise LoginThrottled(f"too many failed sign-ins; try again in {FAILURE_WINDOW.seconds // 60} minutes")
    user = session.execute(select(UserRow).where(UserRow.username == username)).scalar_one_or_none()
    if user is None:
        passwords.dummy_verify(password)
    if user is None or not user.active or not passwords.verify_password(user.password_hash, password):
        session.add(LoginAttemptRow(username=username[:64], ip=ip[:64], at=now))
        session.execute(delete(LoginAttemptRow).where(LoginAttemptRow.at < now - 4 * FAILURE_WINDOW))
        return None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    session.execute(delete(LoginAttemptRow).where(LoginAttemptRow.username == username))
    user.last_login_at = now
    return user


def _engine_session(url: str) -> tuple[object, Session]:
    from web.db import make_engine, writer
    from web.migrate import upgrade_store

    upgrade_store(url)
    engine = make_engine(url)
    return engine, Session(writer(engine))


def add_user(url: str, username: str, password: str, role: str, fleet_ids: Iterable[str] = ()) -> None:
    """``truckguard users add``: creates a user in the store at ``url``; AccountError/WeakPassword if invalid."""
    engine, session = _engine_session(url)
    try:
        with session, session.begin():
            create_user(session, username, password, role, fleet_ids, actor="cli")
    finally:
        engine.dispose()  # type: ignore[attr-defined]


DEMO_USERS = (("operator", "fleet_operator"), ("rental", "rental"), ("officer1", "law_enforcement"),
              ("officer2", "law_enforcement"), ("admin", "admin"))
"""One user per role, and a second officer: an authorisation needs two."""


def create_demo_users(url: str, fleet_id: str | None = None, rental_fleet_id: str | None = None,
                      ) -> list[tuple[str, str, str]]:
    """Creates (or resets) the demo's users with fresh random passwords; returns (username, password, role).

    The operator gets ``fleet_id`` (default: the first haulier fleet in the store), the rental desk
    ``rental_fleet_id`` (default: the first rental fleet, else the operator's fleet).
    """
    engine, session = _engine_session(url)
    created: list[tuple[str, str, str]] = []
    try:
        with session, session.begin():
            fleets = session.execute(select(FleetRow.fleet_id, FleetRow.kind).order_by(FleetRow.fleet_id)).all()
            haulier = fleet_id or next((f for f, k in fleets if k == "haulier"), fleets[0][0] if fleets else "demo")
            rental = rental_fleet_id or next((f for f, k in fleets if k == "rental"), haulier)
            for username, role in DEMO_USERS:
                password = secrets.token_urlsafe(12)
                fleet_ids = [haulier] if role == "fleet_operator" else [rental] if role == "rental" else []
                user = session.execute(select(UserRow).where(UserRow.username == username)).scalar_one_or_none()
                if user is None:
                    create_user(session, username, password, role, fleet_ids, actor="demo")
                else:
                    user.role, user.fleet_ids, user.active = role, fleet_ids, True
                    set_password(session, user, password, actor="demo")
                created.append((username, password, role))
    finally:
        engine.dispose()  # type: ignore[attr-defined]
    return created
