"""Who is asking: built-in accounts, API tokens and the audit log (library side; the web layer
and the CLI call these). Passwords are hashed with Argon2id (argon2-cffi); API tokens and login
sessions are random and stored only as SHA-256 digests (a token is shown once when created).

Password checks are throttled with counters reserved before the password is verified: at most
``LOCKOUT_FAILURES`` failed (or still running) checks per name in a window of ``LOCKOUT_WINDOW``,
whatever the address; an address with ``ADDRESS_FAILURES`` failures over all names in the window
is throttled for the names it has failed on only (one check for a name it has not failed on yet),
so a reverse proxy's address never locks everybody out."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    case,
    delete,
    literal,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, Session, mapped_column

from kb.errors import AccountError, AuthError
from kb.roles import ROLES
from kb.store import Base, Store

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10
LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
ADDRESS_FAILURES = 20  # failures from one address over all names before it is throttled
TOKEN_PREFIX = "kbt_"
SESSION_TOUCH = timedelta(minutes=1)  # a session's last-seen time is written at most this often
_hasher = PasswordHasher()
log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    """A stored time as UTC (SQLite gives naive datetimes back)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(256))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginSession(Base):
    """A signed-in browser: the cookie holds a random id, the store only its SHA-256 digest.

    Deleting the row ends the session at once (logout, password or role change, disable)."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=_now, index=True
    )
    address: Mapped[str] = mapped_column(String(64), default="")


class LoginThrottle(Base):
    """Failed or still running password checks per key in its current window.

    One row per name (``n:``), per name and address (``p:``) and per address (``a:``); a check is
    reserved by one conditional upsert per key before the password is verified, so parallel
    requests can never run more checks than the limit."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AuditEvent(Base):
    """Who did what, when: logins, failures, views of restricted cases, every write."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32), index=True)
    target: Mapped[str] = mapped_column(String(256), default="")
    address: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


@dataclass(frozen=True)
class Identity:
    """An authenticated caller."""

    name: str
    role: str
    via: str  # "password" | "token" | "proxy" | "local"


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError(f"unknown role '{role}' (roles: {', '.join(ROLES)})")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")


def add_user(store: Store, name: str, role: str, password: str | None) -> None:
    """Create an account (``password`` None: an SSO-only account that cannot log in with a password)."""
    if not NAME.match(name):
        raise AccountError(
            f"invalid user name '{name}' (lowercase letters, digits, '.', '_', '-'; 2-64 characters)"
        )
    _check_role(role)
    if password is not None:
        _check_password(password)
    with store.session() as session:
        if session.scalar(select(User).where(User.name == name)):
            raise AccountError(f"user '{name}' already exists")
        session.add(
            User(name=name, role=role, password_hash=_hasher.hash(password) if password else None)
        )


def set_password(store: Store, name: str, password: str) -> None:
    """Set a new password; every login session of the account ends at once."""
    _check_password(password)
    with store.session() as session:
        user = _user(session, name)
        user.password_hash = _hasher.hash(password)
        _end_user_sessions(session, user.id)


def set_role(store: Store, name: str, role: str) -> None:
    """Change an account's role; every login session of the account ends at once."""
    _check_role(role)
    with store.session() as session:
        user = _user(session, name)
        user.role = role
        _end_user_sessions(session, user.id)


def disable_user(store: Store, name: str) -> None:
    """Disable an account, end its login sessions and revoke its tokens, all at once."""
    with store.session() as session:
        user = _user(session, name)
        user.disabled = True
        _end_user_sessions(session, user.id)
        for token in session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        ):
            token.revoked_at = _now()


def list_users(store: Store) -> list[dict[str, Any]]:
    with store.session() as session:
        return [
            {
                "name": u.name,
                "role": u.role,
                "disabled": u.disabled,
                "password": u.password_hash is not None,
                "created_at": u.created_at,
                "last_login_at": u.last_login_at,
            }
            for u in session.scalars(select(User).order_by(User.name))
        ]


def active_identity(store: Store, name: str) -> Identity | None:
    """The current role of an enabled account (the SSO proxy path re-checks this on every request)."""
    with store.session() as session:
        user = session.scalar(select(User).where(User.name == name))
        return Identity(user.name, user.role, "password") if user and not user.disabled else None


def _user(session: Any, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise AccountError(f"no user '{name}'")
    return user


def _insert(session: Session) -> Any:
    """The dialect's INSERT with ON CONFLICT support (SQLite and PostgreSQL, the two supported stores)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _reserve(session: Session, key: str, limit: int, now: datetime) -> bool:
    """Count one more check against ``key`` unless it already has ``limit`` in its window.

    One statement, so it is atomic on SQLite (one writer at a time) and on PostgreSQL (the row
    lock makes a concurrent upsert re-check the condition against the committed count)."""
    table = LoginThrottle.__table__
    stale = table.c.window_start < literal(now - LOCKOUT_WINDOW, DateTime(timezone=True))
    stamp = literal(now, DateTime(timezone=True))
    statement = (
        _insert(session)(table)
        .values(key=key, failures=1, window_start=now)
        .on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "failures": case((stale, 1), else_=table.c.failures + 1),
                "window_start": case((stale, stamp), else_=table.c.window_start),
            },
            where=stale | (table.c.failures < limit),
        )
        .returning(table.c.key)
    )
    return session.execute(statement).first() is not None  # a row only when inserted or counted


def _failures(session: Session, key: str, now: datetime) -> int:
    row = session.get(LoginThrottle, key)
    if row is None or _aware(row.window_start) < now - LOCKOUT_WINDOW:
        return 0
    return row.failures


def _throttle_keys(name: str, address: str) -> tuple[str, str, str]:
    address = address[:64]
    return f"n:{name}", f"p:{name}\n{address}", f"a:{address}"


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _reserve_check(store: Store, name: str, address: str, now: datetime) -> None:
    """Reserve one password check for ``name`` from ``address``, or raise :class:`_Refused`.

    All counters change in one transaction (a refusal rolls every one back); the keys are always
    taken in the same order, so concurrent logins cannot deadlock."""
    name_key, pair_key, address_key = _throttle_keys(name, address)
    with store.session() as session:
        if not _reserve(session, name_key, LOCKOUT_FAILURES, now):
            raise _Refused("too many failures for this name")
        throttled = _failures(session, address_key, now) >= ADDRESS_FAILURES
        if not _reserve(session, pair_key, 1 if throttled else LOCKOUT_FAILURES, now):
            raise _Refused("address throttled" if throttled else "too many failures for this name")
        _reserve(session, address_key, 2**31 - 1, now)


def _release_check(store: Store, name: str, address: str, reserved_at: datetime) -> None:
    """A check that succeeded is not a failure: give its reservation back (same window only)."""
    with store.session() as session:
        for key in _throttle_keys(name, address):
            session.execute(
                update(LoginThrottle)
                .where(
                    LoginThrottle.key == key,
                    LoginThrottle.failures > 0,
                    LoginThrottle.window_start <= reserved_at,
                )
                .values(failures=LoginThrottle.failures - 1)
            )


def _prune_throttle(store: Store, now: datetime) -> None:
    """Forget counters whose window ended (best effort: a busy row is left for the next time)."""
    try:
        with store.session() as session:
            # rows a login is counting right now are skipped (PostgreSQL), so pruning never waits on one
            expired = (
                select(LoginThrottle.key)
                .where(LoginThrottle.window_start < now - 2 * LOCKOUT_WINDOW)
                .with_for_update(skip_locked=True)
            )
            session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(expired)))
    except DBAPIError as exc:  # e.g. a deadlock victim on PostgreSQL; nothing is lost
        log.info("login throttle pruning skipped: %s", exc.__class__.__name__)


def login_failures(
    store: Store, name: str, address: str = "", now: datetime | None = None
) -> dict[str, int]:
    """Failed (or running) password checks in the current window: per name, per name and address, per address."""
    now = now or _now()
    name = name.strip().lower()[:64]
    with store.session() as session:
        return dict(
            zip(
                ("name", "pair", "address"),
                (_failures(session, key, now) for key in _throttle_keys(name, address)),
            )
        )


def authenticate(store: Store, name: str, password: str, address: str = "") -> Identity:
    """Check a password login; failures are audited and, past a limit, refused without a check.

    Raises :class:`AuthError` for a wrong name or password and for a refused attempt."""
    name = name.strip().lower()[:64]
    now = _now()
    try:
        _reserve_check(store, name, address, now)
    except _Refused as refused:
        audit(
            store,
            name or "-",
            "-",
            "login_refused",
            address=address,
            detail={"reason": refused.reason},
        )
        raise AuthError("too many failed logins; try again in 15 minutes") from None
    with store.session() as session:
        user = session.scalar(select(User).where(User.name == name))
        ok = False
        if user is not None and not user.disabled and user.password_hash:
            try:
                ok = _hasher.verify(user.password_hash, password)
            except (VerificationError, InvalidHashError):
                ok = False
            if ok:
                user.last_login_at = _now()
                if _hasher.check_needs_rehash(user.password_hash):
                    user.password_hash = _hasher.hash(password)
        else:
            _hasher.hash(password or "x")  # same cost whether or not the account exists
        role = user.role if user is not None else "-"
    if not ok:
        audit(store, name or "-", role, "login_failed", address=address)
        _prune_throttle(store, now)
        raise AuthError("wrong user name or password")
    _release_check(store, name, address, now)
    audit(store, name, role, "login", address=address)
    return Identity(name, role, "password")


# -- login sessions ---------------------------------------------------------------------------


def _end_user_sessions(session: Session, user_id: int) -> None:
    session.execute(delete(LoginSession).where(LoginSession.user_id == user_id))


def create_session(store: Store, name: str, address: str = "") -> str:
    """A new login session for account ``name``; returns the random id for the cookie (stored hashed).

    Raises :class:`AccountError` for an unknown or disabled account."""
    token = secrets.token_urlsafe(32)
    with store.session() as session:
        user = _user(session, name)
        if user.disabled:
            raise AccountError(f"user '{name}' is disabled")
        session.add(LoginSession(user_id=user.id, token_hash=_digest(token), address=address[:64]))
    return token


def session_identity(
    store: Store,
    token: str | None,
    idle: timedelta,
    lifetime: timedelta,
    now: datetime | None = None,
) -> Identity | None:
    """The account behind a login session with its current role, or None when the session has ended.

    A session ends when it is logged out or revoked (password, role or account change), after
    ``idle`` without a request, ``lifetime`` after the login, or when the account is disabled."""
    if not isinstance(token, str) or not token or len(token) > 100:
        return None
    now = now or _now()
    with store.session() as session:
        row = session.execute(
            select(LoginSession.id, LoginSession.created_at, LoginSession.last_seen_at, User)
            .join(User, User.id == LoginSession.user_id)
            .where(LoginSession.token_hash == _digest(token))
        ).first()
        if row is None:
            return None
        session_id, created, seen, user = row
        created, seen = _aware(created), _aware(seen)
        if user.disabled or now - seen >= idle or now - created >= lifetime:
            session.execute(delete(LoginSession).where(LoginSession.id == session_id))
            return None
        if now - seen >= min(SESSION_TOUCH, idle / 10):
            session.execute(
                update(LoginSession).where(LoginSession.id == session_id).values(last_seen_at=now)
            )
        return Identity(user.name, user.role, "password")


def end_session(store: Store, token: str | None) -> None:
    """End one login session (logout); an unknown id is ignored."""
    if isinstance(token, str) and token:
        with store.session() as session:
            session.execute(delete(LoginSession).where(LoginSession.token_hash == _digest(token)))


def prune_sessions(
    store: Store, idle: timedelta, lifetime: timedelta, now: datetime | None = None
) -> int:
    """Delete sessions that ended by time (they are refused anyway); returns how many."""
    now = now or _now()
    try:
        with store.session() as session:
            result = session.execute(
                delete(LoginSession).where(
                    (LoginSession.last_seen_at <= now - idle)
                    | (LoginSession.created_at <= now - lifetime)
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)  # a DELETE's CursorResult
    except DBAPIError as exc:  # best effort, like the throttle pruning
        log.info("session pruning skipped: %s", exc.__class__.__name__)
        return 0


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(store: Store, name: str, label: str) -> str:
    """A new API token for user ``name``; the plain token is returned once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with store.session() as session:
        user = _user(session, name)
        if user.disabled:
            raise AccountError(f"user '{name}' is disabled")
        session.add(
            ApiToken(user_id=user.id, label=label[:128] or "token", token_hash=_digest(token))
        )
    return token


def list_tokens(store: Store) -> list[dict[str, Any]]:
    with store.session() as session:
        rows = session.execute(
            select(ApiToken, User.name)
            .join(User, User.id == ApiToken.user_id)
            .order_by(ApiToken.id)
        )
        return [
            {
                "id": t.id,
                "user": n,
                "label": t.label,
                "created_at": t.created_at,
                "last_used_at": t.last_used_at,
                "revoked": t.revoked_at is not None,
            }
            for t, n in rows
        ]


def revoke_token(store: Store, token_id: int) -> None:
    with store.session() as session:
        token = session.get(ApiToken, token_id)
        if token is None:
            raise AccountError(f"no token {token_id}")
        token.revoked_at = token.revoked_at or _now()


def verify_token(store: Store, token: str) -> Identity:
    """The identity behind a bearer token; revoked tokens and disabled users are refused."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise AuthError("invalid API token")
    with store.session() as session:
        row = session.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == _digest(token))
        ).first()
        if row is None or row[0].revoked_at is not None or row[1].disabled:
            raise AuthError("invalid API token")
        row[0].last_used_at = _now()
        return Identity(row[1].name, row[1].role, "token")


def audit(
    store: Store,
    actor: str,
    role: str,
    action: str,
    target: str = "",
    address: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit event."""
    with store.session() as session:
        session.add(
            AuditEvent(
                actor=actor[:64],
                role=role[:16],
                action=action[:32],
                target=target[:256],
                address=address[:64],
                detail=detail or {},
            )
        )


def audit_events(
    store: Store, limit: int = 200, actor: str | None = None, action: str | None = None
) -> list[dict[str, Any]]:
    """The newest audit events, optionally for one actor or action."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if action:
        query = query.where(AuditEvent.action == action)
    with store.session() as session:
        return [
            {
                "at": e.at,
                "actor": e.actor,
                "role": e.role,
                "action": e.action,
                "target": e.target,
                "address": e.address,
                "detail": e.detail,
            }
            for e in session.scalars(query)
        ]
