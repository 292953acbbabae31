"""The alert-state table of ``kb watch``: one row per burst, so a burst alerts once, not once per run.

A row opens when a subject's burst rule first holds (``started_at``) and stays open while the rule
keeps holding (``last_seen_at`` moves on); it ends (``ended_at``) once the rule has not held for
``KB_WATCH_QUIET_MINUTES``. Only a subject without an open row alerts. The row also keeps the alert
as it was sent (``payload``: only what the support role may see) and the channels that have not
taken it yet (``pending``), which the next run retries: an undelivered alert is never dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kb.bursts import Subject
from kb.store import Base


class WatchAlert(Base):
    """One burst of one subject and the delivery of its alert."""

    __tablename__ = "watch_alerts"
    __table_args__ = (Index("ix_watch_alerts_subject", "subject_type", "subject", "ended_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_type: Mapped[str] = mapped_column(String(12))  # "code" or "signature"
    subject: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), index=True
    )  # the run that first saw the burst
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True)
    )  # the last run the rule held
    ended_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )  # None: still open
    count: Mapped[int] = mapped_column(Integer)  # searches in the window when it alerted
    peak_count: Mapped[int] = mapped_column(Integer)  # the most any run of this burst counted
    expected: Mapped[float] = mapped_column(Float)  # λ when it alerted
    p_value: Mapped[float] = mapped_column(Float)
    new_problem: Mapped[bool] = mapped_column(Boolean, default=False)
    payload: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict
    )  # the alert as sent (support-visible only)
    pending: Mapped[list[str]] = mapped_column(JSON, default=list)  # channels still to deliver to
    attempts: Mapped[int] = mapped_column(
        Integer, default=0
    )  # delivery attempts so far, every channel and run
    last_error: Mapped[str] = mapped_column(Text, default="")
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass(frozen=True)
class BurstSteps:
    """What one watch run does to the open bursts (see :func:`burst_steps`)."""

    opened: list[Subject]  # the rule holds and the subject has no open burst: alert
    continued: list[Subject]  # the rule holds and the subject's burst is open: no new alert
    ended: list[Subject]  # open bursts that stayed quiet long enough: they end (and may open again)
    waiting: list[
        Subject
    ]  # open bursts the rule did not find this run, still within the quiet time


def burst_steps(
    open_bursts: Mapping[Subject, float], fired: Iterable[Subject], now: float, quiet: float
) -> BurstSteps:
    """The once-per-burst rule, pure: ``open_bursts`` maps each open burst to the last time (epoch
    seconds) the rule held for it, ``fired`` are the subjects the rule holds for at ``now``.

    An open burst ends once the rule has not held for ``quiet`` seconds (``last + quiet <= now``);
    a fired subject whose burst had ended that way opens a new one (it appears in ``ended`` and
    ``opened``). ``kb watch`` and ``scripts/sim_bursts.py`` both step their state with this."""
    opened: list[Subject] = []
    continued: list[Subject] = []
    ended: list[Subject] = []
    fired = list(dict.fromkeys(fired))
    for key in fired:
        last = open_bursts.get(key)
        if last is not None and last + quiet <= now:
            ended.append(key)
            last = None
        (continued if last is not None else opened).append(key)
    hit = set(fired)
    waiting: list[Subject] = []
    for key, last in open_bursts.items():
        if key in hit:
            continue
        (ended if last + quiet <= now else waiting).append(key)
    return BurstSteps(opened, continued, ended, waiting)
