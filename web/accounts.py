"""User accounts: creating them, signing in with throttling, and the functions the command line calls."""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import pyotp
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from telematics.errors import BadInput
from web import passwords
from web.audit import record
from web.models import FleetRow, LoginAttemptRow, UserRow, WebSessionRow
from web.scope import FLEET_ROLES, ROLES

USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")
FAILURE_WINDOW = timedelta(minutes=15)
FREE_TRIES_PER_PAIR = 5
"""Wrong passwords for one account from one address before sign-in from there is slowed down."""
FREE_TRIES_PER_IP = 20
"""Wrong passwords from one address (any accounts) before that address is slowed down: password spraying."""
FIRST_DELAY_S = 1.0
MAX_DELAY_S = 900.0
"""Each failure past the free tries doubles the wait, up to 15 minutes. The delays hold only for the address
that failed: nobody elsewhere can lock an account, so an officer can always sign in from their own desk."""
SECOND_FACTOR_ROLES = frozenset({"law_enforcement", "admin"})
"""Accounts that authorise remote stops or manage accounts need a second factor (TOTP, RFC 6238)."""
TOTP_STEP_S = 30
TOTP_WINDOW = 1
"""Codes of one step before and after are accepted too: phone clocks drift by a few seconds."""


class AccountError(BadInput):
    """A user cannot be created or changed as asked; the message names the field."""


class LoginThrottled(Exception):
    """Too many failed sign-ins from this address (for this account, or for any); try again after ``retry_after_s``."""

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        super().__init__(f"too many failed sign-ins from your address; try again in {self.retry_after_s} s")


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


def unknown_fleets(session: Session, fleet_ids: Iterable[str]) -> list[str]:
    """The ids among ``fleet_ids`` that name no fleet in the store, sorted."""
    wanted = sorted(set(fleet_ids))
    known = set(session.execute(select(FleetRow.fleet_id).where(FleetRow.fleet_id.in_(wanted))).scalars())
    return [f for f in wanted if f not in known]


def create_user(session: Session, username: str, password: str, role: str, fleet_ids: Iterable[str],
                *, actor: str = "cli", ip: str | None = None) -> UserRow:
    """Adds a user (and an audit entry) to the session; AccountError or WeakPassword when invalid.

    An officer or administrator gets a TOTP secret (``user.totp_secret``) to hand over with the password.
    """
    fleets = validate_user(username, role, fleet_ids)
    passwords.check_strength(password, (username,))
    if session.execute(select(UserRow.user_id).where(UserRow.username == username)).first():
        raise AccountError(f"username: {username!r} is taken")
    user = UserRow(username=username, password_hash=passwords.hash_password(password), role=role,
                   fleet_ids=fleets, active=True, created_at=_now(),
                   totp_secret=pyotp.random_base32() if role in SECOND_FACTOR_ROLES else None)
    session.add(user)
    session.flush()
    record(session, actor, "user.create", "user", username, after=user_summary(user), ip=ip)
    return user


def end_sessions(session: Session, user: UserRow, *, keep: str | None = None) -> int:
    """Ends every signed-in browser session of ``user`` (but the one whose digest is ``keep``); returns how many."""
    query = delete(WebSessionRow).where(WebSessionRow.user_id == user.user_id)
    if keep is not None:
        query = query.where(WebSessionRow.session_sha256 != keep)
    return session.execute(query).rowcount or 0


def set_password(session: Session, user: UserRow, password: str, *, actor: str, ip: str | None = None) -> None:
    """A new password; every session of the user ends (the caller signs the changing browser in again)."""
    passwords.check_strength(password, (user.username,))
    user.password_hash = passwords.hash_password(password)
    end_sessions(session, user)
    record(session, actor, "user.password", "user", user.username, ip=ip)


def set_active(session: Session, user: UserRow, active: bool, *, actor: str, ip: str | None = None) -> None:
    """Enables or disables an account; disabling ends its sessions at once (its API tokens stop working too)."""
    before = user_summary(user)
    user.active = active
    if not active:
        end_sessions(session, user)
    record(session, actor, "user.activate" if active else "user.deactivate", "user", user.username,
           before=before, after=user_summary(user), ip=ip)


def new_second_factor(session: Session, user: UserRow, *, actor: str, ip: str | None = None) -> str:
    """A fresh TOTP secret for ``user`` (a lost phone): the old codes stop working and sessions end."""
    user.totp_secret = pyotp.random_base32()
    user.totp_last_step = None
    end_sessions(session, user)
    record(session, actor, "user.second_factor", "user", user.username, ip=ip)
    return user.totp_secret


def provisioning_uri(user: UserRow) -> str | None:
    """The otpauth:// URI an authenticator app reads (from a QR code or typed in), or None without a second factor."""
    if not user.totp_secret:
        return None
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.username, issuer_name="truckguard")


def user_summary(user: UserRow) -> dict[str, object]:
    return {"username": user.username, "role": user.role, "fleet_ids": user.fleet_ids, "active": user.active}


def _wait_s(failures: int, free: int) -> float:
    return 0.0 if failures < free else min(FIRST_DELAY_S * 2 ** (failures - free), MAX_DELAY_S)


def throttle_wait(session: Session, username: str, ip: str, now: datetime | None = None) -> float:
    """Seconds this address must still wait before trying this account again (0 when it may try now).

    Failures are counted for the account and address together, and for the address alone; never for the
    account alone, which would let anyone anywhere lock an officer out by failing on purpose.
    """
    now = now or _now()
    since = now - FAILURE_WINDOW
    pair = session.execute(select(func.count(), func.max(LoginAttemptRow.at)).where(
        LoginAttemptRow.username == username, LoginAttemptRow.ip == ip, LoginAttemptRow.at >= since)).one()
    spray = session.execute(select(func.count(), func.max(LoginAttemptRow.at)).where(
        LoginAttemptRow.ip == ip, LoginAttemptRow.at >= since)).one()
    wait = 0.0
    for (count, last), free in ((pair, FREE_TRIES_PER_PAIR), (spray, FREE_TRIES_PER_IP)):
        if count and last is not None:
            last = last if last.tzinfo else last.replace(tzinfo=UTC)
            wait = max(wait, _wait_s(count, free) - (now - last).total_seconds())
    return max(wait, 0.0)


def _code_step(user: UserRow, code: str, now: datetime) -> int | None:
    """The time step of ``code`` if it is a valid, not yet used TOTP code of ``user``, else None."""
    code = "".join(code.split())
    if not user.totp_secret or len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(user.totp_secret, interval=TOTP_STEP_S)
    for offset in range(-TOTP_WINDOW, TOTP_WINDOW + 1):
        moment = now + timedelta(seconds=offset * TOTP_STEP_S)
        if secrets.compare_digest(totp.at(moment), code):
            step = totp.timecode(moment)
            # RFC 6238 section 5.2: a code is accepted once; a copied one is refused.
            return step if user.totp_last_step is None or step > user.totp_last_step else None
    return None


def authenticate(session: Session, username: str, password: str, ip: str, code: str = "") -> UserRow | None:
    """The active user with this name, password and (for officers and administrators) TOTP code, or None;
    LoginThrottled while this address must wait after failures.

    Failures are stored, so the limits hold across processes; a success clears its address's failures for the
    account. The caller commits.
    """
    now = _now()
    wait = throttle_wait(session, username, ip, now)
    if wait > 0:
        raise LoginThrottled(wait)
    user = session.execute(select(UserRow).where(UserRow.username == username)).scalar_one_or_none()
    if user is None:
        passwords.dummy_verify(password)
    ok = user is not None and user.active and passwords.verify_password(user.password_hash, password)
    step = None
    if ok and user is not None and user.role in SECOND_FACTOR_ROLES:
        step = _code_step(user, code, now)
        ok = step is not None
    if not ok or user is None:
        session.add(LoginAttemptRow(username=username[:64], ip=ip[:64], at=now))
        session.execute(delete(LoginAttemptRow).where(LoginAttemptRow.at < now - 4 * FAILURE_WINDOW))
        return None
    if step is not None:
        user.totp_last_step = step
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    session.execute(delete(LoginAttemptRow).where(LoginAttemptRow.username == username, LoginAttemptRow.ip == ip))
    user.last_login_at = now
    return user


def _engine_session(url: str) -> tuple[object, Session]:
    from web.db import make_engine, writer
    from web.migrate import upgrade_store

    upgrade_store(url)
    engine = make_engine(url)
    return engine, Session(writer(engine))


def add_user(url: str, username: str, password: str, role: str, fleet_ids: Iterable[str] = ()) -> str | None:
    """``truckguard users add``: creates a user in the store at ``url``; AccountError/WeakPassword if invalid.
    Returns the second factor's secret (base32) of an officer or administrator, to hand over with the password."""
    engine, session = _engine_session(url)
    try:
        with session, session.begin():
            return create_user(session, username, password, role, fleet_ids, actor="cli").totp_secret
    finally:
        engine.dispose()  # type: ignore[attr-defined]


DEMO_USERS = (("operator", "fleet_operator"), ("rental", "rental"), ("officer1", "law_enforcement"),
              ("officer2", "law_enforcement"), ("admin", "admin"))
"""One user per role, and a second officer: an authorisation needs two."""


class DemoAccount(NamedTuple):
    username: str
    password: str
    role: str
    totp_secret: str | None
    """Base32 secret of the second factor (officers and the administrator), for an authenticator app or a script."""


def create_demo_users(url: str, fleet_id: str | None = None, rental_fleet_id: str | None = None,
                      ) -> list[DemoAccount]:
    """Creates (or resets) the demo's users with fresh random passwords and second factors.

    The operator gets ``fleet_id`` (default: the first haulier fleet in the store), the rental desk
    ``rental_fleet_id`` (default: the first rental fleet, else the operator's fleet).
    """
    engine, session = _engine_session(url)
    created: list[DemoAccount] = []
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
                    user = create_user(session, username, password, role, fleet_ids, actor="demo")
                else:
                    user.role, user.fleet_ids, user.active = role, fleet_ids, True
                    set_password(session, user, password, actor="demo")
                    if role in SECOND_FACTOR_ROLES:
                        new_second_factor(session, user, actor="demo")
                created.append(DemoAccount(username, password, role, user.totp_secret))
    finally:
        engine.dispose()  # type: ignore[attr-defined]
    return created


def reset_second_factor(url: str, username: str) -> str:
    """``truckguard users totp NAME``: a new TOTP secret for an officer or administrator; returns it (base32)."""
    engine, session = _engine_session(url)
    try:
        with session, session.begin():
            user = session.execute(select(UserRow).where(UserRow.username == username)).scalar_one_or_none()
            if user is None:
                raise AccountError(f"username: no user {username!r}")
            if user.role not in SECOND_FACTOR_ROLES:
                raise AccountError(f"username: {username} is a {user.role}; only officers and administrators "
                                   "have a second factor")
            return new_second_factor(session, user, actor="cli")
    finally:
        engine.dispose()  # type: ignore[attr-defined]


def second_factor_note(user: UserRow) -> dict[str, Any]:
    """What an administrator hands a new officer or administrator besides the password."""
    return {"totp_secret": user.totp_secret, "totp_uri": provisioning_uri(user)}
