"""search subjects: two covering indexes (time first, subject first) for trends and kb watch

The trends and watch queries read only these indexes, never the table: /trends answers within
200 ms with 1,000,000 logged searches on SQLite and PostgreSQL. The single-column indexes on
created_at, role, product and component (which the planners chose over better ones) and the
(subject_type, subject, created_at) index, a prefix of the new subject-first one, are dropped.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 12:00:00.000000
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TIME_COVER = [
    "created_at",
    "subject_type",
    "subject",
    "role",
    "product",
    "component",
    "result_count",
]
SUBJECT_COVER = [
    "subject_type",
    "subject",
    "created_at",
    "role",
    "product",
    "component",
    "result_count",
    "top_case",
    "search_id",
]
DROPPED = {
    "ix_search_subjects_created_at": ["created_at"],
    "ix_search_subjects_role": ["role"],
    "ix_search_subjects_product": ["product"],
    "ix_search_subjects_component": ["component"],
    "ix_search_subjects_subject_time": ["subject_type", "subject", "created_at"],
}


def upgrade() -> None:
    op.create_index("ix_search_subjects_time_cover", "search_subjects", TIME_COVER)
    op.create_index("ix_search_subjects_subject_cover", "search_subjects", SUBJECT_COVER)
    for name in DROPPED:
        op.drop_index(name, table_name="search_subjects")


def downgrade() -> None:
    for name, columns in DROPPED.items():
        op.create_index(name, "search_subjects", columns)
    op.drop_index("ix_search_subjects_subject_cover", table_name="search_subjects")
    op.drop_index("ix_search_subjects_time_cover", table_name="search_subjects")
