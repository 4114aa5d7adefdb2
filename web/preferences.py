"""Each person's choice of the site's language, kept with their account so it follows them to every browser."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from web.audit import record
from web.models import Base, UserRow, UTCDateTime


class UserPreferenceRow(Base):
    """A person's own settings for the site: the language it speaks to them in."""

    __tablename__ = "user_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True)
    language: Mapped[str | None] = mapped_column(String(8))
    """One of ``web.i18n.LANGUAGES``; None follows the browser."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


def account_language(session: Session, user: UserRow) -> str | None:
    """The language ``user`` chose for their account, or None when they never chose one."""
    row = session.get(UserPreferenceRow, user.user_id)
    return row.language if row is not None else None


def set_account_language(session: Session, user: UserRow, language: str, *, ip: str | None = None) -> None:
    """Keeps ``language`` as ``user``'s choice (with an audit entry when it changes); the caller commits."""
    row = session.get(UserPreferenceRow, user.user_id)
    before = row.language if row is not None else None
    if before == language:
        return
    if row is None:
        row = UserPreferenceRow(user_id=user.user_id)
        session.add(row)
    row.language, row.updated_at = language, datetime.now(UTC)
    record(session, user.username, "account.language", "user", user.username, before={"language": before},
           after={"language": language}, ip=ip)
