"""Pasted customer data in searches: stored redacted, reopened only by its author (or an admin)
through an unguessable token; feedback and clicks only on your own searches; the access log
format keeps query strings out; hostile ids and bodies are 400s, never 500s."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, select, text
from worlds import PASSWORD, WEB_WORLD, rows, search_id_of

from indexer.jobs import run_index
from kb import accounts, activity
from kb.migrate import open_store
from webui import create_app

PASTED = (
    "login user=tanaka@hanamura-logi.co.jp password=Hunter2xyz tel 090-1234-5678\n"
    "aws_access_key_id=AKIAQWERTYUIOPASDFGH\n"
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0YW5ha2EifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ\n"
)
SECRETS = (
    "tanaka@hanamura-logi.co.jp",
    "Hunter2xyz",
    "090-1234-5678",
    "AKIAQWERTYUIOPASDFGH",
    "eyJhbGciOiJIUzI1NiJ9",
)
LOG_LINE = "2026-03-02 10:15:07,123 ERROR [http-nio-8443-exec-23] j.k.t.schedule.RecurrenceService - SCH-13208 Cannot apply exception"
TOKEN = re.compile(r'href="/search\?sid=([\w-]+)" class="share"')


@pytest.fixture
def app(settings, write_cases):
    write_cases(WEB_WORLD)
    assert run_index(settings).published
    store = open_store(settings)
    for name, role in (
        ("sato", "support"),
        ("suzuki", "support"),
        ("kato", "engineer"),
        ("mori", "admin"),
    ):
        accounts.add_user(store, name, role, PASSWORD)
    store.close()
    app = create_app(settings.replace(cookie_secure=False), test_config={"WTF_CSRF_ENABLED": False})
    yield app
    app.extensions["kb"].close()


def signed_in(app, name: str):
    client = app.test_client()
    client.set_cookie("lang", "en")
    assert (
        client.post("/login", data={"name": name, "password": PASSWORD, "next": "/"}).status_code
        == 303
    )
    return client


def logs(app) -> list[activity.SearchLog]:
    with app.extensions["kb"].store.session() as session:
        return list(session.scalars(select(activity.SearchLog).order_by(activity.SearchLog.id)))


def long_paste() -> str:
    return "\n".join([LOG_LINE] * 20) + "\n" + PASTED  # over the URL limit: posted, linked by token


def test_a_pasted_log_is_stored_redacted_and_reopened_by_its_author_only(app):
    sato = signed_in(app, "sato")
    page = sato.post("/search", data={"q": long_paste()})
    assert page.status_code == 200
    token = TOKEN.search(page.get_data(as_text=True)).group(1)
    [logged] = logs(app)
    assert logged.token == token and len(token) == 24 and logged.author == "sato"
    assert not any(secret in logged.text for secret in SECRETS)
    assert (
        "password=<SECRET>" in logged.text
        and "user=<EMAIL>" in logged.text
        and "tel <PHONE>" in logged.text
    )
    assert "aws_access_key_id=<SECRET>" in logged.text and "Bearer <SECRET>" in logged.text
    assert LOG_LINE in logged.text  # the log itself is kept: it is what finds the case

    again = sato.get(f"/search?sid={token}")
    body = html.unescape(again.get_data(as_text=True))
    assert (
        again.status_code == 200
        and "password=<SECRET>" in body
        and not any(s in body for s in SECRETS)
    )
    assert re.findall(r'<li class="hit" id="hit-([^"]+)"', body)
    assert signed_in(app, "mori").get(f"/search?sid={token}").status_code == 200  # an admin may
    for other in ("suzuki", "kato"):  # the same role or a wider one: not theirs
        refused = signed_in(app, other).get(f"/search?sid={token}")
        assert refused.status_code == 404 and "RecurrenceService" not in refused.get_data(
            as_text=True
        )

    suzuki = signed_in(app, "suzuki")
    for sid in ("1", "2", str(logged.id), "-1", "x" * 100, str(2**64)):  # walking ids gets nothing
        response = suzuki.get(f"/search?sid={sid}")
        assert response.status_code in (400, 404) and "RecurrenceService" not in response.get_data(
            as_text=True
        ), sid
    assert suzuki.get("/search?sid=1").status_code == 400  # not a token at all


def test_tokens_are_random_and_links_keep_working(app):
    sato = signed_in(app, "sato")
    first = TOKEN.search(
        sato.post("/search", data={"q": long_paste()}).get_data(as_text=True)
    ).group(1)
    again = TOKEN.search(
        sato.post("/search", data={"q": long_paste(), "limit": "1"}).get_data(as_text=True)
    ).group(1)
    assert again == first  # the same paste again at once: the same search, its token kept
    page = sato.post("/search", data={"q": long_paste() + "\nagain", "limit": "1"})
    body = page.get_data(as_text=True)
    second = TOKEN.search(body).group(1)
    assert first != second and all(re.fullmatch(r"[\w-]{24}", t) for t in (first, second))
    pager = html.unescape(re.search(r'rel="next" href="([^"]+)"', body).group(1))
    assert pager.startswith(f"/search?sid={second}&") and "offset=1" in pager
    assert sato.get(pager).status_code == 200
    link = html.unescape(re.search(r'<a class="hit-link" href="([^"]+)"', body).group(1))
    assert link.endswith(f"?sid={second}")
    case_page = sato.get(link).get_data(as_text=True)
    assert f'href="/search?sid={second}"' in case_page  # the way back, by token
    [second_id] = [row.id for row in logs(app) if row.token == second]
    assert f'name="search_id" value="{second_id}"' in case_page  # feedback tied to that search
    other = signed_in(app, "suzuki").get(link).get_data(as_text=True)
    assert (
        'class="crumbs"' not in other and 'name="search_id"' not in other
    )  # someone else's token: ignored
    admin = signed_in(app, "mori").get(link).get_data(as_text=True)
    assert (
        'class="crumbs"' in admin and 'name="search_id"' not in admin
    )  # an admin reads it, gives no feedback on it


def test_stats_show_redacted_text(app):
    sato = signed_in(app, "sato")
    page = sato.get("/search", query_string={"q": "zzqx " + PASTED.split("\n")[0]})
    assert (
        sato.post(
            "/feedback", data={"search_id": search_id_of(page), "verdict": "escalated", "next": "/"}
        ).status_code
        == 303
    )
    stats = html.unescape(signed_in(app, "suzuki").get("/stats").get_data(as_text=True))
    escalated = stats.split('id="escalated"')[1].split("</section>")[0]
    assert "user=<EMAIL> password=<SECRET> tel <PHONE>" in escalated
    assert not any(secret in stats for secret in SECRETS)


def test_filter_values_are_redacted_too(app):
    sato = signed_in(app, "sato")
    assert (
        sato.get(
            "/search", query_string={"q": "mail", "tag": "tanaka@hanamura-logi.co.jp"}
        ).status_code
        == 200
    )
    assert logs(app)[-1].filters == {"tag": ["<EMAIL>"]}


def test_customer_domains_are_redacted(app, settings):
    store = app.extensions["kb"].store
    logged = activity.log_search(
        store,
        activity.SearchEvent("portal.hanamura-logi.co.jp is slow", "support", 0, 1.0),
        customer_domains=("hanamura-logi.co.jp",),
    )
    assert activity.get_search(store, logged.id).text == "<CUSTOMER-DOMAIN> is slow"


def test_feedback_and_clicks_only_on_your_own_searches(app):
    sato, suzuki = signed_in(app, "sato"), signed_in(app, "suzuki")
    sid = search_id_of(sato.get("/search?q=WF-20417"))
    for client in (suzuki, signed_in(app, "mori")):
        form = client.post(
            "/feedback",
            data={"search_id": sid, "case_id": "ESC-2026-0002", "verdict": "solved", "next": "/"},
        )
        assert form.status_code == 400 and "search_id" in form.get_data(as_text=True)
        api = client.post("/api/v1/feedback", json={"search_id": sid, "verdict": "escalated"})
        assert api.status_code == 400 and api.get_json()["field"] == "search_id"
        click = client.post(
            "/clicks", data={"search_id": sid, "case_id": "ESC-2026-0002", "rank": "1"}
        )
        assert click.status_code == 400
    assert rows(app, activity.Feedback) == [] and rows(app, activity.Click) == []
    assert (
        sato.post(
            "/feedback",
            data={"search_id": sid, "case_id": "ESC-2026-0002", "verdict": "solved", "next": "/"},
        ).status_code
        == 303
    )
    assert (
        sato.post("/api/v1/feedback", json={"search_id": sid, "verdict": "escalated"}).status_code
        == 201
    )
    assert (
        sato.post(
            "/clicks", data={"search_id": sid, "case_id": "ESC-2026-0002", "rank": "1"}
        ).status_code
        == 204
    )
    hidden = sato.post(
        "/clicks", data={"search_id": sid, "case_id": "ESC-2026-0004", "rank": "2"}
    )  # engineering case
    assert hidden.status_code == 400 and "ESC-2026-0004" not in {
        c.case_id for c in rows(app, activity.Click)
    }
    assert [(f.verdict, f.search_id) for f in rows(app, activity.Feedback)] == [
        ("solved", sid),
        ("escalated", sid),
    ]
    api_sid = sato.get("/api/v1/search?q=WF-20417").get_json()["search_id"]
    assert (
        sato.post(
            "/api/v1/feedback", json={"search_id": api_sid, "verdict": "escalated"}
        ).status_code
        == 201
    )
    most_viewed = (
        sato.get("/stats")
        .get_data(as_text=True)
        .split('id="most-viewed"')[1]
        .split("</section>")[0]
    )
    assert "ESC-2026-0002" in most_viewed  # click-through statistics still count


def test_huge_ids_and_deep_bodies_are_400(app):
    sato = signed_in(app, "sato")
    sid = search_id_of(sato.get("/search?q=WF-20417"))
    for value in (str(2**63), str(2**64), "9" * 5000):
        form = sato.post(
            "/feedback", data={"search_id": value, "verdict": "escalated", "next": "/"}
        )
        assert form.status_code == 400, value
        click = sato.post("/clicks", data={"search_id": value, "case_id": "ESC-2026-0002"})
        assert click.status_code == 400, value
        rank = sato.post(
            "/clicks", data={"search_id": sid, "case_id": "ESC-2026-0002", "rank": value}
        )
        assert rank.status_code == 400, value
        assert (
            sato.get(f"/cases/ESC-2026-0002?sid={value}").status_code == 200
        )  # an unknown link is ignored
        assert sato.get(f"/search?sid={value}").status_code in (400, 404)
    for value in (2**63, 2**64, -(2**63) - 1):
        api = sato.post("/api/v1/feedback", json={"search_id": value, "verdict": "escalated"})
        assert api.status_code == 400 and api.get_json()["field"] == "search_id", value
    assert (
        sato.get(f"/go/{2**64}/ESC-2026-0002").status_code == 404
    )  # the old GET click route is gone
    for deep in ("[" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000):
        response = sato.post("/api/v1/feedback", data=deep, content_type="application/json")
        assert response.status_code == 400 and response.get_json()["ok"] is False
    assert rows(app, activity.Feedback) == [] and rows(app, activity.Click) == []


@pytest.mark.parametrize(
    "target",
    [
        "/search\nSet-Cookie: a=b",
        "/\t/evil.example/",
        "/search\r\nX: y",
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
    ],
)
def test_feedback_next_is_checked_before_anything_is_stored(app, target):
    sato = signed_in(app, "sato")
    response = sato.post(
        "/feedback", data={"case_id": "ESC-2026-0002", "verdict": "solved", "next": target}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/search"
    assert len(rows(app, activity.Feedback)) == 1


def test_health_tells_anonymous_callers_only_liveness(app):
    anonymous = app.test_client().get("/api/v1/health").get_json()
    assert (
        set(anonymous) == {"ok", "generation"}
        and anonymous["ok"] is True
        and anonymous["generation"]
    )
    support = signed_in(app, "sato").get("/api/v1/health").get_json()
    admin = signed_in(app, "mori").get("/api/v1/health").get_json()
    assert support["cases"] == len(WEB_WORLD) - 2 and admin["cases"] == len(
        WEB_WORLD
    )  # never the hidden ones


def test_the_gunicorn_access_log_format_omits_query_strings():
    from types import SimpleNamespace

    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    from webui import gunicorn_conf

    config = Config()
    config.set("accesslog", "-")
    config.set("access_log_format", gunicorn_conf.access_log_format)
    query = "q=password%3DHunter2xyz+tanaka%40hanamura-logi.co.jp"
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/search?{query}",
        "PATH_INFO": "/search",
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.1.2.3",
        "HTTP_USER_AGENT": "curl/8",
        "HTTP_REFERER": f"https://kb.example/search?{query}",
    }
    request = SimpleNamespace(
        headers=[("REFERER", environ["HTTP_REFERER"])],
        method="GET",
        uri=f"/search?{query}",
        path="/search",
        query=query,
        version=(1, 1),
    )
    response = SimpleNamespace(status="200 OK", response_length=10, sent=10, headers=[])
    from datetime import timedelta

    atoms = Logger(config).atoms(response, request, environ, timedelta(milliseconds=12))
    line = gunicorn_conf.access_log_format % atoms
    assert (
        '"GET /search HTTP/1.1" 200' in line
        and "Hunter2xyz" not in line
        and "tanaka" not in line
        and "?" not in line
    )


def test_migration_0005_gives_old_searches_a_token_and_redacts_them(tmp_path):
    from kb.migrate import pending_changes, upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0004")
    engine = create_engine(url)
    with engine.begin() as connection:
        for i, query in enumerate(("password=Hunter2xyz at login", "mail relay slow")):
            connection.execute(
                text(
                    "INSERT INTO search_log (created_at, text, lang, kind, filters, role, result_count, "
                    "keyword_match, latency_ms, generation, \"offset\", source) VALUES (:at, :text, '', '', "
                    ":filters, 'support', 1, 1, 1.0, NULL, 0, 'web')"
                ),
                {
                    "at": datetime(2026, 1, 1 + i, tzinfo=UTC),
                    "text": query,
                    "filters": '{"tag": ["sato@hanamura-logi.co.jp"]}',
                },
            )
    engine.dispose()
    upgrade(url)
    assert pending_changes(url) == []
    engine = create_engine(url)
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT text, filters, token, author FROM search_log ORDER BY id")
        ).all()
    engine.dispose()
    assert [r.text for r in found] == ["password=<SECRET> at login", "mail relay slow"]
    assert all(
        "<EMAIL>" in r.filters and r.author == "" and activity.valid_token(r.token) for r in found
    )
    assert found[0].token != found[1].token


def test_a_new_case_is_written_by_the_signed_in_engineer(app):
    page = signed_in(app, "kato").get("/new").get_data(as_text=True)
    assert re.search(r'name="authors"[^>]*value="kato"', page), "authors not the signed-in user"
