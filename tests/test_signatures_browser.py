"""The signature page in a real browser, in Japanese and English (browser tier, ``pytest -m browser``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from worlds import SAMPLE_CASES, shot

from kb import logsig
from kb.activity import Feedback, SearchLog
from kb.parse import parse_case
from kb.signatures import signature_id
from kb.subjects import SearchSubject

pytestmark = pytest.mark.browser
CASE = "ESC-2024-0100"


def searched(store, sig: str) -> None:
    """A few logged searches for the signature over the last days, once per module's app."""
    with store.session() as session:
        if session.scalar(select(func.count(SearchSubject.id)).where(SearchSubject.subject == sig)):
            return
        now = datetime.now(UTC)
        for hours, verdict in (
            (1, "solved"),
            (2, None),
            (2, "escalated"),
            (30, None),
            (75, "solved"),
            (200, None),
        ):
            row = SearchLog(
                text="pasted log",
                role="support",
                result_count=1,
                latency_ms=1.0,
                created_at=now - timedelta(hours=hours),
            )
            session.add(row)
            session.flush()
            session.add(
                SearchSubject(
                    search_id=row.id,
                    created_at=row.created_at,
                    subject_type="signature",
                    subject=sig,
                    role="support",
                    result_count=1,
                )
            )
            if verdict:
                session.add(Feedback(search_id=row.id, verdict=verdict, role="support"))


def case_signature() -> tuple[str, str]:
    case = parse_case((SAMPLE_CASES / f"{CASE}.md").read_text("utf-8"), Path(f"{CASE}.md"))
    template = logsig.templates(logsig.log_text(case))[0]
    return signature_id(template), template


@pytest.mark.parametrize(
    "lang,heading,cases_heading",
    [
        ("ja", "ログシグネチャ", "このシグネチャを持つ事例"),
        ("en", "Log signature", "Cases with this signature"),
    ],
)
def test_signature_page_renders_in_both_languages(page, live_app, lang, heading, cases_heading):
    sig, template = case_signature()
    searched(live_app[1].extensions["kb"].store, sig)
    page.goto(f"/signatures/{sig}?lang={lang}")
    assert (
        page.locator("h1").inner_text().startswith(heading)
        and sig in page.locator("h1").inner_text()
    )
    assert page.locator("#templates").inner_text().strip().startswith(template[:40])
    assert cases_heading in page.locator("#sig-cases").inner_text()
    assert page.locator(f"#cases a[href='/cases/{CASE}']").count() == 1
    assert (
        page.locator("svg.chart").count() == 2
        and page.locator("svg.chart rect.bar").count() == 30 + 48
    )
    assert (
        page.locator("#verdicts dd").all_inner_texts() == ["2", "0", "1"]
        and page.locator("#sig-searches").inner_text() == "6"
    )
    shot(page, f"signature-{lang}")
    assert not page.problems  # type: ignore[attr-defined]
