"""What a logged search was about: its error codes and log signatures (the early-warning stream).

Each logged search gets one :class:`SearchSubject` row per error code it names and per log line
template it pastes. The rows hold no customer text: a code is its canonical form, a signature its
stable id (``l`` + 16 hex digits, the same digest the generations index a case's log lines under,
see :func:`kb.logsig.signature_tokens`); the masked template itself, redacted by the
sensitive-data check, lives once in :class:`LogSignature`. They survive the scrubbing of search
text after ``KB_SEARCH_LOG_DAYS`` and are indexed for time-range queries by subject.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kb.store import Base

SUBJECT_TYPES = ("code", "signature")


class SearchSubject(Base):
    """One error code or log signature a logged search named."""

    __tablename__ = "search_subjects"
    # Two covering indexes (migration 0008) answer every trends and watch query without reading the
    # table: time first for the window and baseline group-bys, subject first for one subject's rows.
    __table_args__ = (
        Index(
            "ix_search_subjects_time_cover",
            "created_at",
            "subject_type",
            "subject",
            "role",
            "product",
            "component",
            "result_count",
        ),
        Index(
            "ix_search_subjects_subject_cover",
            "subject_type",
            "subject",
            "created_at",
            "role",
            "product",
            "component",
            "result_count",
            "top_case",
            "search_id",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    search_id: Mapped[int] = mapped_column(
        ForeignKey("search_log.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the search's time
    subject_type: Mapped[str] = mapped_column(String(12))  # "code" or "signature"
    subject: Mapped[str] = mapped_column(
        String(128)
    )  # canonical code (kb.codes.canonical_code) or signature id
    role: Mapped[str] = mapped_column(String(32))  # who searched (trends are filtered by role)
    lang: Mapped[str] = mapped_column(String(8), default="")
    product: Mapped[str] = mapped_column(String(128), default="")  # the filter, else the top case's
    component: Mapped[str] = mapped_column(String(128), default="")
    result_count: Mapped[int] = mapped_column(
        Integer, default=0
    )  # counted matches (0: a zero-result search)
    top_case: Mapped[str | None] = mapped_column(
        String(64), nullable=True
    )  # the first hit's id, if any


class LogSignature(Base):
    """A log line template seen in searches: its id, the masked and redacted template, first/last seen."""

    __tablename__ = "log_signatures"

    signature_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    template: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


import kb.alert_state  # noqa: E402,F401  (registers kb watch's alert-state table beside the stream it watches)
