"""Access control, proven by attacking it: every role tries every route for what it may not see.

Real sign-in (accounts mode, login form, sessions, API tokens) and the SSO proxy mode.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from worlds import PASSWORD, WEB_LOG, WEB_WORLD, login, signed_in

from kb import accounts
from kb.errors import ConfigError
from kb.migrate import open_store
from kb.signatures import line_signatures
from webui import create_app

ENGINEERING_PHRASES = ("GLASS-HERON", "ESC-2026-0004", "heap dump of the indexer")
RESTRICTED_PHRASES = ("VELVET-OWL", "ESC-2026-0005", "tenant data exposure")
CASE_IDS = [name.removesuffix(".md") for name in WEB_WORLD]


@pytest.fixture
def app(accounts_app):
    """This module's app: the web world in accounts mode (conftest's ``accounts_app``, on ``world``)."""
    return accounts_app


def crawl(
    client, token: str | None = None, others: tuple[str, ...] = ()
) -> list[tuple[str, int, str]]:
    """Every route a user can reach, with every way to ask for another role's data (``others``:
    the tokens of another user's logged searches, as if a link had been passed on)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    out = []

    def get(url: str) -> None:
        response = client.get(url, headers=headers)
        out.append((url, response.status_code, response.get_data(as_text=True)))

    # queries that would find the hidden cases (their words, not their codenames: the user's own
    # query text is echoed back, so it must not contain what is checked for)
    for phrase in (
        "tenant export rows",
        "Missing tenant filter hotfix",
        "indexer dies OutOfMemoryError nightly",
        "Stream attachments memory",
        "error",
        "mail",
    ):
        get(f"/search?q={quote(phrase)}")
        get(f"/search?q={quote(phrase)}&visibility=restricted")
        get(f"/api/v1/search?q={quote(phrase)}&limit=50")
    for cid in CASE_IDS:
        get(f"/cases/{cid}")
        get(f"/api/v1/cases/{cid}")
        get(f"/api/v1/cases/{cid}/similar?limit=20")
        get(f"/cases/{cid}/edit")
        get(f"/cases/{cid}/history")
        get(f"/api/v1/cases/{cid}/history")
    for path in (
        "/",
        "/stats",
        "/stats?days=365",
        "/new",
        "/admin/audit",
        "/api/v1/health",
        "/trends",
        "/trends?window=week",
        "/api/v1/trends?window=week",
        "/api/v1/trends?window=hour&role=admin",
    ):
        get(path)
    # signature pages: a visible case's log line, a line in the hidden cases' words, a malformed id
    for sig in [
        sig
        for sig, _ in line_signatures(
            f"{WEB_LOG}\n2026-03-02 10:15:07 ERROR [exec-1] Export returned another tenant's rows"
        )
    ] + ["l0"]:
        get(f"/signatures/{sig}")
        get(f"/api/v1/signatures/{sig}")
        get(f"/new?signature={sig}")
    for sid in range(1, 40):  # other people's logged searches
        get(f"/search?sid={sid}")
        get(f"/cases/ESC-2026-0001?sid={sid}")
    for other in others:  # another user's searches, their tokens passed on
        get(f"/search?sid={other}")
        get(f"/cases/ESC-2026-0001?sid={other}")
    draft = {
        "fields": {"title": "tenant rows returned by export; indexer nightly crash"},
        "sections": {"symptoms": "Export returned another tenant's rows, OutOfMemoryError"},
    }
    for path, body in (
        ("/api/v1/drafts/check", draft),
        ("/api/v1/drafts/redact", draft),
        ("/api/v1/drafts/check", {**draft, "original_id": "ESC-2026-0005"}),
        ("/api/v1/drafts/check", {**draft, "original_id": "ESC-2026-0004"}),
        ("/api/v1/feedback", {"verdict": "solved", "case_id": "ESC-2026-0005"}),
    ):
        response = client.post(
            path, json=body, headers=headers
        )  # what the caller sent counts as their own words
        out.append(
            (f"{path} {json.dumps(body)}", response.status_code, response.get_data(as_text=True))
        )
    for cid in CASE_IDS:
        response = client.post(
            "/clicks", data={"search_id": "1", "case_id": cid, "rank": "1"}, headers=headers
        )
        out.append((f"/clicks {cid}", response.status_code, response.get_data(as_text=True)))
    return out


def admin_search_tokens(world) -> tuple[str, ...]:
    from sqlalchemy import select

    from kb.activity import SearchLog

    store = open_store(world[0])
    try:
        with store.session() as session:
            return tuple(session.scalars(select(SearchLog.token).where(SearchLog.author == "mori")))
    finally:
        store.close()


def _admin_searches_first(app) -> None:
    admin = signed_in(app, "mori")
    for phrase in (
        "VELVET-OWL",
        "GLASS-HERON tenant data exposure",
    ):  # logged searches a lower role must never see
        admin.get(f"/search?q={quote(phrase)}")
        admin.get(f"/api/v1/search?q={quote(phrase)}")
    admin.get("/cases/ESC-2026-0005")
    admin.post("/feedback", data={"verdict": "solved", "case_id": "ESC-2026-0005", "next": "/"})


@pytest.mark.parametrize(
    "name,forbidden",
    [("sato", ENGINEERING_PHRASES + RESTRICTED_PHRASES), ("kato", RESTRICTED_PHRASES)],
)
def test_no_route_reveals_what_the_role_may_not_see(app, world, name, forbidden):
    _admin_searches_first(app)
    role = {"sato": "support", "kato": "engineer"}[name]
    others = admin_search_tokens(world)
    assert others  # the admin's searches were logged
    for client, token in ((signed_in(app, name), None), (app.test_client(), world[1][role])):
        for url, status, body in crawl(client, token, others):
            assert status < 500, (url, status)
            hidden_id = next(
                (p for p in forbidden if p.startswith("ESC-") and f"/cases/{p}" in url), None
            )
            if (
                hidden_id
            ):  # asking for a hidden case by id: not found, exactly like an id that does not exist
                assert status in (403, 404), (name, url, status)
            for phrase in forbidden:
                if (
                    phrase not in url
                ):  # the caller's own words in the URL are echoed back, nothing else
                    assert phrase not in body, (name, url, phrase)


def test_admin_sees_everything_and_restricted_views_are_audited(app):
    admin = signed_in(app, "mori")
    assert "VELVET-OWL" in admin.get("/cases/ESC-2026-0005").get_data(as_text=True)
    assert admin.get("/api/v1/cases/ESC-2026-0005").status_code == 200
    audit = admin.get("/admin/audit").get_data(as_text=True)
    assert audit.count("view_restricted") == 2 and "ESC-2026-0005" in audit and "mori" in audit
    assert re.search(r">login<", audit)


def test_support_is_refused_the_editor_and_the_audit_log(app):
    support = signed_in(app, "sato")
    assert support.get("/new").status_code == 403
    assert support.get("/cases/ESC-2026-0001/edit").status_code == 403
    assert support.get("/admin/audit").status_code == 403
    assert signed_in(app, "kato").get("/admin/audit").status_code == 403


def test_anonymous_requests_are_sent_to_login_or_refused(app):
    client = app.test_client()
    for path in ("/", "/search?q=mail", "/cases/ESC-2026-0001", "/stats", "/new", "/admin/audit"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), (
            path
        )
    for path in (
        "/api/v1/search?q=mail",
        "/api/v1/cases/ESC-2026-0001",
        "/api/v1/cases/ESC-2026-0001/similar",
    ):
        response = client.get(path)
        assert response.status_code == 401 and response.get_json()["ok"] is False, path
    assert client.post("/api/v1/feedback", json={"verdict": "solved"}).status_code == 401
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/login").status_code == 200


def test_login_logout_and_open_redirects(app):
    client = app.test_client()
    assert login(client, "sato", "wrong password!!").status_code == 401
    response = client.post(
        "/login", data={"name": "sato", "password": PASSWORD, "next": "https://evil.example/x"}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/search"
    response = client.post(
        "/login", data={"name": "sato", "password": PASSWORD, "next": "//evil.example"}
    )
    assert response.headers["Location"] == "/search"
    assert client.get("/stats").status_code == 200
    client.post("/logout")
    assert client.get("/stats").status_code == 302


def test_repeated_failures_lock_the_account(app):
    client = app.test_client()
    for _ in range(accounts.LOCKOUT_FAILURES):
        assert login(client, "kato", "not the password").status_code == 401
    page = login(client, "kato")
    assert page.status_code == 401 and "15 分後にもう一度" in page.get_data(as_text=True)


def test_refusals_are_said_in_the_pages_language(app):
    ja = app.test_client()
    assert "ユーザー名またはパスワードが違います" in login(ja, "kato", "nope").get_data(
        as_text=True
    )
    en = app.test_client()
    en.set_cookie("lang", "en")
    assert "wrong user name or password" in login(en, "kato", "nope").get_data(as_text=True)
    login(ja, "sato")
    missing = ja.get("/no-such-page")
    assert missing.status_code == 404
    assert "このアドレスのページはありません" in missing.get_data(as_text=True)
    assert "The requested URL was not found" not in missing.get_data(as_text=True)


def test_disabling_a_user_ends_the_session_and_tokens(app, world):
    client = signed_in(app, "kato")
    token = world[1]["engineer"]
    assert client.get("/stats").status_code == 200
    assert (
        app.test_client()
        .get("/api/v1/health", headers={"Authorization": f"Bearer {token}"})
        .status_code
        == 200
    )
    accounts.disable_user(app.extensions["kb"].store, "kato")
    assert client.get("/stats").status_code == 302
    assert (
        app.test_client()
        .get("/api/v1/search?q=x", headers={"Authorization": f"Bearer {token}"})
        .status_code
        == 401
    )


def test_bad_tokens_are_401(app):
    client = app.test_client()
    for value in ("Bearer nope", "Bearer kbt_forged", "Bearer " + "x" * 500):
        response = client.get("/api/v1/search?q=mail", headers={"Authorization": value})
        assert response.status_code == 401 and response.get_json()["status"] == 401


def test_session_cookie_flags(world):
    settings, _ = world
    app = create_app(settings.replace(cookie_secure=True), test_config={"WTF_CSRF_ENABLED": False})
    client = app.test_client()
    response = client.post(
        "/login", data={"name": "sato", "password": PASSWORD}, base_url="https://kb.example"
    )
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    app.extensions["kb"].close()


def test_csrf_protects_login_and_every_form(world):
    settings, _ = world
    app = create_app(settings)
    client = app.test_client()
    assert login(client, "sato").status_code == 400  # no CSRF token
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    ok = client.post("/login", data={"name": "sato", "password": PASSWORD, "csrf_token": token})
    assert ok.status_code == 303
    assert (
        client.post("/feedback", data={"verdict": "solved", "case_id": "ESC-2026-0001"}).status_code
        == 400
    )
    assert client.post("/logout").status_code == 400
    app.extensions["kb"].close()


def test_path_traversal_through_ids_is_refused(app):
    admin = signed_in(app, "mori")
    for bad in (
        "..%2F..%2Fetc%2Fpasswd",
        "..%2Fkb-data%2Fkb.sqlite3",
        "%2e%2e%2f%2e%2e%2fREADME",
        "ESC-2026-0001%00.md",
        "x" * 300,
    ):
        assert admin.get(f"/cases/{bad}").status_code == 404, bad
        assert admin.get(f"/api/v1/cases/{bad}").status_code == 404, bad
        assert admin.get(f"/cases/{bad}/edit").status_code in (404, 400), bad
    draft = {
        "fields": {
            "id": "../../etc/cron.d/evil",
            "title": "x",
            "status": "resolved",
            "product": "p",
            "component": "c",
            "visibility": "support",
            "created": "2026-01-01",
        },
        "sections": {"symptoms": "x", "cause": "y", "resolution": "z"},
    }
    assert admin.post(
        "/new", data={"action": "save", "id": "../../etc/cron.d/evil", "title": "x"}
    ).status_code in (400, 422)
    assert admin.post("/api/v1/drafts/check", json=draft).status_code in (200, 400, 422)
    assert not list(app.config["KB_SETTINGS"].cases_dir.parent.rglob("evil*"))


def test_error_pages_leak_no_internals(app, monkeypatch):
    admin = signed_in(app, "mori")
    from webui import service

    def boom(*args, **kwargs):
        raise RuntimeError("secret internal detail /srv/kb/data")

    monkeypatch.setattr(service, "run_search", boom)
    for url in ("/search?q=mail", "/api/v1/search?q=mail"):
        response = admin.get(url)
        body = response.get_data(as_text=True)
        assert (
            response.status_code == 500
            and "secret internal detail" not in body
            and "Traceback" not in body
        )


@given(st.text(max_size=300))
@hsettings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_arbitrary_query_text_never_500(app, text):
    client = app.test_client()
    client.post("/login", data={"name": "sato", "password": PASSWORD})
    for response in (
        client.get("/api/v1/search", query_string={"q": text}),
        client.get("/search", query_string={"q": text}),
        client.get("/api/v1/search", query_string={"q": "mail", "from": text}),
        client.get("/api/v1/search", query_string={"q": "mail", "limit": text}),
    ):
        assert response.status_code < 500, (text, response.status_code)


# -- the SSO reverse proxy ----------------------------------------------------------------------------


@pytest.fixture
def proxy_app(world):
    settings, _ = world
    app = create_app(
        settings.replace(auth_mode="proxy", proxy_trusted="127.0.0.1"),
        test_config={"WTF_CSRF_ENABLED": False},
    )
    yield app
    app.extensions["kb"].close()


def _as_proxy(app, user: str, groups: str, address: str = "127.0.0.1"):
    return app.test_client().get(
        "/api/v1/search?q=VELVET-OWL",
        headers={"X-Forwarded-User": user, "X-Forwarded-Groups": groups},
        environ_base={"REMOTE_ADDR": address},
    )


def test_proxy_headers_from_the_trusted_proxy_set_the_role(proxy_app):
    admin = _as_proxy(proxy_app, "yamada", "staff,kb-admin")
    assert admin.status_code == 200 and any(
        h["id"] == "ESC-2026-0005" for h in admin.get_json()["hits"]
    )
    support = _as_proxy(proxy_app, "suzuki", "kb-support")
    assert support.status_code == 200 and all(
        h["id"] != "ESC-2026-0005" for h in support.get_json()["hits"]
    )
    assert _as_proxy(proxy_app, "nobody", "staff").status_code == 403


def test_proxy_headers_from_elsewhere_are_ignored(proxy_app):
    spoofed = _as_proxy(proxy_app, "yamada", "kb-admin", address="203.0.113.50")
    assert spoofed.status_code == 401


def test_proxy_respects_disabled_accounts(proxy_app):
    accounts.disable_user(proxy_app.extensions["kb"].store, "mori")
    assert _as_proxy(proxy_app, "mori", "kb-admin").status_code == 403


def test_proxy_mode_needs_trusted_addresses(world):
    settings, _ = world
    with pytest.raises(ConfigError, match="proxy_trusted") as error:
        create_app(settings.replace(auth_mode="proxy"))
    assert error.value.status == 500  # the server's configuration, not the user's mistake


def test_role_from_groups():
    from webui.auth import role_from_groups

    mapping = "kb-admin=admin,kb-engineer=engineer,kb-support=support"
    assert role_from_groups("kb-support, kb-engineer", mapping) == "engineer"
    assert role_from_groups("kb-admin", mapping) == "admin"
    assert role_from_groups("", mapping) is None and role_from_groups("kb-adminx", mapping) is None


def test_an_editor_never_sees_nor_loses_related_cases_above_their_role(app, world):
    engineer = signed_in(app, "kato")
    form = engineer.get("/cases/ESC-2026-0001/edit").get_data(as_text=True)
    assert "ESC-2026-0005" not in form and "ESC-2026-0003" in form
    base = re.search(r'name="base_hash" value="([0-9a-f]+)"', form).group(1)
    fields = dict(re.findall(r'<input[^>]*name="([a-z_]+)"[^>]*value="([^"]*)"', form))
    fields.update(
        {
            name: text
            for name, text in re.findall(
                r'<textarea[^>]*name="([a-z_]+)"[^>]*>\n?([^<]*)</textarea>', form
            )
        }
    )
    fields.update(
        {"action": "save", "base_hash": base, "visibility": "support", "status": "resolved"}
    )
    saved = engineer.post("/cases/ESC-2026-0001/edit", data=fields)
    assert saved.status_code in (302, 303), saved.get_data(as_text=True)[:2000]
    text = (world[0].cases_dir / "ESC-2026-0001.md").read_text("utf-8")
    assert "related: [ESC-2026-0005, ESC-2026-0003]" in text
    assert "case_edit" in signed_in(app, "mori").get("/admin/audit").get_data(as_text=True)
