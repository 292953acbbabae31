"""Feedback and navigation on the HTML pages: form errors by the filter, labels, review badges, confirmations in place."""

from __future__ import annotations

import re
from datetime import date

from worlds import case_text, csrf_token, en, hit_ids, page_text, search_id_of

from indexer.jobs import run_index
from kb.case import Case, Section
from webui import create_app, service
from webui.i18n import label


def test_an_inverted_date_range_keeps_the_page_and_the_filters(client):
    response = client.get(
        "/search",
        query_string={
            "q": "mail queue",
            "product": "tsumugi-cloud",
            "from": "2025-06-01",
            "to": "2025-01-01",
        },
        headers={"Accept-Language": "ja"},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "開始日 (2025-06-01) が終了日 (2025-01-01) より後になっています" in page_text(
        response
    )  # in the UI language
    assert (
        'id="dates-problem" role="alert"' in body
        and 'value="2025-06-01"' in body
        and 'value="2025-01-01"' in body
    )
    assert (
        hit_ids(response)
        and '<input type="checkbox" name="product" value="tsumugi-cloud" checked>' in body
    )
    assert "製品: tsumugi-cloud" in page_text(response)  # the other filter still applies
    english = en(client).get("/search?q=mail&from=2025-06-01&to=2025-01-01")
    assert (
        english.status_code == 400
        and "The start date (2025-06-01) is after the end date (2025-01-01)" in page_text(english)
    )


def test_a_date_that_is_not_a_date_is_named_by_its_field(client):
    response = en(client).get("/search?q=mail&to=2025-13-45")
    assert response.status_code == 400 and "“2025-13-45” is not a date" in page_text(response)
    assert (
        en(client).get("/search?from=2025-06-01&to=2025-01-01").status_code == 400
    )  # no query: the form, not a 500
    assert (
        en(client).get("/search?q=mail&status=bogus").status_code == 400
    )  # other bad values: the error page as before


def test_parse_search_form_separates_date_problems():
    params, problem = service.parse_search_form(
        {"q": ["x"], "tag": ["smtp"], "from": ["2025-02-01"], "to": ["2025-01-01"]}, 10
    )
    assert (
        problem
        and problem.key == "form.date_order"
        and params.filters.tags == ("smtp",)
        and params.filters.created_from is None
    )
    params, problem = service.parse_search_form({"q": ["x"], "from": ["2025-01-01"]}, 10)
    assert problem is None and params.filters.created_from == date(2025, 1, 1)


def test_labels_fall_back_to_the_slug():
    assert label("component", "fulltext-search", "ja") == "全文検索"
    assert label("component", "fulltext-search", "en") == "Full-text search"
    assert label("audit_action", "case_create", "ja") == "ケース作成"
    assert label("component", "brand-new-thing", "ja") == "brand-new-thing"
    assert (
        label("product", "tsumugi-server", "ja") == "tsumugi-server"
    )  # products are names: shown as written
    assert label("status", "resolved", "ja") == "解決済み"


def test_facets_show_labels_in_the_japanese_ui(client):
    response = client.get("/search?q=mail+queue", headers={"Accept-Language": "ja"})
    facet = re.search(
        r'<span class="facet-label" title="mail">([^<]+)</span>', response.get_data(as_text=True)
    )
    assert facet and facet.group(1) == "メール"
    assert "/ メール" in page_text(response)  # in the hit's meta line too


def _case(review_by: date | None) -> Case:
    return Case(
        id="ESC-1",
        title="t",
        status="resolved",
        product="p",
        component="c",
        visibility="support",
        created=date(2024, 1, 1),
        sections=(Section("symptoms", "症状", "x", 3),),
        review_by=review_by,
    )


def test_review_overdue():
    today = date(2026, 6, 1)
    assert service.review_overdue(_case(date(2026, 5, 31)), today)
    assert not service.review_overdue(
        _case(date(2026, 6, 1)), today
    ) and not service.review_overdue(_case(None), today)


def test_a_past_review_date_is_flagged_on_the_case_page(settings, write_cases):
    today = date.today()
    write_cases(
        {
            "ESC-2026-0101.md": case_text("ESC-2026-0101", extra="review_by: 2020-03-31\n"),
            "ESC-2026-0102.md": case_text(
                "ESC-2026-0102", extra=f"review_by: {today.year + 1}-01-31\n"
            ),
        }
    )
    assert run_index(settings).published
    site = create_app(settings, test_config={"KB_ROLE": "support"})
    try:
        client = site.test_client()
        old = client.get("/cases/ESC-2026-0101", headers={"Accept-Language": "ja"})
        assert "要見直し: 見直し期限 2020-03-31 を過ぎています" in page_text(old)
        assert "Out of date: review was due 2020-03-31" in page_text(
            en(client).get("/cases/ESC-2026-0101")
        )
        assert "badge-overdue" not in client.get("/cases/ESC-2026-0102").get_data(as_text=True)
    finally:
        site.extensions["kb"].close()


def test_feedback_on_a_hit_is_confirmed_next_to_it(client):
    page = client.get("/search?q=mail+queue+relay", headers={"Accept-Language": "ja"})
    ids = hit_ids(page)
    target = ids[2]
    answer = client.post(
        "/feedback",
        data={
            "csrf_token": csrf_token(page),
            "search_id": search_id_of(page),
            "case_id": target,
            "verdict": "not_relevant",
            "next": f"/search?q=mail+queue+relay#hit-{target}",
        },
    )
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"#hit-{target}")
    body = client.get("/search?q=mail+queue+relay", headers={"Accept-Language": "ja"}).get_data(
        as_text=True
    )
    block = body[body.index(f'id="hit-{target}"') :]
    block = block[: block.index("</li>")]
    assert f"記録しました: {target} は関係なし" in block and 'class="flash flash-inline"' in block
    assert 'class="flashes"' not in body  # not also at the top, out of sight
