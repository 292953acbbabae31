"""The web UI and JSON API through Flask's test client, on a tiny indexed world (fast tier)."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC
from urllib.parse import parse_qs, urlsplit

import pytest
from worlds import (
    SUPPORT_VISIBLE,
    WEB_LOG,
    WEB_SECRETS,
    case_text,
    csrf_token,
    en,
    first_match,
    hit_ids,
    page_text,
    rows,
    search_id_of,
)

from indexer.jobs import run_index
from kb import activity
from webui import create_app


def api(client, path: str, **params):
    response = client.get(f"/api/v1/{path}", query_string=params)
    assert response.mimetype == "application/json"
    return response


# -- search pages ---------------------------------------------------------------------------------


def test_empty_search_page_helps_in_japanese_and_english(client):
    ja = client.get("/", headers={"Accept-Language": "ja,en;q=0.5"})
    assert ja.status_code == 200 and '<html lang="ja">' in ja.get_data(as_text=True)
    assert "何をお探しですか" in page_text(ja) and page_text(ja).count("SCH-13208") >= 2
    assert ja.get_data(as_text=True).count('class="example"') == 3
    english = client.get("/search", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert "What are you looking for?" in page_text(
        english
    ) and '<html lang="en">' in english.get_data(as_text=True)
    assert not rows(client.application, activity.SearchLog)  # no query, nothing logged


def test_japanese_search_page(client):
    response = client.get(
        "/search",
        query_string={"q": "定例会議の祝日の回が削除できない"},
        headers={"Accept-Language": "ja"},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert hit_ids(response)[0] == "ESC-2026-0001"
    first = body[body.index('id="hit-ESC-2026-0001"') :]
    first = first[: first.index("</li>")]
    assert "<mark>" in first and 'class="badge status-resolved">解決済み<' in first
    assert "対処:</strong> JVM オプションから" in first
    assert "言葉が一致:" in first and 'class="hit-link" href="/cases/ESC-2026-0001?sid=' in first
    assert "解釈" in page_text(response) and "日本語" in page_text(response)


def test_english_search_page_explains_hits(client):
    response = en(client).get("/search?q=notification+mail+late")
    text = page_text(response)
    assert hit_ids(response)[0] == "ESC-2026-0003"
    assert "Resolution: Set mail.smtp.timeout to 30 seconds." in " ".join(text.split())
    assert (
        "Holds your words:" in text
        and "This solved it" in text
        and "None of these — escalating" in text
    )
    assert "Understood as:" in text and "English" in text


def test_pasted_log_is_understood_as_a_log(client):
    pasted = (
        WEB_LOG.replace("448213", "9").replace("8f3a2c91", "00ffab12")
        + "\n"
        + WEB_LOG.replace("10:15", "11:16")
    )
    response = en(client).get("/search", query_string={"q": pasted})
    assert hit_ids(response)[0] == "ESC-2026-0001"
    assert re.search(r'class="chip">log<', response.get_data(as_text=True))
    assert "SCH-13208" in re.search(
        r'class="understood">(.*?)</p>', response.get_data(as_text=True), re.S
    ).group(1)


def test_api_search_shape(client):
    response = api(client, "search", q="WF-20417", limit=3)
    data = response.get_json()
    assert response.status_code == 200 and data["ok"] is True
    assert set(data) == {
        "ok",
        "hits",
        "total",
        "weak",
        "query",
        "took_ms",
        "generation",
        "search_id",
    }
    assert (
        data["hits"][0]["id"] == "ESC-2026-0002"
        and data["hits"][0]["url"] == "/cases/ESC-2026-0002"
    )
    assert {"title", "status", "snippet", "resolution", "why", "section", "versions"} <= set(
        data["hits"][0]
    )
    assert data["query"]["kind"] == "code" and data["query"]["identifiers"] == ["WF-20417"]
    assert data["generation"].startswith("gen-") and len(data["hits"]) <= 3
    assert isinstance(data["search_id"], int)


def test_filters_narrow_results_in_html_and_json(client):
    everything = api(client, "search", q="mail queue relay", limit=50).get_json()
    assert {h["component"] for h in everything["hits"]} == {
        "mail"
    }  # only the mail cases hold all three words
    narrowed = api(
        client, "search", q="mail queue relay", component="mail", product="tsumugi-cloud", limit=50
    ).get_json()
    assert narrowed["hits"] and all(
        h["component"] == "mail" and h["product"] == "tsumugi-cloud" for h in narrowed["hits"]
    )
    assert narrowed["total"] < everything["total"]
    assert narrowed["query"]["filters"]["components"] == ["mail"]
    by_version = api(
        client, "search", q="mail queue relay", version="5.9", status="workaround", limit=50
    ).get_json()
    assert by_version["hits"] and all(
        h["versions"] == ["5.9"] and h["status"] == "workaround" for h in by_version["hits"]
    )
    tagged = api(client, "search", q="mail queue relay", tag="approval").get_json()
    # the only approval case holds none of these words: a weak candidate, not a counted match
    assert (
        tagged["hits"] == []
        and tagged["total"] == 0
        and [h["id"] for h in tagged["weak"]] == ["ESC-2026-0002"]
    )
    dated = api(
        client,
        "search",
        q="mail queue relay",
        **{"from": "2025-03-01", "to": "2025-05-31"},
        limit=50,
    ).get_json()
    assert dated["hits"] and all(
        "2025-03-01" <= h["created"] <= "2025-05-31" for h in dated["hits"]
    )

    page = en(client).get("/search", query_string={"q": "mail queue relay", "component": "mail"})
    assert set(hit_ids(page)) <= {cid for cid in SUPPORT_VISIBLE if cid.startswith("ESC-2025")}
    assert 'name="component" value="mail" checked' in page.get_data(as_text=True)


def test_facet_counts_describe_the_result_set(client):
    response = api(client, "search", q="mail queue relay", limit=50).get_json()
    page = en(client).get("/search", query_string={"q": "mail queue relay"}).get_data(as_text=True)
    counts = dict(
        re.findall(
            r'name="product" value="([^"]+)"[^>]*>\s*<span class="facet-label"[^>]*>[^<]*</span>\s*'
            r'<span class="count">(\d+)</span>',
            page,
        )
    )
    expected: dict[str, int] = {}
    for hit in response["hits"]:
        expected[hit["product"]] = expected.get(hit["product"], 0) + 1
    assert {k: int(v) for k, v in counts.items()} == expected
    assert sum(expected.values()) == response["total"]
    status_counts = re.findall(r'name="status" value="([^"]+)"', page)
    assert status_counts == [
        "resolved",
        "workaround",
    ]  # in the order of the status list, only present values


def test_pagination(client):
    first = api(client, "search", q="mail queue relay node", limit=4).get_json()
    second = api(client, "search", q="mail queue relay node", limit=4, offset=4).get_json()
    assert len(first["hits"]) == len(second["hits"]) == 4 and first["total"] == second["total"] > 8
    assert not {h["id"] for h in first["hits"]} & {h["id"] for h in second["hits"]}
    page = en(client).get("/search?q=mail+queue+relay+node&limit=4&offset=4")
    body = page.get_data(as_text=True)
    assert hit_ids(page) == [h["id"] for h in second["hits"]]
    assert "5–8 of" in page_text(page) and '<ol class="hits" start="5" ' in body
    assert 'rel="prev" href="/search?q=mail+queue+relay+node&amp;limit=4"' in body
    assert 'rel="next" href="/search?q=mail+queue+relay+node&amp;limit=4&amp;offset=8"' in body
    assert 'aria-current="page">2<' in body


def test_shared_url_round_trip(client):
    response = en(client).get(
        "/search",
        query_string=[
            ("q", "mail queue"),
            ("component", "mail"),
            ("tag", "smtp"),
            ("from", "2025-01-01"),
            ("limit", "3"),
            ("offset", "3"),
        ],
    )
    share = html.unescape(
        re.search(r'href="([^"]+)" class="share"', response.get_data(as_text=True)).group(1)
    )
    assert parse_qs(urlsplit(share).query) == {
        "q": ["mail queue"],
        "component": ["mail"],
        "tag": ["smtp"],
        "from": ["2025-01-01"],
        "limit": ["3"],
        "offset": ["3"],
    }
    again = client.get(share)
    assert hit_ids(again) == hit_ids(response) and hit_ids(again)


def test_zero_results_help(client):
    response = en(client).get(
        "/search",
        query_string={"q": "SCH-13208 calendar", "from": "2030-01-01", "component": "schedule"},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and not hit_ids(response)
    assert 'class="zero-state"' in body and "No cases found" in page_text(response)
    assert re.search(r"<dt>Identifiers</dt><dd><code>SCH-13208</code>", body)
    logged = rows(client.application, activity.SearchLog)[-1]
    assert logged.result_count == 0 and logged.filters == {
        "component": ["schedule"],
        "from": ["2030-01-01"],
    }
    removes = [
        html.unescape(u)
        for u in re.findall(r'<a class="chip chip-remove" href="([^"]+)">Remove', body)
    ]
    assert len(removes) == 2
    without_date = next(u for u in removes if "from=" not in u)
    assert hit_ids(client.get(without_date))[0] == "ESC-2026-0001"
    assert '/search?q=SCH-13208"' in body  # search for the code alone
    assert "None of these — escalating" in page_text(response)


BAD_PARAMS = [
    ({"from": "yesterday"}, "from"),
    ({"status": "fixed"}, "status"),
    ({"limit": "0"}, "limit"),
    ({"limit": "many"}, "limit"),
    ({"offset": "-3"}, "offset"),
    ({"to": "2024-02-30"}, "to"),
]


@pytest.mark.parametrize("params,field", BAD_PARAMS)
def test_bad_parameters_are_400_in_html_and_json(client, params, field):
    page = en(client).get("/search", query_string={"q": "mail", **params})
    assert page.status_code == 400 and page.mimetype == "text/html"
    if field in (
        "from",
        "to",
    ):  # a date the user got wrong: the results page again, the message by the filter
        assert f"“{params[field]}” is not a date" in page_text(
            page
        ) and 'id="dates-problem"' in page.get_data(as_text=True)
    else:
        assert "Bad request" in page_text(page) and f"Field: {field}" in page_text(page)
    response = api(client, "search", q="mail", **params)
    data = response.get_json()
    assert response.status_code == 400
    assert set(data) == {"ok", "error", "status", "field"} and data["ok"] is False
    assert data["status"] == 400 and data["field"] == field and data["error"]
    if field not in ("from", "to"):
        assert field in page_text(page) and data["error"] in page_text(page)


def test_empty_query_is_a_400_in_the_api(client):
    data = api(client, "search", q="   ").get_json()
    assert data == {"ok": False, "error": data["error"], "status": 400, "field": "q"}


# -- cases ----------------------------------------------------------------------------------------


def test_case_page(client):
    response = en(client).get("/cases/ESC-2026-0001")
    text = page_text(response)
    assert response.status_code == 200
    assert "繰り返し予定の一部削除で HTTP 500 (SCH-13208)" in text
    assert "cases/ESC-2026-0001.md" in text and "All support staff" in text and "2026-03-02" in text
    assert '<pre><code class="language-text">' in response.get_data(as_text=True)
    related = response.get_data(as_text=True).split("Related cases")[1].split("Similar cases")[0]
    assert "ESC-2026-0003" in related  # visible related case
    assert not any(
        secret in response.get_data(as_text=True) for secret in WEB_SECRETS
    )  # restricted related case hidden
    assert "This solved it" in text and csrf_token(response)
    filler = en(client).get("/cases/ESC-2025-0003").get_data(as_text=True)
    similar = re.findall(r'href="/cases/(ESC-[\d-]+)"', filler.split("Similar cases")[1])
    assert similar and "ESC-2025-0003" not in similar and set(similar) <= SUPPORT_VISIBLE


def test_a_tag_on_a_case_page_lists_the_cases_with_that_tag(client, app):
    case_page = en(client).get("/cases/ESC-2026-0002").get_data(as_text=True)
    assert 'href="/search?tag=approval"' in case_page  # the filter, not a query for the word
    before = len(rows(app, activity.SearchLog))
    listing = en(client).get("/search?tag=approval")
    body = listing.get_data(as_text=True)
    assert listing.status_code == 200 and 'id="browse-note"' in body
    assert hit_ids(listing)[0] == "ESC-2026-0002" and set(hit_ids(listing)) <= SUPPORT_VISIBLE
    assert all("approval" in page_text(en(client).get(f"/cases/{cid}")) for cid in hit_ids(listing))
    assert 'name="verdict"' not in body and "data-click-url" not in body  # not a search
    assert len(rows(app, activity.SearchLog)) == before  # nothing logged, nothing counted
    nothing = en(client).get("/search?tag=no-such-tag")
    assert nothing.status_code == 200 and hit_ids(nothing) == []


def test_case_is_rendered_safely(client):
    page = client.get("/cases/ESC-2026-0006").get_data(as_text=True)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    results = client.get("/search?q=widget+portal").get_data(as_text=True)
    assert (
        "<script>alert" not in results
        and "<img src=x" not in results
        and "&lt;script&gt;" in results
    )


def test_api_case_and_similar(client):
    data = api(client, "cases/ESC-2026-0006").get_json()
    case = data["case"]
    assert (
        data["ok"] is True
        and case["id"] == "ESC-2026-0006"
        and case["path"] == "cases/ESC-2026-0006.md"
    )
    symptoms = case["sections"][0]
    assert symptoms["name"] == "symptoms" and "<img src=x onerror=alert(1)>" in symptoms["markdown"]
    assert (
        "&lt;img src=x onerror=alert(1)&gt;" in symptoms["html"] and "<img" not in symptoms["html"]
    )
    similar = api(client, "cases/ESC-2025-0001/similar", limit=3).get_json()
    assert similar["ok"] and similar["case_id"] == "ESC-2025-0001" and len(similar["hits"]) == 3
    assert "ESC-2025-0001" not in {h["id"] for h in similar["hits"]}
    assert all(h["component"] == "mail" for h in similar["hits"])
    assert api(client, "cases/ESC-2025-0001/similar", limit=0).status_code == 400


@pytest.mark.parametrize(
    "case_id", ["ESC-2099-0001", "ESC-2026-0004", "ESC-2026-0005", "not-an-id", "x" * 300]
)
def test_unknown_or_invisible_case_is_404(client, case_id):
    page = en(client).get(f"/cases/{case_id}")
    assert page.status_code == 404 and "Not found" in page_text(page)
    assert not any(
        secret in page.get_data(as_text=True)
        for secret in ("GLASS-HERON", "VELVET-OWL", "heap dump")
    )
    for path in (f"cases/{case_id}", f"cases/{case_id}/similar"):
        response = api(client, path)
        data = response.get_json()
        assert response.status_code == 404
        assert (
            set(data) == {"ok", "error", "status"} and data["ok"] is False and data["status"] == 404
        )


def test_support_never_sees_engineering_or_restricted_cases(client):
    for query in (
        "GLASS-HERON",
        "VELVET-OWL",
        "tenant export",
        "OutOfMemoryError heap dump",
        "Codename",
        "error",
    ):
        page = client.get("/search", query_string={"q": query, "limit": 100})
        assert set(hit_ids(page)) <= SUPPORT_VISIBLE, query
        body = page.get_data(as_text=True)
        assert "ESC-2026-0004" not in body and "ESC-2026-0005" not in body
        assert "Engineering-only" not in body and "Restricted:" not in body
        data = api(client, "search", q=query, limit=100).get_json()
        assert {h["id"] for h in data["hits"]} <= SUPPORT_VISIBLE
        facets = re.findall(r'name="component" value="([^"]+)"', body)
        assert "fulltext-search" not in facets  # the engineering case is not even counted
    for cid in SUPPORT_VISIBLE:
        similar = api(client, f"cases/{cid}/similar", limit=20).get_json()
        assert {h["id"] for h in similar["hits"]} <= SUPPORT_VISIBLE
    # asking for the hidden levels explicitly does not widen anything
    asked = api(client, "search", q="VELVET-OWL", visibility="restricted", limit=100).get_json()
    assert {h["id"] for h in asked["hits"]} <= SUPPORT_VISIBLE


# -- feedback, clicks, log, stats ---------------------------------------------------------------------


def test_search_log_records_every_query(client, app):
    from datetime import datetime

    started = datetime.now(UTC).replace(tzinfo=None)
    data = api(client, "search", q="WF-20417", component="workflow").get_json()
    en(client).get("/search?q=mail+queue+relay&limit=2&offset=2")
    logs = rows(app, activity.SearchLog)
    assert len(logs) == 2
    first, second = logs
    assert first.id == data["search_id"] and first.text == "WF-20417" and first.source == "api"
    assert (
        first.role == "support"
        and first.result_count == data["total"]
        and first.generation == data["generation"]
    )
    assert (
        first.filters == {"component": ["workflow"]}
        and first.kind == "code"
        and first.keyword_match
    )
    assert 0 < first.latency_ms < 10_000
    ended = datetime.now(UTC).replace(tzinfo=None)
    assert (
        started
        <= first.created_at.replace(tzinfo=None)
        <= second.created_at.replace(tzinfo=None)
        <= ended
    )  # UTC, in order
    assert second.offset == 2 and second.source == "web" and second.lang == "en"


def test_click_through_is_recorded_by_post_and_the_result_link_is_plain(client, app):
    page = client.get("/search?q=WF-20417")
    sid, token = search_id_of(page), csrf_token(page)
    link = html.unescape(
        first_match(
            r'<a class="hit-link" href="([^"]+)" data-case-id="ESC-2026-0002" data-rank="1"', page
        )
    )
    assert re.fullmatch(r"/cases/ESC-2026-0002\?sid=[\w-]{24}", link)
    assert f'data-search-id="{sid}"' in page.get_data(
        as_text=True
    ) and 'data-click-url="/clicks"' in page.get_data(as_text=True)
    assert rows(app, activity.Click) == []  # showing the results records nothing
    case_page = client.get(link)
    assert rows(app, activity.Click) == []  # nor does opening the case by GET
    assert f'name="search_id" value="{sid}"' in case_page.get_data(as_text=True)
    assert 'href="/search?q=WF-20417"' in case_page.get_data(as_text=True)  # back to the results
    response = client.post(
        "/clicks",
        data={"csrf_token": token, "search_id": sid, "case_id": "ESC-2026-0002", "rank": "1"},
    )
    assert response.status_code == 204
    clicks = rows(app, activity.Click)
    assert [(c.search_id, c.case_id, c.rank) for c in clicks] == [(sid, "ESC-2026-0002", 1)]
    for form, field in (
        ({"search_id": "99999", "case_id": "ESC-2026-0002"}, "search_id"),
        ({"search_id": str(2**63), "case_id": "ESC-2026-0002"}, "search_id"),
        ({"search_id": str(sid), "case_id": "ESC-2026-0002", "rank": str(2**64)}, "rank"),
        (
            {"search_id": str(sid), "case_id": "ESC-2026-0004"},
            "case_id",
        ),  # engineering: not for support
        ({"case_id": "ESC-2026-0002"}, "search_id"),
    ):
        refused = en(client).post("/clicks", data={"csrf_token": token, **form})
        assert refused.status_code == 400 and f"Field: {field}" in page_text(refused), form
    assert (
        client.post("/clicks", data={"search_id": sid, "case_id": "ESC-2026-0002"}).status_code
        == 400
    )  # no CSRF token
    assert (
        client.get(f"/go/{sid}/ESC-2026-0002").status_code == 404
    )  # no state change on GET any more
    assert len(rows(app, activity.Click)) == 1


def test_feedback_forms_store_verdicts_and_feed_the_stats(client, app):
    page = en(client).get("/search?q=notification+mail+late")
    sid, token = search_id_of(page), csrf_token(page)
    solved = client.post(
        "/feedback",
        data={
            "csrf_token": token,
            "search_id": sid,
            "case_id": "ESC-2026-0003",
            "verdict": "solved",
            "next": "/search?q=notification+mail+late#hit-ESC-2026-0003",
        },
    )
    assert solved.status_code == 303 and solved.headers["Location"].endswith("#hit-ESC-2026-0003")
    assert "Recorded: solved by ESC-2026-0003" in page_text(client.get(solved.headers["Location"]))

    other = client.get("/search?q=printer+on+fire")
    escalated = client.post(
        "/feedback",
        data={
            "csrf_token": token,
            "search_id": search_id_of(other),
            "verdict": "escalated",
            "next": "//evil.example/",
        },
    )
    assert (
        escalated.status_code == 303 and escalated.headers["Location"] == "/search"
    )  # never off-site
    feedback = rows(app, activity.Feedback)
    assert [(f.search_id, f.case_id, f.verdict, f.role) for f in feedback] == [
        (sid, "ESC-2026-0003", "solved", "support"),
        (search_id_of(other), None, "escalated", "support"),
    ]

    stats = client.get("/stats")
    text = " ".join(page_text(stats).split())
    assert stats.status_code == 200
    assert re.search(
        r'id="kpi-searches">2<', stats.get_data(as_text=True)
    )  # the two searches: the page the redirect shows again is the same search, counted once
    assert re.search(r'id="kpi-deflection">50%<', stats.get_data(as_text=True))
    escalated_section = (
        stats.get_data(as_text=True).split('id="escalated"')[1].split("</section>")[0]
    )
    assert (
        "printer on fire" in escalated_section and "/new?title=" not in escalated_section
    )  # support does not write cases
    solving = stats.get_data(as_text=True).split('id="most-solving"')[1].split("</section>")[0]
    assert "ESC-2026-0003" in solving and "Notification mail delayed by hours" in solving
    assert "Start a case from this" not in text
    app.config["KB_ROLE"] = "engineer"
    engineer = client.get("/stats").get_data(as_text=True)
    assert (
        "/new?title=printer+on+fire" in engineer.split('id="escalated"')[1].split("</section>")[0]
    )
    assert "Start a case from this" in engineer


def test_feedback_refuses_bad_input(client, app):
    page = client.get("/search?q=mail")
    token = csrf_token(page)
    for form, field in (
        ({"verdict": "maybe", "case_id": "ESC-2026-0003"}, "verdict"),
        ({"verdict": "solved", "case_id": "ESC-2026-0005"}, "case_id"),
        ({"verdict": "solved", "case_id": "ESC-2026-0003", "search_id": "abc"}, "search_id"),
        ({"verdict": "escalated"}, "search_id"),
    ):
        response = en(client).post("/feedback", data={"csrf_token": token, **form})
        assert response.status_code == 400 and f"Field: {field}" in page_text(response)
    assert rows(app, activity.Feedback) == []


def test_csrf_token_is_required_on_forms(client, app):
    assert app.config.get("WTF_CSRF_ENABLED", True)
    response = en(client).post("/feedback", data={"verdict": "solved", "case_id": "ESC-2026-0003"})
    assert response.status_code == 400 and "The form has expired" in page_text(response)
    wrong = client.post(
        "/feedback", data={"verdict": "solved", "case_id": "ESC-2026-0003", "csrf_token": "forged"}
    )
    assert wrong.status_code == 400
    assert rows(app, activity.Feedback) == []
    fresh = app.test_client()  # a token from another session is refused too
    token = csrf_token(client.get("/search?q=mail"))
    assert (
        fresh.post(
            "/feedback", data={"verdict": "solved", "case_id": "ESC-2026-0003", "csrf_token": token}
        ).status_code
        == 400
    )


def test_api_feedback(client, app):
    sid = api(client, "search", q="WF-20417").get_json()["search_id"]
    ok = client.post(
        "/api/v1/feedback", json={"search_id": sid, "case_id": "ESC-2026-0002", "verdict": "solved"}
    )
    assert (
        ok.status_code == 201
        and ok.get_json()["ok"] is True
        and isinstance(ok.get_json()["feedback_id"], int)
    )
    case_only = client.post(
        "/api/v1/feedback", json={"case_id": "ESC-2026-0002", "verdict": "not_relevant"}
    )
    assert case_only.status_code == 201
    for body, field in (
        ({"verdict": "great", "case_id": "ESC-2026-0002"}, "verdict"),
        ({"case_id": "ESC-2026-0002"}, "verdict"),
        ({"verdict": "solved", "case_id": "ESC-2026-0004"}, "case_id"),
        ({"verdict": "escalated", "search_id": 10_000}, "search_id"),
        ({"verdict": "escalated", "search_id": "one"}, "search_id"),
        ({"verdict": "solved", "case_id": ["ESC-2026-0002"]}, "case_id"),
    ):
        response = client.post("/api/v1/feedback", json=body)
        data = response.get_json()
        assert response.status_code == 400 and data["field"] == field and data["ok"] is False, body
    assert [(f.verdict, f.case_id) for f in rows(app, activity.Feedback)] == [
        ("solved", "ESC-2026-0002"),
        ("not_relevant", "ESC-2026-0002"),
    ]


def test_api_posts_must_be_json_and_small(client, app):
    form = client.post("/api/v1/feedback", data={"verdict": "solved", "case_id": "ESC-2026-0002"})
    assert form.status_code == 415 and form.get_json() == {
        "ok": False,
        "status": 415,
        "error": form.get_json()["error"],
    }
    broken = client.post("/api/v1/feedback", data="{not json", content_type="application/json")
    assert broken.status_code == 400 and broken.get_json()["status"] == 400
    huge = client.post(
        "/api/v1/feedback",
        data=json.dumps({"verdict": "solved", "pad": "x" * 2_000_000}),
        content_type="application/json",
    )
    assert (
        huge.status_code == 413
        and huge.get_json()["status"] == 413
        and huge.get_json()["ok"] is False
    )
    huge_form = client.post("/feedback", data={"pad": "x" * 2_000_000})
    assert huge_form.status_code == 413 and huge_form.mimetype == "text/html"
    wrong_method = client.get("/api/v1/feedback")
    assert wrong_method.status_code == 405 and wrong_method.get_json()["status"] == 405
    assert client.delete("/search").status_code == 405
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.get_json() == {
        "ok": False,
        "status": 404,
        "error": missing.get_json()["error"],
    }
    assert rows(app, activity.Feedback) == []


def test_stats_page_with_history(client, app):
    store = app.extensions["kb"].store
    from datetime import datetime, timedelta

    now = datetime.now(UTC)
    for days_ago, count in ((0, 3), (1, 1), (5, 2), (40, 7)):
        for i in range(count):
            activity.record_search(
                store,
                activity.SearchEvent(
                    text=f"gap query {days_ago}",
                    role="support",
                    result_count=0,
                    latency_ms=10.0 + i,
                ),
                now=now - timedelta(days=days_ago),
            )
    activity.record_search(
        store,
        activity.SearchEvent(
            text="engineer secret GLASS-HERON", role="engineer", result_count=0, latency_ms=5
        ),
        now=now,
    )
    response = en(client).get("/stats")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.count('class="bar"') == 30
    assert re.search(
        r'id="kpi-searches">6<', body
    )  # the 40-day-old searches are outside the window
    assert "gap query 0" in body and "gap query 40" not in body and "GLASS-HERON" not in body
    assert "/new?title=" not in body and client.get("/new?title=gap+query+0").status_code == 403
    app.config["KB_ROLE"] = "engineer"  # engineers start cases from the gaps
    assert "/new?title=gap+query+0" in client.get("/stats").get_data(as_text=True)
    new = client.get("/new?title=gap+query+0")
    assert (
        new.status_code == 200
        and 'name="title" type="text" value="gap query 0"' in new.get_data(as_text=True)
    )
    app.config["KB_ROLE"] = "support"
    assert en(client).get("/stats?days=7").get_data(as_text=True).count('class="bar"') == 7
    assert (
        client.get("/stats?days=0").status_code == 400
        and client.get("/stats?days=9999").status_code == 400
    )


# -- the app as a whole ---------------------------------------------------------------------------------


def test_security_headers_on_every_response(client):
    for response in (
        client.get("/"),
        client.get("/search?q=mail"),
        api(client, "search", q="mail"),
        client.get("/cases/ESC-2099-0001"),
        client.get("/static/app.css"),
        client.get("/search?limit=0&q=x"),
        client.post("/feedback"),
    ):
        response.close()
        headers = response.headers
        assert "script-src 'self'" in headers["Content-Security-Policy"], response.request.path
        assert "unsafe-inline" not in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"


def test_pages_have_no_inline_script_or_external_assets(client):
    for path in ("/", "/search?q=mail", "/cases/ESC-2026-0001", "/stats", "/cases/nope"):
        body = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=\"/static/)", body), path
        assert not re.search(r"\son[a-z]+=", body), path
        assert not re.search(r'(src|href)="(https?:)?//', body), path
        assert " style=" not in body, path
    script = client.get("/static/app.js")
    assert script.status_code == 200 and script.mimetype == "text/javascript"
    script.close()


def test_language_switch_parameter_sets_a_cookie(client):
    switched = client.get("/?lang=en", headers={"Accept-Language": "ja"})
    assert "lang=en" in switched.headers["Set-Cookie"] and '<html lang="en">' in switched.get_data(
        as_text=True
    )
    assert '<html lang="en">' in client.get("/", headers={"Accept-Language": "ja"}).get_data(
        as_text=True
    )
    assert '<html lang="ja">' in client.get("/?lang=ja").get_data(as_text=True)
    assert "Set-Cookie" not in client.get("/?lang=fr").headers


def test_no_index_yet_is_503(settings):
    app = create_app(settings, test_config={"KB_ROLE": "support"})
    client = app.test_client()
    page = en(client).get("/search?q=mail")
    assert (
        page.status_code == 503
        and "Search is not ready" in page_text(page)
        and "kb index" in page_text(page)
    )
    data = api(client, "search", q="mail").get_json()
    assert (
        data == {"ok": False, "error": data["error"], "status": 503} and "kb index" in data["error"]
    )
    assert client.get("/").status_code == 200
    assert api(client, "health").get_json() == {"ok": True, "generation": None, "cases": 0}
    app.extensions["kb"].close()


def test_new_generations_are_picked_up_without_a_restart(client, app, settings, write_cases):
    assert api(client, "search", q="QUOKKA-7781").get_json()[
        "hits"
    ] == [] or "ESC-2026-0099" not in {
        h["id"] for h in api(client, "search", q="QUOKKA-7781").get_json()["hits"]
    }
    before = api(client, "health").get_json()["generation"]
    write_cases(
        {
            "ESC-2026-0099.md": case_text(
                "ESC-2026-0099", title="Badge printer QUOKKA-7781 jams", component="portal"
            )
        }
    )
    assert run_index(settings).published
    data = api(client, "search", q="QUOKKA-7781").get_json()
    assert data["hits"][0]["id"] == "ESC-2026-0099" and data["generation"] != before


def test_one_store_and_searcher_per_app(app, client):
    kb = app.extensions["kb"]
    client.get("/search?q=mail")
    api(client, "search", q="mail")
    assert app.extensions["kb"] is kb and kb.searcher.store is kb.store


def test_warm_up_loads_the_live_model_before_the_first_search(app, monkeypatch):
    kb = app.extensions["kb"]
    asked: list[str] = []
    real = kb.searcher.encoder
    monkeypatch.setattr(kb.searcher, "encoder", lambda model: asked.append(model) or real(model))
    kb.warm_up().join(timeout=30)
    assert asked == ["hash:256"]


def test_warm_up_prepares_the_encoder_for_queries(app, monkeypatch, caplog):
    import logging

    kb = app.extensions["kb"]
    prepared: list[bool] = []

    class Ready:
        def prepare_queries(self) -> bool:
            prepared.append(True)
            return True

    monkeypatch.setattr(kb.searcher, "encoder", lambda model: Ready())
    with caplog.at_level(logging.INFO, logger="webui.service"):
        kb.warm_up().join(timeout=30)
    assert prepared == [True] and "query model ready (traced)" in caplog.text


def test_warm_up_without_an_index_only_logs(settings, caplog):
    app = create_app(settings, test_config={"TESTING": True, "KB_ROLE": "support"})
    app.extensions["kb"].warm_up().join(timeout=30)
    assert "warm-up skipped" in caplog.text
