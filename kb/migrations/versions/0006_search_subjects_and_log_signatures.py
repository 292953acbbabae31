"""search subjects (the error codes and log signatures each logged search named) and log signatures

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 12:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_subjects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject_type", sa.String(length=12), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("product", sa.String(length=128), nullable=False),
        sa.Column("component", sa.String(length=128), nullable=False),
        sa.Column("result_count", sa.Integer(), nullable=False),
        sa.Column("top_case", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["search_id"], ["search_log.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_search_subjects_search_id", "search_subjects", ["search_id"])
    op.create_index("ix_search_subjects_created_at", "search_subjects", ["created_at"])
    op.create_index("ix_search_subjects_role", "search_subjects", ["role"])
    op.create_index("ix_search_subjects_product", "search_subjects", ["product"])
    op.create_index("ix_search_subjects_component", "search_subjects", ["component"])
    op.create_index(
        "ix_search_subjects_subject_time",
        "search_subjects",
        ["subject_type", "subject", "created_at"],
    )
    op.create_table(
        "log_signatures",
        sa.Column("signature_id", sa.String(length=40), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("signature_id"),
    )
    op.create_index("ix_log_signatures_first_seen", "log_signatures", ["first_seen"])
    op.create_index("ix_log_signatures_last_seen", "log_signatures", ["last_seen"])


def downgrade() -> None:
    op.drop_table("log_signatures")
    op.drop_table("search_subjects")
