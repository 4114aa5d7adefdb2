"""The notification tables: each person's profile, channels and rules, the outbox of messages, escalations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from web.models import Base, JSONDocument, UTCDateTime


class NotificationProfileRow(Base):
    """When and where a person wants to be told: time zone, quiet hours, duty and area (officers), browser."""

    __tablename__ = "notification_profiles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    quiet_from: Mapped[str | None] = mapped_column(String(5))
    """``HH:MM`` local; from here to ``quiet_to`` only critical alerts and stop requests are sent."""
    quiet_to: Mapped[str | None] = mapped_column(String(5))
    on_duty: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    area_zone_ids: Mapped[list[str]] = mapped_column(JSONDocument, default=list, server_default="[]")
    area_lat: Mapped[float | None] = mapped_column(Float)
    area_lon: Mapped[float | None] = mapped_column(Float)
    area_radius_km: Mapped[float | None] = mapped_column(Float)
    browser: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NotificationChannelRow(Base):
    """One of a person's channels: an e-mail address, a webhook or a team chat's incoming-webhook URL."""

    __tablename__ = "notification_channels"

    channel_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.user_id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str | None] = mapped_column(String(128))
    """The generic webhook's HMAC key (the receiver holds the same)."""
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NotificationRuleRow(Base):
    """Tell this person of these kinds of this fleet from this severity, at this escalation tier, on these channels."""

    __tablename__ = "notification_rules"

    rule_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.user_id", ondelete="CASCADE"), index=True)
    fleet_id: Mapped[str | None] = mapped_column(String(64))
    kinds: Mapped[list[str]] = mapped_column(JSONDocument, default=list, server_default="[]")
    min_severity: Mapped[str] = mapped_column(String(16), default="critical", server_default="critical")
    tier: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    channel_ids: Mapped[list[int]] = mapped_column(JSONDocument, default=list, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NotificationRow(Base):
    """One message to one person on one channel: the notifier's outbox. ``dedupe_key`` names what it says and to
    whom, so the same message is never stored (or sent) twice."""

    __tablename__ = "notifications"

    notification_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.user_id", ondelete="CASCADE"))
    channel_id: Mapped[int | None] = mapped_column(Integer)
    """None for the browser; no foreign key, so a removed channel's history stays."""
    channel_kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(16))
    tier: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    notice: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_try_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Delivered: accepted by the channel, or (browser) first shown on an open page."""
    dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_notifications_pending", "sent_at", "dead_at", "channel_kind"),
        Index("ix_notifications_user_kind_id", "user_id", "channel_kind", "notification_id"),
    )


class NotificationEscalationRow(Base):
    """A critical alert's next tier, due at ``due_at`` unless acknowledged; ``done_at`` once decided."""

    __tablename__ = "notification_escalations"

    alert_id: Mapped[str] = mapped_column(String, primary_key=True)
    tier: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(32))
