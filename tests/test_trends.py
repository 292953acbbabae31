"""Trends: the pure statistics on hand-made counts, the store queries (SQLite and, with
KB_TEST_DATABASE_URL, PostgreSQL), the page and API with role filtering (the benchmark's smoke run: tests/test_bench_smoke.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kb import activity, trends
from kb.activity import SearchEvent
from kb.errors import QueryError
from kb.store import Store
from kb.trends import SubjectCounts, TrendFilters

NOW = datetime(2026, 3, 31, 12, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


# -- pure statistics ---------------------------------------------------------------------------


def test_expected_count_is_the_baseline_rate_scaled_to_the_window():
    assert trends.expected_count(14 * 24, HOUR) == pytest.approx(1.0)
    assert trends.expected_count(28, DAY) == pytest.approx(2.0)
    assert trends.expected_count(0, 7 * DAY) == 0
    with pytest.raises(ValueError):
        trends.expected_count(1, HOUR, timedelta(0))


def test_rising_needs_a_minimum_count_and_twice_the_expectation():
    assert trends.is_rising(3, 0.0) and trends.is_rising(5, 2.4)
    assert not trends.is_rising(2, 0.0)  # too few
    assert not trends.is_rising(4, 2.0)  # exactly twice is not more than twice
    assert trends.rise_ratio(3, 0.0) == 4.0 and trends.rise_ratio(0, 1.0) == 0.5


def test_ranking_puts_rising_first_by_ratio_then_the_rest_by_count():
    counts = [
        SubjectCounts("code", "steady", 50, 14 * 50),  # expected 50: not rising, most searched
        SubjectCounts("code", "new", 4, 0),  # ratio 5
        SubjectCounts("signature", "lburst", 10, 14),  # expected 1: ratio 5.5
        SubjectCounts("code", "few", 2, 0),  # too few to rise
        SubjectCounts("code", "tie", 4, 0),  # same as "new": by subject
        SubjectCounts("code", "gone", 0, 100),
    ]  # not searched in the window: left out
    ranked = trends.rank_trends(counts, DAY)
    assert [t.subject for t in ranked] == ["lburst", "new", "tie", "steady", "few"]
    assert [t.rising for t in ranked] == [True, True, True, False, False]
    assert trends.rank_trends(counts, DAY, limit=2)[1].subject == "new"
    assert trends.rank_trends([], DAY) == []


def test_shares_and_series_fill_every_bucket():
    ranked = trends.rank_trends([SubjectCounts("code", "a", 4, 0, zero=1, escalated=2)], HOUR)
    assert ranked[0].zero_share == 0.25 and ranked[0].escalation_share == 0.5
    assert trends.share(0, 0) is None
    start = NOW - 3 * HOUR
    series = trends.fill_series(start, NOW, "hour", {datetime(2026, 3, 31, 10, tzinfo=UTC): 7})
    assert [(s.hour, n) for s, n in series] == [(9, 0), (10, 7), (11, 0), (12, 0)]
    assert len(trends.fill_series(NOW - 6 * DAY, NOW, "day", {})) == 7
    with pytest.raises(ValueError):
        trends.bucket_start(NOW, "minute")


def test_unknown_window_type_and_role_are_query_errors():
    with pytest.raises(QueryError, match="hour, day, week"):
        trends.get_window("month")
    with pytest.raises(QueryError) as err:
        trends.check_filters(TrendFilters(role="root"), ("support", "engineer"))
    assert err.value.field == "role"


# -- store queries -------------------------------------------------------------------------------


@pytest.fixture
def store(store_url):
    s = Store(store_url)
    s.create_schema()
    yield s
    s.close()


def search(
    store: Store,
    when: datetime,
    code: str = "sch-13208",
    results: int = 1,
    top: str | None = "ESC-1",
    role: str = "support",
    product: str = "p1",
    escalate: bool = False,
) -> int:
    sid = activity.record_search(
        store,
        SearchEvent(
            text=code,
            role=role,
            result_count=results,
            latency_ms=1,
            subjects=(("code", code, None),),
            top_case=top,
            product=product,
        ),
        now=when,
    )
    if escalate:
        activity.record_feedback(store, "escalated", role, search_id=sid, now=when)
    return sid


def test_trends_counts_baseline_shares_series_and_cases(store):
    for i in range(6):  # a burst: 6 in the last hour, two found nothing, one escalated
        search(
            store,
            NOW - timedelta(minutes=5 + 8 * i),
            results=0 if i < 2 else 3,
            top=None if i < 2 else "ESC-1",
            escalate=i == 5,
        )
    for day in range(1, 15):  # steady: one a day for 14 days, 2 in the last day
        search(store, NOW - day * DAY + HOUR, code="wf-20417", top="ESC-2")
    search(store, NOW - 20 * HOUR, code="wf-20417", top="ESC-2")
    search(store, NOW - 30 * DAY, code="wf-20417")  # before the baseline: ignored
    report = trends.trends(store, "day", now=NOW)
    by = {t.subject: t for t in report.trends}
    burst, steady = by["sch-13208"], by["wf-20417"]
    assert [t.subject for t in report.trends] == ["sch-13208", "wf-20417"]
    assert burst.count == 6 and burst.baseline == 0 and burst.rising
    assert burst.zero_share == pytest.approx(2 / 6) and burst.escalation_share == pytest.approx(
        1 / 6
    )
    assert burst.cases == [("ESC-1", 4)]
    assert steady.count == 2 and steady.baseline == 13 and not steady.rising
    assert steady.expected == pytest.approx(13 / 14)
    assert (
        len(burst.series) == 24
        and sum(n for _, n in burst.series) == 6
        and burst.series[-1][1] >= 1
    )
    hour = trends.trends(store, "hour", now=NOW)
    assert [t.subject for t in hour.trends] == ["sch-13208"] and len(hour.trends[0].series) == 24
    week = trends.trends(store, "week", now=NOW)
    assert {t.subject: t.count for t in week.trends} == {"sch-13208": 6, "wf-20417": 8}
    assert len(week.trends[0].series) == 7


def test_filters_by_product_and_role(store):
    search(store, NOW - HOUR, product="p1", role="support")
    search(store, NOW - HOUR, product="p2", role="engineer")
    assert trends.trends(store, "day", TrendFilters(product="p2"), now=NOW).trends[0].count == 1
    assert trends.trends(store, "day", TrendFilters(role="support"), now=NOW).trends[0].count == 1
    assert trends.trends(store, "day", TrendFilters(component="none"), now=NOW).trends == []


def test_signature_trends_carry_their_template(store):
    activity.record_search(
        store,
        SearchEvent(
            text="x",
            role="support",
            result_count=0,
            latency_ms=1,
            subjects=(("signature", "l0123456789abcdef", "<ts> error pool <num>"),),
        ),
        now=NOW - HOUR,
    )
    (trend,) = trends.trends(store, "day", now=NOW).trends
    assert (
        trend.subject_type == "signature"
        and trend.template == "<ts> error pool <num>"
        and trend.cases == []
    )
    assert trends.trends(store, "day", now=NOW, subject_type="code").trends == []


# -- page and API ----------------------------------------------------------------------------------


@pytest.fixture
def app(settings, write_cases):
    from conftest import case_text

    from indexer.jobs import run_index
    from webui import create_app

    write_cases(
        {
            "ESC-2026-0001.md": case_text("ESC-2026-0001", title="Open case SCH-13208"),
            "ESC-2026-0004.md": case_text(
                "ESC-2026-0004", title="Engineering GLASS-HERON", visibility="engineering"
            ),
            "ESC-2026-0005.md": case_text(
                "ESC-2026-0005", title="Restricted VELVET-OWL", visibility="restricted"
            ),
        }
    )
    assert run_index(settings).published
    app = create_app(settings, test_config={"KB_ROLE": "support"})
    store = app.extensions["kb"].store
    now = datetime.now(UTC)
    for top in ("ESC-2026-0001", "ESC-2026-0004", "ESC-2026-0005", "ESC-2026-0005"):
        search(store, now - timedelta(minutes=10), top=top)
    yield app
    app.extensions["kb"].close()


@pytest.mark.parametrize("role", ["support", "engineer", "admin"])
def test_page_and_api_show_only_the_cases_the_role_may_read(app, role):
    app.config["KB_ROLE"] = role
    client = app.test_client()
    page = client.get("/trends?window=hour")
    body = client.get("/api/v1/trends?window=hour").get_json()
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "sch-13208" in html and "<svg" in html
    assert '<span class="subject">SCH-13208</span>' in html  # as the case writes it
    listed = [c["id"] for c in body["trends"][0]["cases"]]
    expected = {
        "support": ["ESC-2026-0001"],
        "engineer": ["ESC-2026-0001", "ESC-2026-0004"],
        "admin": ["ESC-2026-0005", "ESC-2026-0001", "ESC-2026-0004"],
    }[role]
    assert (
        listed == expected
        and body["ok"]
        and body["window"] == "hour"
        and body["trends"][0]["count"] == 4
    )
    hidden = {
        "support": ("ESC-2026-0004", "GLASS-HERON", "ESC-2026-0005", "VELVET-OWL"),
        "engineer": ("ESC-2026-0005", "VELVET-OWL"),
        "admin": (),
    }[role]
    for secret in hidden:
        assert secret not in html and secret not in str(body)


@pytest.mark.parametrize(
    "role, counted", [("support", set()), ("engineer", set()), ("admin", {"ptl-40733"})]
)
def test_an_admins_search_counts_only_for_admins(app, role, counted):
    store = app.extensions["kb"].store
    for minutes in (3, 4, 5):  # a code only a restricted case names, searched by an admin
        search(
            store, datetime.now(UTC) - timedelta(minutes=minutes), code="ptl-40733", role="admin"
        )
    app.config["KB_ROLE"] = role
    client = app.test_client()
    for asked in ("", "&role=admin"):  # nor by asking for admins' searches by name
        body = client.get(f"/api/v1/trends?window=hour{asked}").get_json()
        page = client.get(f"/trends?window=hour{asked}").get_data(as_text=True)
        shown = {t["subject"] for t in body["trends"]} & {"ptl-40733"}
        assert shown == counted and ("ptl-40733" in page) == bool(counted)


def test_bad_parameters_get_the_json_error_shape(app):
    client = app.test_client()
    response = client.get("/api/v1/trends?window=month")
    assert (
        response.status_code == 400
        and response.get_json()["ok"] is False
        and "window" in response.get_json()["error"]
    )
    assert client.get("/trends?role=root").status_code == 400
    assert client.get("/api/v1/trends?product=" + "x" * 200).status_code == 400


def test_page_in_both_languages(app):
    client = app.test_client()
    client.set_cookie("lang", "en")
    assert "Search trends" in client.get("/trends").get_data(as_text=True)
    client.set_cookie("lang", "ja")
    html = client.get("/trends").get_data(as_text=True)
    assert "検索トレンド" in html and "トレンド</a>" in html


def test_cli_lists_trends_with_only_the_cases_support_may_read(settings, write_cases):
    from click.testing import CliRunner
    from conftest import case_text

    from kb.cli import main
    from kb.migrate import open_store

    folder = write_cases(
        {
            "ESC-2026-0001.md": case_text("ESC-2026-0001"),
            "ESC-2026-0005.md": case_text("ESC-2026-0005", visibility="restricted"),
        }
    )
    assert run_index_ok(settings)
    store = open_store(settings)
    now = datetime.now(UTC)
    for top in ("ESC-2026-0001", "ESC-2026-0005", "ESC-2026-0005"):
        search(store, now - timedelta(minutes=5), top=top)
    store.close()
    args = [
        "--cases-dir",
        str(folder),
        "--data-dir",
        str(settings.data_dir),
        "trends",
        "--window",
        "hour",
    ]
    result = CliRunner().invoke(main, args, env={"KB_EMBED_MODEL": "hash:256"})
    assert result.exit_code == 0, result.output
    assert (
        "RISING" in result.output
        and "sch-13208" in result.output
        and "ESC-2026-0001 (1)" in result.output
    )
    assert "ESC-2026-0005" not in result.output
    admin = CliRunner().invoke(
        main, [*args, "--visible-to", "admin", "--json"], env={"KB_EMBED_MODEL": "hash:256"}
    )
    assert admin.exit_code == 0 and '"id": "ESC-2026-0005"' in admin.output
    bad = CliRunner().invoke(main, [*args, "--role", "root"])
    assert bad.exit_code == 2 and "role" in bad.output


def run_index_ok(settings) -> bool:  # type: ignore[no-untyped-def]
    from indexer.jobs import run_index

    return bool(run_index(settings).published)
