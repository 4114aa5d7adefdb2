"""Initial store: alerts and stop_requests.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-24 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(), nullable=False),
        sa.Column("vehicle_id", sa.String(length=64), nullable=False),
        sa.Column("fleet_id", sa.String(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("ts", _TIME, nullable=False),
        sa.Column("onset_ts", _TIME, nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("zone_id", sa.String(), nullable=True),
        sa.Column("evidence", _JSON, nullable=False),
        sa.Column("revision", sa.Integer(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("received_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_alerts")),
    )
    op.create_index("ix_alerts_ts", "alerts", ["ts"])
    op.create_index("ix_alerts_fleet_id_ts", "alerts", ["fleet_id", "ts"])
    op.create_index("ix_alerts_vehicle_id_ts", "alerts", ["vehicle_id", "ts"])

    op.create_table(
        "stop_requests",
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("vehicle_id", sa.String(length=64), nullable=False),
        sa.Column("fleet_id", sa.String(), nullable=True),
        sa.Column("ts", _TIME, nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("target_speed_kmh", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("alert_ids", _JSON, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("zone_id", sa.String(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("history", _JSON, nullable=False),
        sa.Column("received_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_stop_requests")),
    )
    op.create_index("ix_stop_requests_ts", "stop_requests", ["ts"])
    op.create_index("ix_stop_requests_fleet_id_ts", "stop_requests", ["fleet_id", "ts"])
    op.create_index("ix_stop_requests_status", "stop_requests", ["status"])


def downgrade() -> None:
    op.drop_table("stop_requests")
    op.drop_table("alerts")
