"""Login sessions that end (logout, password/role change, disable, idle timeout, absolute lifetime),
a login throttle that parallel requests cannot outrun and that an address cannot turn against
other accounts, and the one redirect-target check (``webui.auth.safe_next``)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from click.testing import CliRunner
from conftest import case_text
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select

from indexer.jobs import run_index
from kb import accounts
from kb.cli import main
from kb.migrate import open_store
from kb.store import Store
from webui import create_app
from webui.auth import MAX_NEXT, safe_next

PASSWORD = "correct horse battery staple"


# -- worlds ------------------------------------------------------------------------------------


@pytest.fixture
def site(settings, write_cases):
    """Settings with one indexed case and three accounts."""
    write_cases({"ESC-2026-0001.md": case_text()})
    assert run_index(settings).published
    store = open_store(settings)
    for name, role in (("sato", "support"), ("kato", "engineer"), ("mori", "admin")):
        accounts.add_user(store, name, role, PASSWORD)
    store.close()
    return settings.replace(cookie_secure=False)


@pytest.fixture
def app(site):
    app = create_app(site, test_config={"WTF_CSRF_ENABLED": False})
    yield app
    app.extensions["kb"].close()


@pytest.fixture
def store(store_url):
    """A bare store on SQLite and (with KB_TEST_DATABASE_URL) PostgreSQL, one account in it."""
    import kb.accounts  # noqa: F401  (the account tables)

    url = store_url
    s = Store(url, pool_size=20, max_overflow=60)
    s.create_schema()
    accounts.add_user(s, "kato", "engineer", PASSWORD)
    yield s
    s.close()


def login(
    client, name: str, password: str = PASSWORD, next_url: str = "/", address: str = "127.0.0.1"
):
    return client.post(
        "/login",
        data={"name": name, "password": password, "next": next_url},
        environ_base={"REMOTE_ADDR": address},
    )


def signed_in(app, name: str):
    client = app.test_client()
    assert login(client, name).status_code == 303
    return client


def copy_of(app, client):
    """Another browser holding a copy of ``client``'s session cookie (a stolen cookie)."""
    other = app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    return other


def is_signed_in(client) -> bool:
    page = client.get("/stats")
    if page.status_code == 200:
        return True
    assert page.status_code == 302 and page.headers["Location"].startswith("/login"), (
        page.status_code
    )
    assert client.get("/api/v1/search?q=mail").status_code == 401
    return False


class CountingHasher:
    """The real Argon2 hasher, counting password checks (a verification, or the dummy hash that
    stands in for one when the name does not exist)."""

    def __init__(self) -> None:
        self.inner = accounts._hasher
        self.verified = 0
        self.hashed = 0
        self.lock = threading.Lock()

    def verify(self, *args):
        with self.lock:
            self.verified += 1
        return self.inner.verify(*args)

    def hash(self, *args):
        with self.lock:
            self.hashed += 1
        return self.inner.hash(*args)

    def check_needs_rehash(self, *args):
        return self.inner.check_needs_rehash(*args)


@pytest.fixture
def hasher(monkeypatch) -> CountingHasher:
    counting = CountingHasher()
    monkeypatch.setattr(accounts, "_hasher", counting)
    return counting


def later(monkeypatch, delta: timedelta) -> None:
    """Move the accounts' clock forward (no sleeping)."""
    moment = datetime.now(UTC) + delta
    monkeypatch.setattr(accounts, "_now", lambda: moment)


# -- sessions end server-side ------------------------------------------------------------------


def test_a_copied_cookie_stops_working_after_logout(app):
    client = signed_in(app, "sato")
    stolen = copy_of(app, client)
    assert is_signed_in(stolen)
    assert client.post("/logout").status_code == 303
    assert not is_signed_in(stolen)
    assert not is_signed_in(client)


def test_a_password_change_from_the_cli_ends_every_session_of_that_user(app, site):
    first, second, other = signed_in(app, "kato"), signed_in(app, "kato"), signed_in(app, "sato")
    stolen = copy_of(app, first)
    env = {"KB_CASES_DIR": str(site.cases_dir), "KB_DATA_DIR": str(site.data_dir)}
    changed = CliRunner().invoke(
        main,
        ["user", "passwd", "kato", "--password-stdin"],
        input="a brand new password\n",
        env=env,
    )
    assert changed.exit_code == 0, changed.output
    assert not any(is_signed_in(c) for c in (first, second, stolen))
    assert is_signed_in(other)  # other accounts keep their sessions
    fresh = app.test_client()
    assert login(fresh, "kato", "a brand new password").status_code == 303 and is_signed_in(fresh)


def test_a_role_change_and_disabling_end_the_sessions(app):
    store = app.extensions["kb"].store
    engineer, admin = signed_in(app, "kato"), signed_in(app, "mori")
    accounts.set_role(store, "kato", "support")
    assert not is_signed_in(engineer)
    again = signed_in(app, "kato")
    assert again.get("/new").status_code == 403  # the new session has the new role
    accounts.disable_user(store, "mori")
    assert not is_signed_in(admin)
    assert login(app.test_client(), "mori").status_code == 401


def test_an_ended_session_gets_the_login_page_with_a_notice(app):
    client = signed_in(app, "sato")
    accounts.set_password(app.extensions["kb"].store, "sato", "another long password")
    response = client.get("/stats")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?")
    assert parse_qs(urlsplit(response.headers["Location"]).query) == {
        "ended": ["1"],
        "next": ["/stats"],
    }
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your session has ended" in page or "セッションが終了しました" in page
    assert (
        "session=;" in response.headers.get("Set-Cookie", "")
        or client.get_cookie("session") is None
    )


def test_the_idle_timeout_ends_a_quiet_session(app, site, monkeypatch):
    client = signed_in(app, "sato")
    later(monkeypatch, timedelta(minutes=site.session_idle_minutes) - timedelta(minutes=5))
    assert is_signed_in(client)  # still within the idle timeout; this request counts as activity
    later(monkeypatch, timedelta(minutes=2 * site.session_idle_minutes) - timedelta(minutes=10))
    assert is_signed_in(client)  # measured from the last request, not from the login
    later(monkeypatch, timedelta(minutes=3 * site.session_idle_minutes))
    assert not is_signed_in(client)


def test_the_absolute_lifetime_ends_even_a_busy_session(app, site, monkeypatch):
    client = signed_in(app, "sato")
    step = timedelta(minutes=site.session_idle_minutes - 1)
    moment = step
    while moment < timedelta(hours=site.session_lifetime_hours):
        later(monkeypatch, moment)
        assert is_signed_in(client), moment
        moment += step
    later(monkeypatch, timedelta(hours=site.session_lifetime_hours, minutes=1))
    assert not is_signed_in(client)
    assert app.permanent_session_lifetime == timedelta(hours=site.session_lifetime_hours)


def test_the_timeouts_are_settings(site, monkeypatch):
    app = create_app(
        site.replace(session_idle_minutes=5, session_lifetime_hours=1),
        test_config={"WTF_CSRF_ENABLED": False},
    )
    client = signed_in(app, "sato")
    later(monkeypatch, timedelta(minutes=6))
    assert not is_signed_in(client)
    app.extensions["kb"].close()
    from kb.errors import ConfigError

    with pytest.raises(ConfigError, match="session_idle_minutes: must be at least 1"):
        site.replace(session_idle_minutes=0)


def test_a_signed_cookie_naming_a_user_is_not_a_session(app):
    """Cookies of the old kind (the user name alone, signed) and forged or unknown session ids."""
    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie["user"] = "mori"
    assert not is_signed_in(client)
    for forged in ("x" * 43, "", "x" * 5000, 12345, ["a"]):
        client = app.test_client()
        with client.session_transaction() as cookie:
            cookie["sid"] = forged
        assert not is_signed_in(client), forged


def test_only_the_digest_of_a_session_id_is_stored(app):
    client = signed_in(app, "sato")
    with client.session_transaction() as cookie:
        sid = cookie["sid"]
    with app.extensions["kb"].store.session() as session:
        stored = session.scalars(select(accounts.LoginSession.token_hash)).all()
    assert len(sid) >= 40 and sid not in stored and accounts._digest(sid) in stored


def test_library_sessions(store):
    idle, lifetime = timedelta(hours=8), timedelta(days=7)
    token = accounts.create_session(store, "kato", "192.0.2.1")
    now = datetime.now(UTC)
    assert accounts.session_identity(store, token, idle, lifetime, now=now).role == "engineer"
    assert (
        accounts.session_identity(
            store, token, idle, lifetime, now=now + idle + timedelta(seconds=1)
        )
        is None
    )
    assert (
        accounts.session_identity(store, token, idle, lifetime, now=now) is None
    )  # an ended session stays ended
    token = accounts.create_session(store, "kato")
    assert accounts.prune_sessions(store, idle, lifetime, now=now + lifetime) == 1
    assert accounts.session_identity(store, token, idle, lifetime) is None
    with pytest.raises(accounts.AccountError, match="no user"):
        accounts.create_session(store, "nobody")


# -- the login throttle ------------------------------------------------------------------------


def _in_parallel(count: int, attempt) -> list:
    """Run ``attempt(i)`` in ``count`` threads released at the same moment."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        results[i] = attempt(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_parallel_wrong_passwords_through_the_login_form_get_only_the_allowed_checks(app, hasher):
    def attempt(i: int) -> str:
        response = login(app.test_client(), "kato", f"wrong password {i}")
        assert response.status_code == 401
        return "refused" if "15 分後に" in response.get_data(as_text=True) else "checked"

    results = _in_parallel(40, attempt)
    assert hasher.verified == accounts.LOCKOUT_FAILURES
    assert (
        results.count("checked") == accounts.LOCKOUT_FAILURES
        and results.count("refused") == 40 - accounts.LOCKOUT_FAILURES
    )
    assert "15 分後に" in login(app.test_client(), "kato").get_data(
        as_text=True
    )  # locked, even with the password (the Japanese page says so in Japanese)
    assert hasher.verified == accounts.LOCKOUT_FAILURES


def test_parallel_wrong_passwords_from_many_addresses_get_only_the_allowed_checks(store, hasher):
    def attempt(i: int) -> str:
        try:
            accounts.authenticate(store, "kato", "wrong password", f"198.51.100.{i % 40}")
        except accounts.AuthError as exc:
            return str(exc)
        return "in"

    results = _in_parallel(80, attempt)
    assert hasher.verified == accounts.LOCKOUT_FAILURES
    assert results.count("wrong user name or password") == accounts.LOCKOUT_FAILURES
    assert accounts.login_failures(store, "kato")["name"] == accounts.LOCKOUT_FAILURES


def test_a_successful_login_is_not_counted_as_a_failure(store, hasher):
    for _ in range(accounts.LOCKOUT_FAILURES - 1):
        with pytest.raises(accounts.AuthError, match="wrong"):
            accounts.authenticate(store, "kato", "wrong password", "192.0.2.7")
    for _ in range(3):
        assert accounts.authenticate(store, "kato", PASSWORD, "192.0.2.7").name == "kato"
    assert accounts.login_failures(store, "kato", "192.0.2.7") == {
        "name": 4,
        "pair": 4,
        "address": 4,
    }
    with pytest.raises(accounts.AuthError, match="wrong"):
        accounts.authenticate(store, "kato", "wrong password", "192.0.2.7")
    with pytest.raises(accounts.AuthError, match="too many"):
        accounts.authenticate(store, "kato", PASSWORD, "192.0.2.7")


def test_the_lockout_ends_with_its_window(store, monkeypatch):
    for _ in range(accounts.LOCKOUT_FAILURES):
        with pytest.raises(accounts.AuthError, match="wrong"):
            accounts.authenticate(store, "kato", "wrong password", "192.0.2.7")
    with pytest.raises(accounts.AuthError, match="too many"):
        accounts.authenticate(store, "kato", PASSWORD, "192.0.2.7")
    later(monkeypatch, accounts.LOCKOUT_WINDOW + timedelta(seconds=1))
    assert accounts.authenticate(store, "kato", PASSWORD, "192.0.2.7").name == "kato"


def test_failures_with_invented_names_do_not_lock_other_accounts_out_from_that_address(app, hasher):
    proxy = "10.0.0.1"  # behind a reverse proxy every user has this address
    for i in range(accounts.LOCKOUT_FAILURES):
        assert (
            login(app.test_client(), f"nobody{i}", "guess guess guess", address=proxy).status_code
            == 401
        )
    assert login(app.test_client(), "sato", address=proxy).status_code == 303
    assert hasher.hashed == accounts.LOCKOUT_FAILURES  # every invented name got its (dummy) check


def test_an_address_trying_many_names_is_throttled_for_those_names_only(store, hasher):
    attacker, elsewhere = "203.0.113.9", "192.0.2.50"
    for i in range(accounts.ADDRESS_FAILURES):
        with pytest.raises(accounts.AuthError, match="wrong"):
            accounts.authenticate(store, f"guess{i}", "password1234", attacker)
    checks = hasher.hashed + hasher.verified
    # a name it has failed on: refused from that address without a check, still open elsewhere
    with pytest.raises(accounts.AuthError, match="too many"):
        accounts.authenticate(store, "guess0", "password1234", attacker)
    assert hasher.hashed + hasher.verified == checks
    with pytest.raises(accounts.AuthError, match="wrong"):
        accounts.authenticate(store, "guess0", "password1234", elsewhere)
    # an account it has not failed on still logs in from that address (a colleague behind the proxy)
    assert accounts.authenticate(store, "kato", PASSWORD, attacker).name == "kato"
    # a new name gets a single check from the throttled address, then it is refused for it
    with pytest.raises(accounts.AuthError, match="wrong"):
        accounts.authenticate(store, "fresh-name", "password1234", attacker)
    with pytest.raises(accounts.AuthError, match="too many"):
        accounts.authenticate(store, "fresh-name", "password1234", attacker)
    assert [
        e["detail"]["reason"] for e in accounts.audit_events(store, action="login_refused")
    ] == ["address throttled"] * 2


def test_a_throttled_address_keeps_its_limit_under_parallel_requests(store, hasher):
    attacker = "203.0.113.10"
    for i in range(accounts.ADDRESS_FAILURES):
        with pytest.raises(accounts.AuthError):
            accounts.authenticate(store, f"guess{i}", "password1234", attacker)
    before = hasher.hashed

    def attempt(i: int) -> None:
        with pytest.raises(accounts.AuthError):
            accounts.authenticate(store, "another-name", f"password {i}", attacker)

    _in_parallel(20, attempt)
    assert hasher.hashed - before == 1


# -- redirects after login ---------------------------------------------------------------------

HOSTILE = [
    "/\t/evil.example/",
    "/\n/evil",
    "/\r\n/evil",
    "//evil",
    "//evil.example/x",
    "\\\\evil",
    "/\\evil",
    "\\/evil",
    "https://evil",
    "http:/evil",
    "HTTPS://evil.example",
    "/%09/evil",
    "/%0a/evil",
    "/%2F/evil",
    "/%2f%2fevil",
    "/%5cevil",
    "/%255c%255cevil",
    "javascript:alert(1)",
    " /evil",
    "\t/x",
    "/x\x00",
    "/x\x7f",
    "/\u0085/evil",
    "/\u202e/evil",
    "evil.example",
    "",
    "/" + "a" * (MAX_NEXT + 1),
    "/search?q=" + "%41" * 20000,
]
SAFE = [
    "/",
    "/stats",
    "/cases/ESC-2026-0001",
    "/search?q=mail%20stuck&product=tsumugi-server",
    "/search?q=%E3%83%A1%E3%83%BC%E3%83%AB",
    "/search?q=%0Aline2",
    "/stats?days=30#top",
    "/" + "a" * (MAX_NEXT - 1),
]


def _same_site(location: str) -> bool:
    """What a browser would do with the Location: drop tabs and newlines, then resolve it."""
    cleaned = "".join(c for c in location if c not in "\t\n\r").replace("\\", "/")
    parts = urlsplit(cleaned)
    return (
        not parts.scheme
        and not parts.netloc
        and cleaned.startswith("/")
        and not unquote(parts.path).startswith("//")
    )


def test_safe_next_refuses_every_hostile_target(app):
    with app.test_request_context():
        for target in HOSTILE:
            assert safe_next(target) == "/search", repr(target)
            assert safe_next(target, default="/stats") == "/stats", repr(target)
        for target in SAFE:
            assert safe_next(target) == target, target
        assert safe_next(None) == "/search" and safe_next(["/x"]) == "/search"


def test_login_never_redirects_off_site(app):
    for target in HOSTILE[:10]:
        response = app.test_client().post(
            "/login", data={"name": "sato", "password": PASSWORD, "next": target}
        )
        assert response.status_code == 303 and response.headers["Location"] == "/search", repr(
            target
        )
    page = (
        app.test_client()
        .get("/login", query_string={"next": "/\t/evil.example/"})
        .get_data(as_text=True)
    )
    assert (
        '<input type="hidden" name="next" value="/search">' in page
    )  # the form does not carry it on


@given(
    st.text(max_size=60)
    | st.builds(
        lambda a, b: a + b,
        st.sampled_from(["/", "//", "/%2f", "\\", "/\t/", "https:"]),
        st.text(max_size=30),
    )
)
@hsettings(max_examples=300, deadline=None)
def test_safe_next_only_ever_gives_a_same_site_path(target):
    from flask import Flask

    probe = Flask(__name__)
    probe.add_url_rule("/search", "web.search")
    with probe.test_request_context():
        result = safe_next(target)
    assert result == "/search" or (result == target and _same_site(result)), repr(target)


def test_a_huge_anonymous_url_yields_a_small_login_redirect(app):
    client = app.test_client()
    huge = "/search?q=" + "%E3%83%A1" * 6000  # 54 KB of an encoded Japanese query
    response = client.get(huge)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert len(location) < 4096 and location.startswith("/login")
    assert (
        len(location) <= len(client.get("/stats").headers["Location"]) + 20
    )  # only the path is kept
    assert parse_qs(urlsplit(location).query) == {}  # the path alone is the default page: no next
    long_path = client.get("/cases/" + "A" * 60000)  # a long path alone: no next at all
    assert long_path.status_code == 302 and len(long_path.headers["Location"]) < 100
    ordinary = client.get("/search?q=mail%20stuck&product=x").headers["Location"]
    assert parse_qs(urlsplit(ordinary).query) == {"next": ["/search?q=mail%20stuck&product=x"]}


def test_expired_counters_are_pruned_and_live_ones_kept(store, monkeypatch):
    with pytest.raises(accounts.AuthError):
        accounts.authenticate(store, "old-name", "password1234", "192.0.2.1")
    later(monkeypatch, 3 * accounts.LOCKOUT_WINDOW)
    with pytest.raises(accounts.AuthError):
        accounts.authenticate(store, "kato", "password1234", "192.0.2.2")
    with store.session() as session:
        keys = set(session.scalars(select(accounts.LoginThrottle.key)))
    assert keys == {"n:kato", "p:kato\n192.0.2.2", "a:192.0.2.2"}
