"""Browser sessions held on the server: a random id in the signed cookie, its digest in the store until it ends."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from web.models import UserRow, WebSessionRow

LIFETIME = timedelta(hours=12)
"""A session lasts one working shift at most; sign in again for the next."""


def digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start(session: Session, user: UserRow, ip: str | None, now: datetime | None = None) -> str:
    """A new session for ``user``; returns its id for the cookie (only its digest is stored)."""
    now = now or datetime.now(UTC)
    session_id = secrets.token_urlsafe(32)
    session.add(WebSessionRow(session_sha256=digest(session_id), user_id=user.user_id, created_at=now,
                              expires_at=now + LIFETIME, ip=(ip or "")[:64] or None))
    session.execute(delete(WebSessionRow).where(WebSessionRow.expires_at < now))
    return session_id


def user_of(session: Session, session_id: str, now: datetime | None = None) -> UserRow | None:
    """The active user of a live session, else None (ended, expired, or the account disabled)."""
    # One query on every request: the session must still exist, so a sign-out elsewhere counts at once.
    return session.execute(
        select(UserRow).join(WebSessionRow, WebSessionRow.user_id == UserRow.user_id)
        .where(WebSessionRow.session_sha256 == digest(session_id),
               WebSessionRow.expires_at > (now or datetime.now(UTC)), UserRow.active.is_(True))
    ).scalar_one_or_none()


def end(session: Session, session_id: str) -> None:
    session.execute(delete(WebSessionRow).where(WebSessionRow.session_sha256 == digest(session_id)))
