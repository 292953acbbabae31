"""The web UI's pure parts: activity log and its numbers (SQLite), charts, i18n table, URL parameters."""

from __future__ import annotations

import re
import string
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from sqlalchemy import select

from indexer.query_cache import QueryEncoderCache
from kb import activity
from kb.activity import SearchEvent
from kb.errors import QueryError
from kb.store import Store
from kb.subjects import SearchSubject
from webui import charts
from webui.i18n import LANGS, MESSAGES, choose_language, translate
from webui.params import parse_search_params

TODAY = date(2026, 3, 31)


def at(days_ago: int, hour: int = 10) -> datetime:
    return datetime.combine(
        TODAY - timedelta(days=days_ago), datetime.min.time(), tzinfo=UTC
    ) + timedelta(hours=hour)


@pytest.fixture
def store(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'activity.sqlite3'}")
    store.create_schema()
    yield store
    store.close()


def search(
    store: Store,
    text: str,
    days_ago: int = 0,
    results: int = 5,
    keyword: bool = True,
    role: str = "support",
    offset: int = 0,
    latency: float = 20.0,
) -> int:
    return activity.record_search(
        store,
        SearchEvent(
            text=text,
            role=role,
            result_count=results,
            latency_ms=latency,
            keyword_match=keyword,
            offset=offset,
        ),
        now=at(days_ago),
    )


def test_schema_has_the_activity_tables(store):
    from sqlalchemy import inspect

    assert {"search_log", "search_clicks", "feedback"} <= set(
        inspect(store.engine).get_table_names()
    )


def test_the_same_users_same_search_again_soon_is_the_same_search(store):
    def again(author="tanaka", text="SCH-13208", minutes=0, filters=None, offset=0):
        event = SearchEvent(
            text,
            "support",
            3,
            9.0,
            author=author,
            filters=filters,
            offset=offset,
            subjects=(("code", "sch-13208", None),),
        )
        return activity.log_search(store, event, now=at(0) + timedelta(minutes=minutes))

    first = again()
    # a reload, the language switch, back from a case: one search, one set of subjects
    assert again(minutes=5).id == first.id and again(minutes=29).token == first.token
    assert again(author="suzuki", minutes=5).id != first.id  # another person searching counts
    assert again(filters={"product": ["tsumugi-cloud"]}, minutes=5).id != first.id
    assert again(offset=10, minutes=5).id != first.id  # the next page is a page of its own
    assert again(text="SCH-13209", minutes=5).id != first.id
    assert again(minutes=31).id != first.id  # asked again later: a new search
    anonymous = [again(author="").id, again(author="").id]  # nobody to tell apart: each counted
    assert anonymous[0] != anonymous[1]
    with store.session() as session:
        codes = session.scalars(select(SearchSubject.search_id)).all()
    assert codes.count(first.id) == 1


def test_searches_per_day_fills_every_day_and_counts_first_pages_only(store):
    search(store, "a", days_ago=0)
    search(store, "a", days_ago=0, offset=10)  # a second page is not a second search
    search(store, "b", days_ago=2)
    search(store, "c", days_ago=2)
    search(store, "old", days_ago=40)
    stats = activity.activity_stats(store, days=7, today=TODAY)
    assert (
        len(stats.per_day) == 7
        and stats.per_day[0][0] == TODAY - timedelta(days=6)
        and stats.per_day[-1][0] == TODAY
    )
    assert dict(stats.per_day)[TODAY] == 1 and dict(stats.per_day)[TODAY - timedelta(days=2)] == 2
    assert sum(n for _, n in stats.per_day) == 3 == stats.deflection.searches


def test_deflection_uses_each_searchs_latest_decisive_verdict(store):
    s1, s2, s3, s4 = (search(store, t) for t in ("one", "two", "three", "four"))
    activity.record_feedback(
        store, "solved", "support", search_id=s1, case_id="ESC-2026-0001", now=at(0, 11)
    )
    activity.record_feedback(store, "escalated", "support", search_id=s2, now=at(0, 11))
    activity.record_feedback(store, "escalated", "support", search_id=s3, now=at(0, 11))
    activity.record_feedback(
        store, "solved", "support", search_id=s3, case_id="ESC-2026-0002", now=at(0, 12)
    )  # changed its mind
    activity.record_feedback(
        store, "not_relevant", "support", search_id=s4, case_id="ESC-2026-0003", now=at(0, 12)
    )
    result = activity.activity_stats(store, days=30, today=TODAY).deflection
    assert (result.searches, result.solved, result.escalated, result.decided) == (4, 2, 1, 3)
    assert result.rate == pytest.approx(2 / 3)
    assert activity.Deflection(3, 0, 0).rate is None


def test_content_gaps_and_escalated_queries_are_grouped_by_text(store):
    search(store, "printer on fire", results=0)
    search(store, "printer on fire", results=0, days_ago=1)
    search(store, "only semantic guesses", results=12, keyword=False)
    search(store, "found fine", results=3)
    esc = search(store, "license server unreachable")
    activity.record_feedback(store, "escalated", "support", search_id=esc)
    stats = activity.activity_stats(store, days=30, today=TODAY)
    assert [(q.text, q.count) for q in stats.content_gaps] == [
        ("printer on fire", 2),
        ("only semantic guesses", 1),
    ]
    assert stats.content_gaps[0].last == at(0)
    assert [(q.text, q.count) for q in stats.escalated_queries] == [
        ("license server unreachable", 1)
    ]


def test_roles_limit_whose_queries_are_shown(store):
    search(store, "codename GLASS-HERON", results=0, role="engineer")
    search(store, "nothing here", results=0, role="support")
    shown = activity.activity_stats(store, days=30, today=TODAY, roles=["support"])
    assert [q.text for q in shown.content_gaps] == ["nothing here"]
    assert shown.deflection.searches == 1


def test_clicks_and_solving_cases_are_ranked(store):
    sid = search(store, "x")
    click_ids = [
        activity.record_click(store, sid, case_id, rank=1, now=at(0))
        for case_id in ("ESC-2026-0002", "ESC-2026-0001", "ESC-2026-0002")
    ]
    assert all(isinstance(i, int) for i in click_ids) and click_ids == sorted(
        set(click_ids)
    )  # three rows, in order
    assert (
        activity.record_click(store, 9999, "ESC-2026-0001") is None
    )  # unknown search: nothing recorded
    activity.record_feedback(store, "solved", "support", case_id="ESC-2026-0001", now=at(0))
    stats = activity.activity_stats(store, days=30, today=TODAY)
    assert stats.most_viewed == [("ESC-2026-0002", 2), ("ESC-2026-0001", 1)]
    assert stats.most_solving == [("ESC-2026-0001", 1)]


def test_latency_percentiles(store):
    for ms in range(1, 101):
        search(store, f"q{ms}", latency=float(ms))
    stats = activity.activity_stats(store, days=30, today=TODAY)
    assert (stats.latency_p50, stats.latency_p95) == (50.0, 95.0)
    assert activity.percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        activity.percentile([], 50)


@pytest.mark.parametrize(
    "verdict,search_id,case_id,field",
    [
        ("fixed", 1, "ESC-2026-0001", "verdict"),
        ("escalated", None, None, "search_id"),
        ("solved", 1, None, "case_id"),
        ("not_relevant", None, "", "case_id"),
    ],
)
def test_bad_feedback_is_a_query_error_with_its_field(store, verdict, search_id, case_id, field):
    search(store, "x")
    with pytest.raises(QueryError) as info:
        activity.record_feedback(store, verdict, "support", search_id=search_id, case_id=case_id)
    assert info.value.field == field


def test_feedback_on_an_unknown_search_is_refused(store):
    with pytest.raises(QueryError, match="no search 42"):
        activity.record_feedback(store, "escalated", "support", search_id=42)


def test_long_queries_are_kept_whole_up_to_the_query_limit(store):
    from indexer.searcher import MAX_QUERY_CHARS

    assert activity.MAX_LOGGED_QUERY >= MAX_QUERY_CHARS  # a ?sid= link reloads the whole query
    logged = activity.get_search(store, search(store, "x" * 20_000))
    assert logged is not None and len(logged.text) == 20_000
    logged = activity.get_search(store, search(store, "y" * (activity.MAX_LOGGED_QUERY + 5)))
    assert logged is not None and len(logged.text) == activity.MAX_LOGGED_QUERY


def test_every_logged_search_is_redacted_and_found_by_its_token(store):
    pasted = (
        "ERROR login failed user=k.tanaka@hanamura-logi.co.jp password=Hunter2xyz\n"
        "key AKIAQWERTYUIOPASDFGH, callback 090-1234-5678 / (415) 867-5309"
    )
    logged = activity.log_search(
        store,
        SearchEvent(
            pasted, "support", 0, 1.0, filters={"tag": ["ops@hanamura-logi.co.jp"]}, author="sato"
        ),
    )
    stored = activity.get_search(store, logged.id)
    assert stored.text == (
        "ERROR login failed user=<EMAIL> password=<SECRET>\n"
        "key <SECRET>, callback <PHONE> / <PHONE>"
    )
    assert stored.filters == {"tag": ["<EMAIL>"]} and stored.author == "sato"
    assert (
        activity.get_search(
            store, activity.record_search(store, SearchEvent("mail relay slow", "support", 1, 1.0))
        ).text
        == "mail relay slow"
    )
    assert activity.get_search_by_token(store, logged.token).id == logged.id
    assert activity.get_search_by_token(store, activity.new_token()) is None
    assert (
        activity.get_search_by_token(store, str(logged.id)) is None
    )  # the sequential id is no token
    assert (
        not activity.valid_token("abc")
        and not activity.valid_token("x" * 100)
        and activity.valid_token(logged.token)
    )
    assert (
        activity.get_search(store, 2**63) is None
        and activity.record_click(store, 2**64, "ESC-2026-0001") is None
    )
    with pytest.raises(QueryError, match="no search"):
        activity.record_feedback(store, "escalated", "support", search_id=2**63)


# -- charts ---------------------------------------------------------------------------------------


def test_bar_chart_draws_one_escaped_bar_per_day():
    points = [(TODAY - timedelta(days=29 - i), i % 4) for i in range(30)]
    svg = str(charts.bar_chart(points, 'Searches <per> "day"'))
    assert svg.startswith("<svg") and svg.count('class="bar"') == 30
    assert "<per>" not in svg and "&lt;per&gt;" in svg
    assert f"<title>{TODAY.isoformat()}: 1</title>" in svg
    heights = [float(h) for h in re.findall(r'class="bar"[^>]*height="([\d.]+)"', svg)]
    assert heights[0] == 0 and max(heights) == heights[3]  # scaled to the largest count


def test_deflection_bar_segments_are_proportional():
    svg = str(
        charts.deflection_bar(
            activity.Deflection(searches=10, solved=3, escalated=2), "ok", "esc", "none"
        )
    )
    widths = dict(re.findall(r'class="seg-(\w+)"[^>]*width="([\d.]+)"', svg))
    assert float(widths["solved"]) == pytest.approx(960 * 0.3, abs=0.1)
    assert float(widths["escalated"]) == pytest.approx(960 * 0.2, abs=0.1)
    assert float(widths["undecided"]) == pytest.approx(960 * 0.5, abs=0.1)
    assert "seg-solved" not in str(
        charts.deflection_bar(activity.Deflection(0, 0, 0), "ok", "esc", "none")
    )


# -- i18n -----------------------------------------------------------------------------------------


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_message_exists_in_both_languages_with_the_same_placeholders():
    for key, (ja, en) in MESSAGES.items():
        assert ja.strip() and en.strip(), key
        assert _placeholders(ja) == _placeholders(en), key


def test_templates_only_use_known_messages():
    folder = Path(__file__).resolve().parent.parent / "webui" / "templates"
    used = {
        key
        for path in folder.glob("*.html")
        for key in re.findall(r"\bt\('([a-z_.-]+)'", path.read_text("utf-8"))
        if not key.endswith(".")
    }
    assert used and not used - set(MESSAGES), used - set(MESSAGES)
    prefixes = {
        key
        for path in folder.glob("*.html")
        for key in re.findall(r"\bt\('([a-z_.-]+\.)' ~", path.read_text("utf-8"))
    }
    for prefix, values in {
        "status.": ("resolved", "workaround", "known-issue"),
        "kind.": ("words", "code", "log"),
        "lang.": LANGS,
        "visibility.": ("support", "engineering", "restricted"),
        "feedback.": ("solved", "not_relevant", "escalated"),
        "facet.": ("product", "component", "status", "tag", "version", "from", "to"),
    }.items():
        assert prefix in prefixes or prefix == "lang."
        assert all(prefix + value in MESSAGES for value in values), prefix


def test_translate_fills_placeholders_and_rejects_unknown_keys():
    assert translate("search.results", "en", total=7, first=1, last=5) == "1–5 of 7"
    assert translate("search.results", "ja", total=7, first=1, last=5) == "7 件中 1–5 件目"
    with pytest.raises(KeyError):
        translate("no.such.key", "ja")


@pytest.mark.parametrize(
    "param,cookie,accepted,expected",
    [
        ("en", "ja", [("ja", 1.0)], "en"),
        (None, "en", [("ja", 1.0)], "en"),
        ("fr", None, [("en-US", 0.9), ("ja", 0.5)], "en"),
        (None, None, [("fr", 1.0), ("ja-JP", 0.8)], "ja"),
        (None, None, [], "ja"),
        (None, "xx", [("de", 1.0)], "ja"),
    ],
)
def test_choose_language(param, cookie, accepted, expected):
    assert choose_language(param, cookie, accepted) == expected


# -- parameters -----------------------------------------------------------------------------------


def test_search_url_round_trip():
    args = {
        "q": ["SCH-13208 削除"],
        "product": ["tsumugi-server"],
        "tag": ["a", "b"],
        "from": ["2024-01-01"],
        "limit": ["5"],
        "offset": ["10"],
        "status": ["resolved"],
    }
    params = parse_search_params(args, 10)
    url = params.url()
    again = parse_search_params(parse_qs(urlsplit(url).query), 10)
    assert again == params
    removed = parse_search_params(parse_qs(urlsplit(params.url(without=("tag", "a"))).query), 10)
    assert removed.filters.tags == ("b",) and removed.offset == 0 and removed.limit == 5
    assert "offset" not in params.url(clear_filters=True) and "tag" not in params.url(
        clear_filters=True
    )
    assert parse_search_params({}, 10).url() == "/search"


@pytest.mark.parametrize(
    "args,field",
    [
        ({"limit": ["0"]}, "limit"),
        ({"limit": ["101"]}, "limit"),
        ({"limit": ["ten"]}, "limit"),
        ({"offset": ["-1"]}, "offset"),
        ({"from": ["2024-13-01"]}, "from"),
        ({"status": ["fixed"]}, "status"),
    ],
)
def test_bad_parameters_name_their_field(args, field):
    with pytest.raises(QueryError) as info:
        parse_search_params({"q": ["x"], **args}, 10)
    assert info.value.field == field


def test_query_encoder_cache_encodes_each_text_once():
    class Counting:
        name, dim = "fake", 3
        calls: list[list[str]] = []

        def encode_queries(self, texts: list[str]) -> np.ndarray:
            self.calls.append(list(texts))
            return np.array([[len(t), 0, 1] for t in texts], dtype=np.float32)

    inner = Counting()
    cache = QueryEncoderCache(inner, size=2)
    first = cache.encode_queries(["a", "bb"])
    again = cache.encode_queries(["bb", "a"])
    assert inner.calls == [["a", "bb"]]
    assert again.tolist() == first[::-1].tolist()
    cache.encode_queries(["ccc"])  # evicts "bb", the least recently used
    cache.encode_queries(["a"])
    assert inner.calls[-1] == ["ccc"]
    cache.encode_queries(["bb"])
    assert inner.calls[-1] == ["bb"] and cache.encode_queries([]).shape == (0, 3)


def test_query_encoder_cache_keeps_sparse_terms_apart_from_vectors():
    class Counting:
        name, dim, sparse_dim = "fake", 2, 8
        calls: list[tuple[str, list[str]]] = []

        def encode_queries(self, texts: list[str]) -> np.ndarray:
            self.calls.append(("dense", list(texts)))
            return np.ones((len(texts), 2), dtype=np.float32)

        def encode_sparse(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
            self.calls.append(("sparse", list(texts)))
            return [(np.array([len(t)]), np.array([1.0])) for t in texts]

    inner = Counting()
    cache = QueryEncoderCache(inner, size=8)
    assert [int(i[0]) for i, _ in cache.encode_sparse(["ab", "abc", "ab"])] == [2, 3, 2]
    cache.encode_queries(["ab"])  # the same text, the other leg: encoded by that leg once
    cache.encode_sparse(["abc"])
    cache.encode_queries(["ab"])
    assert inner.calls == [("sparse", ["ab", "abc"]), ("dense", ["ab"])]
    assert cache.sparse_dim == 8 and cache.encode_sparse([]) == []
