"""Who is asking: built-in accounts, API tokens and the audit log (library side; the web layer
and the CLI call these). Passwords are hashed with Argon2id (argon2-cffi); API tokens are random
and stored only as SHA-256 digests, shown once when created."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from kb.errors import KBError
from kb.store import Base, Store

ROLES = ("support", "engineer", "admin")
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10
LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
TOKEN_PREFIX = "kbt_"
_hasher = PasswordHasher()


def _now() -> datetime:
    return datetime.now(timezone.utc)


class AuthError(KBError):
    """Wrong name, password or token; deliberately vague so it does not tell which."""

    status = 401


class AccountError(KBError):
    """A bad account-management request (unknown role, weak password, duplicate name...)."""

    status = 400


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
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
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
        raise AccountError(f"invalid user name '{name}' (lowercase letters, digits, '.', '_', '-'; 2-64 characters)")
    _check_role(role)
    if password is not None:
        _check_password(password)
    with store.session() as session:
        if session.scalar(select(User).where(User.name == name)):
            raise AccountError(f"user '{name}' already exists")
        session.add(User(name=name, role=role, password_hash=_hasher.hash(password) if password else None))


def set_password(store: Store, name: str, password: str) -> None:
    _check_password(password)
    with store.session() as session:
        user = _user(session, name)
        user.password_hash = _hasher.hash(password)


def set_role(store: Store, name: str, role: str) -> None:
    _check_role(role)
    with store.session() as session:
        _user(session, name).role = role


def disable_user(store: Store, name: str) -> None:
    """Disable an account and revoke its tokens; its sessions end on their next request."""
    with store.session() as session:
        user = _user(session, name)
        user.disabled = True
        for token in session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))):
            token.revoked_at = _now()


def list_users(store: Store) -> list[dict[str, Any]]:
    with store.session() as session:
        return [{"name": u.name, "role": u.role, "disabled": u.disabled, "password": u.password_hash is not None,
                 "created_at": u.created_at, "last_login_at": u.last_login_at}
                for u in session.scalars(select(User).order_by(User.name))]


def active_identity(store: Store, name: str) -> Identity | None:
    """The current role of an enabled account (sessions re-check this on every request)."""
    with store.session() as session:
        user = session.scalar(select(User).where(User.name == name))
        return Identity(user.name, user.role, "password") if user and not user.disabled else None


def _user(session: Any, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise AccountError(f"no user '{name}'")
    return user


def recent_failures(store: Store, name: str, address: str, now: datetime | None = None) -> int:
    """Failed logins for this name or from this address within the lockout window."""
    since = (now or _now()) - LOCKOUT_WINDOW
    with store.session() as session:
        return int(session.scalar(select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "login_failed", AuditEvent.at >= since,
            (AuditEvent.actor == name) | (AuditEvent.address == address))) or 0)


def authenticate(store: Store, name: str, password: str, address: str = "") -> Identity:
    """Check a password login; failures are audited and, past a limit, refused outright."""
    name = name.strip().lower()[:64]
    if recent_failures(store, name, address) >= LOCKOUT_FAILURES:
        audit(store, name or "-", "-", "login_refused", address=address, detail={"reason": "too many failures"})
        raise AuthError("too many failed logins; try again in 15 minutes")
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
        raise AuthError("wrong user name or password")
    audit(store, name, role, "login", address=address)
    return Identity(name, role, "password")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(store: Store, name: str, label: str) -> str:
    """A new API token for user ``name``; the plain token is returned once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with store.session() as session:
        user = _user(session, name)
        if user.disabled:
            raise AccountError(f"user '{name}' is disabled")
        session.add(ApiToken(user_id=user.id, label=label[:128] or "token", token_hash=_digest(token)))
    return token


def list_tokens(store: Store) -> list[dict[str, Any]]:
    with store.session() as session:
        rows = session.execute(select(ApiToken, User.name).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id))
        return [{"id": t.id, "user": n, "label": t.label, "created_at": t.created_at, "last_used_at": t.last_used_at,
                 "revoked": t.revoked_at is not None} for t, n in rows]


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
        row = session.execute(select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                              .where(ApiToken.token_hash == _digest(token))).first()
        if row is None or row[0].revoked_at is not None or row[1].disabled:
            raise AuthError("invalid API token")
        row[0].last_used_at = _now()
        return Identity(row[1].name, row[1].role, "token")


def audit(store: Store, actor: str, role: str, action: str, target: str = "", address: str = "",
          detail: dict[str, Any] | None = None) -> None:
    """Append one audit event."""
    with store.session() as session:
        session.add(AuditEvent(actor=actor[:64], role=role[:16], action=action[:32], target=target[:256],
                               address=address[:64], detail=detail or {}))


def audit_events(store: Store, limit: int = 200, actor: str | None = None, action: str | None = None) -> list[dict[str, Any]]:
    """The newest audit events, optionally for one actor or action."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if action:
        query = query.where(AuditEvent.action == action)
    with store.session() as session:
        return [{"at": e.at, "actor": e.actor, "role": e.role, "action": e.action, "target": e.target,
                 "address": e.address, "detail": e.detail} for e in session.scalars(query)]
