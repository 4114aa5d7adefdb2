"""Bearer tokens for the REST API: created and revoked per user; only a SHA-256 of each is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from telematics.errors import BadInput
from web.audit import record
from web.models import ApiTokenRow, UserRow

PREFIX = "tg_"
LAST_USED_RESOLUTION = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per token, so reads stay reads."""


class TokenError(BadInput):
    """A token cannot be created or revoked as asked."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user: UserRow, name: str, *, actor: str, ip: str | None = None,
                 ) -> tuple[ApiTokenRow, str]:
    """A new token for ``user``; returns its row and the token text, which is shown once and never stored."""
    name = name.strip()
    if not name or len(name) > 100:
        raise TokenError(f"name: got {name!r}, expected 1-100 characters")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiTokenRow(user_id=user.user_id, name=name, token_sha256=_digest(token), prefix=token[:10],
                      created_at=datetime.now(UTC))
    session.add(row)
    session.flush()
    record(session, actor, "token.create", "api_token", str(row.token_id),
           after={"user": user.username, "name": name, "prefix": row.prefix}, ip=ip)
    return row, token


def revoke_token(session: Session, user: UserRow, token_id: int, *, actor: str, ip: str | None = None) -> None:
    """Revokes one of ``user``'s tokens; TokenError when it is not theirs or already revoked."""
    row = session.get(ApiTokenRow, token_id)
    if row is None or row.user_id != user.user_id:
        raise TokenError(f"token {token_id}: no such token of {user.username}")
    if row.revoked_at is not None:
        raise TokenError(f"token {token_id}: already revoked")
    row.revoked_at = datetime.now(UTC)
    record(session, actor, "token.revoke", "api_token", str(token_id),
           before={"user": user.username, "name": row.name, "prefix": row.prefix}, ip=ip)


def user_for_token(session: Session, token: str) -> UserRow | None:
    """The active user a valid, unrevoked token belongs to, else None. The caller commits ``last_used_at``."""
    if not token.startswith(PREFIX):
        return None
    row = session.execute(select(ApiTokenRow).where(ApiTokenRow.token_sha256 == _digest(token))).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    user = session.get(UserRow, row.user_id)
    if user is None or not user.active:
        return None
    now = datetime.now(UTC)
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        row.last_used_at = now
    return user


def list_tokens(session: Session, user: UserRow) -> list[dict[str, Any]]:
    from web.store import rfc3339

    rows = session.execute(select(ApiTokenRow).where(ApiTokenRow.user_id == user.user_id)
                           .order_by(ApiTokenRow.token_id.desc())).scalars()
    return [{"token_id": r.token_id, "name": r.name, "prefix": r.prefix, "created_at": rfc3339(r.created_at),
             "last_used_at": r.last_used_at and rfc3339(r.last_used_at),
             "revoked_at": r.revoked_at and rfc3339(r.revoked_at)} for r in rows]


def issue_token(url: str, username: str, name: str) -> str:
    """``truckguard users token``: a new API token for ``username`` in the store at ``url``."""
    from web.db import make_engine, writer

    engine = make_engine(url)
    try:
        with Session(writer(engine)) as session, session.begin():
            user = session.execute(select(UserRow).where(UserRow.username == username)).scalar_one_or_none()
            if user is None:
                raise TokenError(f"username: no user {username!r}")
            return create_token(session, user, name, actor="cli")[1]
    finally:
        engine.dispose()
