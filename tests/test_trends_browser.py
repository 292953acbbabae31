"""Browser test of the trends page: a log and a code searched in the browser show up in /trends,
in Japanese and English (Playwright on Debian's chromium; screenshots in test-artifacts/)."""

from __future__ import annotations

import pytest
from worlds import search_for, shot

pytestmark = pytest.mark.browser

LOG = "2026-03-02 10:15:07,123 ERROR [exec-7] c.t.s.RecurrenceService - Cannot apply exception to series 448213"


def test_trends_page_in_japanese_and_english(page):  # type: ignore[no-untyped-def]
    page.goto("/")
    for n in range(
        3
    ):  # three pastes of one error with other numbers (one paste again is one search)
        search_for(page, f"SCH-13208\n{LOG}".replace("448213", str(448213 + n)))
    page.goto("/trends?window=hour")
    assert page.locator("h1").inner_text() == "検索トレンド"
    row = page.locator("tr.trend-code").filter(has_text="sch-13208")
    assert (
        row.count() == 1
        and "急増" in row.inner_text()
        and row.locator("svg.spark rect.bar").count() == 24
    )
    assert page.locator("tr.trend-signature").count() >= 1
    assert page.locator("nav.mainnav a[aria-current=page]").inner_text() == "トレンド"
    shot(page, "trends-ja")
    with page.expect_navigation():
        page.locator("nav.langswitch a[hreflang=en]").click()
    assert page.locator("h1").inner_text() == "Search trends"
    assert "rising" in page.locator("tr.trend-code").filter(has_text="sch-13208").inner_text()
    with page.expect_navigation():
        page.locator("nav.windows a").filter(has_text="Last week").click()
    assert (
        page.locator("tr.trend-code")
        .filter(has_text="sch-13208")
        .locator("svg.spark rect.bar")
        .count()
        == 7
    )
    shot(page, "trends-en")
    assert not page.problems
