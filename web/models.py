"""The store's tables as SQLAlchemy declarative models: outputs, positions, reference data, accounts, audit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Dialect, Float, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so Alembic migrations can name what they alter on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONDocument = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database: timestamptz on PostgreSQL, naive UTC text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: expected a timezone-aware UTC datetime")
        value = value.astimezone(UTC)
        # SQLite keeps no offset; storing naive UTC keeps text order equal to time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AlertRow(Base):
    """One alert (contract section 3), the newest revision received, with its acknowledgement status."""

    __tablename__ = "alerts"

    alert_id: Mapped[str] = mapped_column(String, primary_key=True)
    vehicle_id: Mapped[str] = mapped_column(String(64))
    fleet_id: Mapped[str | None] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    onset_ts: Mapped[datetime] = mapped_column(UTCDateTime)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    zone_id: Mapped[str | None] = mapped_column(String)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    notes: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list, server_default="[]")
    """Acknowledgements and resolutions: ``{"action", "at", "by", "note"}``, oldest first."""

    __table_args__ = (
        Index("ix_alerts_ts", "ts"),
        Index("ix_alerts_fleet_id_ts", "fleet_id", "ts"),
        Index("ix_alerts_vehicle_id_ts", "vehicle_id", "ts"),
    )


class StopRequestRow(Base):
    """One remote-stop request (contract section 4) with every status change merged into its history."""

    __tablename__ = "stop_requests"

    request_id: Mapped[str] = mapped_column(String, primary_key=True)
    vehicle_id: Mapped[str] = mapped_column(String(64))
    fleet_id: Mapped[str | None] = mapped_column(String)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    mode: Mapped[str] = mapped_column(String(32))
    target_speed_kmh: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    alert_ids: Mapped[list[str]] = mapped_column(JSONDocument)
    reason: Mapped[str] = mapped_column(Text)
    zone_id: Mapped[str | None] = mapped_column(String)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_approval_by: Mapped[str | None] = mapped_column(String(64))
    """The officer who gave the first of the two approvals an authorisation needs."""

    __table_args__ = (
        Index("ix_stop_requests_ts", "ts"),
        Index("ix_stop_requests_fleet_id_ts", "fleet_id", "ts"),
        Index("ix_stop_requests_status", "status"),
    )


class VehiclePositionRow(Base):
    """The latest known position, speed and heading of one vehicle (from telemetry, or an alert's lat/lon)."""

    __tablename__ = "vehicle_positions"

    vehicle_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    speed_kmh: Mapped[float | None] = mapped_column(Float)
    heading_deg: Mapped[float | None] = mapped_column(Float)
    ignition: Mapped[bool | None] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    speed_governor: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, nullable=True)
    """The contract's speed_governor (active, limit_kmh, zone_id, source) of the latest record that carried one."""


class TrackPointRow(Base):
    """A thinned-out recent track of each vehicle, for the evidence timeline of an alert."""

    __tablename__ = "vehicle_track"

    vehicle_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    speed_kmh: Mapped[float | None] = mapped_column(Float)
    heading_deg: Mapped[float | None] = mapped_column(Float)


class FleetRow(Base):
    """A fleet as in fleet.json; ``document`` is its object there, field for field."""

    __tablename__ = "fleets"

    fleet_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    document: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class VehicleRow(Base):
    """A vehicle as in fleet.json, with its authorised drivers' cards."""

    __tablename__ = "vehicles"

    vehicle_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fleet_id: Mapped[str] = mapped_column(ForeignKey("fleets.fleet_id", ondelete="CASCADE"), index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SiteRow(Base):
    """A fleet's site (depot, customer) as in fleet.json."""

    __tablename__ = "sites"

    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fleet_id: Mapped[str] = mapped_column(ForeignKey("fleets.fleet_id", ondelete="CASCADE"), index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TripRow(Base):
    """A planned trip: one LineString feature of trips.geojson."""

    __tablename__ = "trips"

    trip_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    vehicle_id: Mapped[str] = mapped_column(String(64))
    fleet_id: Mapped[str] = mapped_column(ForeignKey("fleets.fleet_id", ondelete="CASCADE"), index=True)
    feature: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ZoneRow(Base):
    """A protected zone: one Polygon feature of zones.geojson (public space, so no fleet)."""

    __tablename__ = "zones"

    zone_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    feature: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReferenceVersionRow(Base):
    """One row: the version of the reference data, raised by every change and sent with each snapshot."""

    __tablename__ = "reference_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxRow(Base):
    """A message to Kafka written in the same transaction as the change it announces; the sink relays it."""

    __tablename__ = "outbox"

    message_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200))
    value: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    lane: Mapped[str] = mapped_column(String(16), default="general", server_default="general")
    """``stop`` (decisions on stop requests, relayed first and alone) or ``general``: no lane waits for another."""
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_try_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Set when the message could not be sent after bounded tries (or never can be): it is skipped from then on."""

    __table_args__ = (Index("ix_outbox_lane_sent_at_dead_at", "lane", "sent_at", "dead_at"),)


class UserRow(Base):
    """A person who signs in: a role and, for fleet roles, the fleets they may see."""

    __tablename__ = "users"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    fleet_ids: Mapped[list[str]] = mapped_column(JSONDocument)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    """Base32 RFC 6238 secret of the second factor; law-enforcement and admin accounts must have one."""
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    """The 30-second step of the last code accepted: a code is good for one sign-in only."""


class WebSessionRow(Base):
    """A signed-in browser session held on the server: signing out, a password change or a disable deletes it."""

    __tablename__ = "web_sessions"

    session_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.user_id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ip: Mapped[str | None] = mapped_column(String(64))


class ApiTokenRow(Base):
    """A bearer token of one user for the REST API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    token_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.user_id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginAttemptRow(Base):
    """A failed sign-in, counted per account and per IP address to slow down password guessing."""

    __tablename__ = "login_failures"

    failure_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    ip: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AuditRow(Base):
    """One change anywhere in the site: who, what, when, before and after, from which address. Append-only."""

    __tablename__ = "audit_log"

    audit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(200))
    fleet_id: Mapped[str | None] = mapped_column(String(64), index=True)
    before: Mapped[Any] = mapped_column(JSONDocument, nullable=True)
    after: Mapped[Any] = mapped_column(JSONDocument, nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    chain_seq: Mapped[int | None] = mapped_column(Integer, index=True, unique=True)
    """Place in the hash chain (1, 2, ...), given as the transaction that wrote the entry commits."""
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    """SHA-256 (hex) of the entry before it in the chain; 64 zeros for the first."""
    entry_hash: Mapped[str | None] = mapped_column(String(64))
    """SHA-256 (hex) of this entry's fields and ``prev_hash`` (web/audit.py ``entry_digest``)."""


class AuditChainRow(Base):
    """One row: the audit chain's last place and hash. Locked to extend the chain, so entries chain one by one,
    and compared by ``audit verify``, so entries cut from the end of the chain are noticed."""

    __tablename__ = "audit_chain"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
