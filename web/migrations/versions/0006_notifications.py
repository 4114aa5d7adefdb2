"""Notifications: each person's profile, channels and rules, the notifier's outbox of messages, escalations.

Revision ID: 0006_notifications
Revises: 0005_audit_chain
Create Date: 2026-12-07 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_notifications"
down_revision: str | Sequence[str] | None = "0005_audit_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["user_id"], ["users.user_id"], name=op.f(f"fk_{table}_user_id_users"),
                                   ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "notification_profiles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False),
        sa.Column("quiet_from", sa.String(length=5), nullable=True),
        sa.Column("quiet_to", sa.String(length=5), nullable=True),
        sa.Column("on_duty", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("area_zone_ids", _JSON, server_default="[]", nullable=False),
        sa.Column("area_lat", sa.Float(), nullable=True),
        sa.Column("area_lon", sa.Float(), nullable=True),
        sa.Column("area_radius_km", sa.Float(), nullable=True),
        sa.Column("browser", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        _user_fk("notification_profiles"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notification_profiles")),
    )
    op.create_table(
        "notification_channels",
        sa.Column("channel_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("target", sa.String(length=500), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        _user_fk("notification_channels"),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_notification_channels")),
    )
    op.create_index(op.f("ix_notification_channels_user_id"), "notification_channels", ["user_id"], unique=False)
    op.create_table(
        "notification_rules",
        sa.Column("rule_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("fleet_id", sa.String(length=64), nullable=True),
        sa.Column("kinds", _JSON, server_default="[]", nullable=False),
        sa.Column("min_severity", sa.String(length=16), server_default="critical", nullable=False),
        sa.Column("tier", sa.Integer(), server_default="0", nullable=False),
        sa.Column("channel_ids", _JSON, server_default="[]", nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        _user_fk("notification_rules"),
        sa.PrimaryKeyConstraint("rule_id", name=op.f("pk_notification_rules")),
    )
    op.create_index(op.f("ix_notification_rules_user_id"), "notification_rules", ["user_id"], unique=False)
    op.create_table(
        "notifications",
        sa.Column("notification_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.Column("channel_kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("tier", sa.Integer(), server_default="0", nullable=False),
        sa.Column("notice", _JSON, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_try_at", _TIME, nullable=True),
        sa.Column("claimed_until", _TIME, nullable=True),
        sa.Column("sent_at", _TIME, nullable=True),
        sa.Column("dead_at", _TIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _user_fk("notifications"),
        sa.PrimaryKeyConstraint("notification_id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notifications_dedupe_key")),
    )
    op.create_index("ix_notifications_pending", "notifications", ["sent_at", "dead_at", "channel_kind"], unique=False)
    op.create_index("ix_notifications_user_kind_id", "notifications", ["user_id", "channel_kind", "notification_id"],
                    unique=False)
    op.create_table(
        "notification_escalations",
        sa.Column("alert_id", sa.String(), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("alert", _JSON, nullable=False),
        sa.Column("due_at", _TIME, nullable=False),
        sa.Column("done_at", _TIME, nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("alert_id", "tier", name=op.f("pk_notification_escalations")),
    )
    op.create_index(op.f("ix_notification_escalations_due_at"), "notification_escalations", ["due_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_notification_escalations_due_at"), table_name="notification_escalations")
    op.drop_table("notification_escalations")
    op.drop_index("ix_notifications_user_kind_id", table_name="notifications")
    op.drop_index("ix_notifications_pending", table_name="notifications")
    op.drop_table("notifications")
    op.drop_index(op.f("ix_notification_rules_user_id"), table_name="notification_rules")
    op.drop_table("notification_rules")
    op.drop_index(op.f("ix_notification_channels_user_id"), table_name="notification_channels")
    op.drop_table("notification_channels")
    op.drop_table("notification_profiles")
