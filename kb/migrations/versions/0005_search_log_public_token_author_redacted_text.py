"""search log: a random public token and the author of each search; logged texts redacted

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00.000000

Searches logged before this revision get a token (nobody but an admin can reopen them: their
author is unknown) and their text and filter values are redacted as new searches are.
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BATCH = 1000


def _backfill() -> None:
    from kb.sensitive import redact, scan_text

    def clean(text: str) -> str:
        findings = scan_text(text)
        return redact(text, findings) if findings else text

    log = sa.table(
        "search_log",
        sa.column("id", sa.Integer()),
        sa.column("text", sa.Text()),
        sa.column("filters", sa.JSON()),
        sa.column("token", sa.String(43)),
    )
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(log.c.id, log.c.text, log.c.filters)
            .where(log.c.id > last)
            .order_by(log.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            filters = {
                name: [clean(str(v)) for v in (values if isinstance(values, list) else [values])]
                for name, values in (row.filters or {}).items()
            }
            connection.execute(
                log.update()
                .where(log.c.id == row.id)
                .values(
                    token=secrets.token_urlsafe(18), text=clean(row.text or ""), filters=filters
                )
            )
        last = rows[-1].id


def upgrade() -> None:
    with op.batch_alter_table("search_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token", sa.String(length=43), nullable=True))
        batch_op.add_column(
            sa.Column("author", sa.String(length=64), nullable=False, server_default="")
        )
    _backfill()
    with op.batch_alter_table("search_log", schema=None) as batch_op:
        batch_op.alter_column("token", existing_type=sa.String(length=43), nullable=False)
        batch_op.alter_column("author", existing_type=sa.String(length=64), server_default=None)
        batch_op.create_index(batch_op.f("ix_search_log_token"), ["token"], unique=True)
        batch_op.create_index(batch_op.f("ix_search_log_author"), ["author"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("search_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_search_log_author"))
        batch_op.drop_index(batch_op.f("ix_search_log_token"))
        batch_op.drop_column("author")
        batch_op.drop_column("token")
