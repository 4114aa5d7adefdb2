"""Speed governor: the vehicle's own speed governance (on-board zone guard or remote-stop limit) on its position.

Revision ID: 0008_speed_governor
Revises: 0007_language
Create Date: 2026-12-07 05:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_speed_governor"
down_revision: str | Sequence[str] | None = "0007_language"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("vehicle_positions") as table:
        table.add_column(
            sa.Column("speed_governor", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("vehicle_positions") as table:
        table.drop_column("speed_governor")
