"""The store's tables as SQLAlchemy declarative models: alerts and remote-stop requests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, Float, Index, Integer, MetaData, String, Text
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

    __table_args__ = (
        Index("ix_stop_requests_ts", "ts"),
        Index("ix_stop_requests_fleet_id_ts", "fleet_id", "ts"),
        Index("ix_stop_requests_status", "status"),
    )
