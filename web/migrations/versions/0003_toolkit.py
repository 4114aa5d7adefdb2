"""The toolkit: checklist progress, self-assessments, rental screenings and their reports, public-space assessments.

Revision ID: 0003_toolkit
Revises: 0002_site
Create Date: 2026-11-26 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_toolkit"
down_revision: str | Sequence[str] | None = "0002_site"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "toolkit_checklist_progress",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("checklist_id", sa.String(length=64), nullable=False),
        sa.Column("progress", _JSON, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.user_id"],
                                name=op.f("fk_toolkit_checklist_progress_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "checklist_id", name=op.f("pk_toolkit_checklist_progress")),
    )
    op.create_table(
        "toolkit_assessments",
        sa.Column("assessment_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=True),
        sa.Column("answers", _JSON, nullable=False),
        sa.Column("result", _JSON, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.user_id"], name=op.f("fk_toolkit_assessments_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("assessment_id", name=op.f("pk_toolkit_assessments")),
    )
    with op.batch_alter_table("toolkit_assessments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_toolkit_assessments_user_id"), ["user_id"], unique=False)

    op.create_table(
        "toolkit_screenings",
        sa.Column("screening_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("fleet_id", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("hirer_reference", sa.String(length=200), nullable=False),
        sa.Column("vehicle", _JSON, nullable=False),
        sa.Column("answers", _JSON, nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("result", _JSON, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("screening_id", name=op.f("pk_toolkit_screenings")),
    )
    with op.batch_alter_table("toolkit_screenings", schema=None) as batch_op:
        batch_op.create_index("ix_toolkit_screenings_fleet_id_created_at", ["fleet_id", "created_at"], unique=False)

    op.create_table(
        "toolkit_screening_reports",
        sa.Column("report_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("screening_id", sa.Integer(), nullable=False),
        sa.Column("fleet_id", sa.String(length=64), nullable=False),
        sa.Column("reported_by", sa.String(length=64), nullable=False),
        sa.Column("report", _JSON, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["screening_id"], ["toolkit_screenings.screening_id"],
                                name=op.f("fk_toolkit_screening_reports_screening_id_toolkit_screenings"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_toolkit_screening_reports")),
        sa.UniqueConstraint("screening_id", name=op.f("uq_toolkit_screening_reports_screening_id")),
    )
    with op.batch_alter_table("toolkit_screening_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_toolkit_screening_reports_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_toolkit_screening_reports_fleet_id"), ["fleet_id"], unique=False)

    op.create_table(
        "toolkit_site_assessments",
        sa.Column("site_assessment_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("answers", _JSON, nullable=False),
        sa.Column("result", _JSON, nullable=False),
        sa.Column("zone", _JSON, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("sent_at", _TIME, nullable=True),
        sa.Column("sent_by", sa.String(length=64), nullable=True),
        sa.Column("reference_version", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("site_assessment_id", name=op.f("pk_toolkit_site_assessments")),
    )


def downgrade() -> None:
    op.drop_table("toolkit_site_assessments")
    with op.batch_alter_table("toolkit_screening_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_toolkit_screening_reports_fleet_id"))
        batch_op.drop_index(batch_op.f("ix_toolkit_screening_reports_created_at"))
    op.drop_table("toolkit_screening_reports")
    with op.batch_alter_table("toolkit_screenings", schema=None) as batch_op:
        batch_op.drop_index("ix_toolkit_screenings_fleet_id_created_at")
    op.drop_table("toolkit_screenings")
    with op.batch_alter_table("toolkit_assessments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_toolkit_assessments_user_id"))
    op.drop_table("toolkit_assessments")
    op.drop_table("toolkit_checklist_progress")
