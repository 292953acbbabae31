from datetime import timedelta

import pytest
from click.testing import CliRunner

from kb.accounts import (
    AccountError,
    AuthError,
    active_identity,
    add_user,
    audit_events,
    authenticate,
    create_session,
    create_token,
    disable_user,
    list_tokens,
    revoke_token,
    session_identity,
    set_password,
    verify_token,
)
from kb.cli import main
from kb.migrate import open_store


@pytest.fixture
def store(settings):
    s = open_store(settings)
    yield s
    s.close()


def test_password_login_and_hashing(store):
    add_user(store, "sato", "support", "correct horse battery")
    identity = authenticate(store, "sato", "correct horse battery", "127.0.0.1")
    assert (identity.name, identity.role, identity.via) == ("sato", "support", "password")
    with pytest.raises(AuthError, match="wrong user name or password"):
        authenticate(store, "sato", "wrong password!!", "127.0.0.1")
    with pytest.raises(AuthError, match="wrong user name or password"):
        authenticate(store, "nobody", "whatever123", "127.0.0.1")
    from sqlalchemy import select

    from kb.accounts import User

    with store.session() as session:
        stored = session.scalar(select(User.password_hash).where(User.name == "sato"))
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    actions = [e["action"] for e in audit_events(store)]
    assert actions[:3] == ["login_failed", "login_failed", "login"]


def test_account_rules(store):
    with pytest.raises(AccountError, match="unknown role"):
        add_user(store, "a1", "root", "long enough pw")
    with pytest.raises(AccountError, match="at least 10"):
        add_user(store, "a1", "admin", "short")
    with pytest.raises(AccountError, match="invalid user name"):
        add_user(store, "Bad Name", "admin", "long enough pw")
    add_user(store, "a1", "admin", "long enough pw")
    with pytest.raises(AccountError, match="already exists"):
        add_user(store, "a1", "support", "long enough pw")
    add_user(store, "sso-user", "engineer", None)
    with pytest.raises(AuthError):
        authenticate(store, "sso-user", "", "10.0.0.1")


def test_lockout_after_repeated_failures(store):
    add_user(store, "kato", "engineer", "correct horse battery")
    for _ in range(5):
        with pytest.raises(AuthError):
            authenticate(store, "kato", "nope nope nope", "192.0.2.9")
    with pytest.raises(AuthError, match="too many failed logins"):
        authenticate(store, "kato", "correct horse battery", "192.0.2.9")
    # from another address the account is locked too (failures are counted per name as well)
    with pytest.raises(AuthError, match="too many"):
        authenticate(store, "kato", "correct horse battery", "198.51.100.1")


def test_disable_ends_sessions_and_tokens(store):
    add_user(store, "ito", "engineer", "correct horse battery")
    token = create_token(store, "ito", "ci")
    sid = create_session(store, "ito")
    assert (
        verify_token(store, token).role == "engineer"
        and active_identity(store, "ito").role == "engineer"
    )
    assert session_identity(store, sid, timedelta(hours=8), timedelta(days=7)).role == "engineer"
    disable_user(store, "ito")
    assert active_identity(store, "ito") is None
    assert session_identity(store, sid, timedelta(hours=8), timedelta(days=7)) is None
    with pytest.raises(AccountError, match="disabled"):
        create_session(store, "ito")
    with pytest.raises(AuthError):
        verify_token(store, token)
    with pytest.raises(AuthError):
        authenticate(store, "ito", "correct horse battery")


def test_tokens_are_hashed_and_revocable(store):
    add_user(store, "bot", "support", None)
    token = create_token(store, "bot", "nightly export")
    assert token.startswith("kbt_") and len(token) > 40
    listed = list_tokens(store)
    assert listed[0]["label"] == "nightly export" and token not in str(listed)
    revoke_token(store, listed[0]["id"])
    with pytest.raises(AuthError):
        verify_token(store, token)
    for bad in ("", "kbt_", "Bearer x", "kbt_" + "a" * 300):
        with pytest.raises(AuthError):
            verify_token(store, bad)


def test_password_change(store):
    add_user(store, "mori", "admin", "first password 1")
    sid = create_session(store, "mori")
    set_password(store, "mori", "second password 2")
    assert session_identity(store, sid, timedelta(hours=8), timedelta(days=7)) is None
    with pytest.raises(AuthError):
        authenticate(store, "mori", "first password 1")
    assert authenticate(store, "mori", "second password 2").role == "admin"


def test_cli_user_and_token_commands(settings):
    runner = CliRunner()
    env = {"KB_CASES_DIR": str(settings.cases_dir), "KB_DATA_DIR": str(settings.data_dir)}
    added = runner.invoke(
        main,
        ["user", "add", "suzuki", "--role", "engineer", "--password-stdin"],
        input="a good long password\n",
        env=env,
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(main, ["user", "list"], env=env)
    assert "suzuki" in listed.output and "engineer" in listed.output
    created = runner.invoke(main, ["token", "create", "suzuki", "--label", "script"], env=env)
    token = created.output.strip()
    assert token.startswith("kbt_")
    assert token not in runner.invoke(main, ["token", "list"], env=env).output
    store = open_store(settings)
    sid = create_session(store, "suzuki")
    role = runner.invoke(main, ["user", "role", "suzuki", "support"], env=env)
    assert role.exit_code == 0 and "support" in role.output, role.output
    assert (
        session_identity(store, sid, timedelta(hours=8), timedelta(days=7)) is None
    )  # the role change ended it
    assert "support" in runner.invoke(main, ["user", "list"], env=env).output
    assert runner.invoke(main, ["user", "role", "nobody", "admin"], env=env).exit_code == 2
    store.close()
    assert runner.invoke(main, ["user", "disable", "suzuki"], env=env).exit_code == 0
    assert "revoked" in runner.invoke(main, ["token", "list"], env=env).output
    audit = runner.invoke(main, ["audit"], env=env).output
    assert (
        "user_add" in audit
        and "token_create" in audit
        and "user_disable" in audit
        and "user_role" in audit
    )
    bad = runner.invoke(
        main,
        ["user", "add", "x y", "--role", "admin", "--password-stdin"],
        input="a good long password\n",
        env=env,
    )
    assert bad.exit_code == 2 and "invalid user name" in bad.output
