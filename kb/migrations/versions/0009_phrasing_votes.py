"""phrasing votes: learned phrasings of cases (solved / not relevant from searches, engineers' confirm / remove)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 12:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "phrasing_votes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_phrasing_votes_case_id", "phrasing_votes", ["case_id"])
    op.create_index("ix_phrasing_votes_key", "phrasing_votes", ["key"])
    op.create_index("ix_phrasing_votes_created_at", "phrasing_votes", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_phrasing_votes_created_at", table_name="phrasing_votes")
    op.drop_index("ix_phrasing_votes_key", table_name="phrasing_votes")
    op.drop_index("ix_phrasing_votes_case_id", table_name="phrasing_votes")
    op.drop_table("phrasing_votes")
