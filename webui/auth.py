"""Who is asking, for every request: a fixed local user, an API token, a trusted SSO proxy's
headers, or a login session. Unauthenticated requests get the login page (HTML) or 401 (API).

The identity is resolved once per request into ``g.identity``. A login session is a row in the
store named by a random id in the signed cookie: every request looks it up, so logout, a password
or role change and disabling the account end it at once, as do the idle timeout and the absolute
lifetime (settings ``session_idle_minutes``, ``session_lifetime_hours``).
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import Forbidden, Unauthorized
from werkzeug.wrappers import Response

from kb import accounts
from kb.accounts import Identity
from kb.errors import ConfigError
from kb.roles import highest_role
from kb.settings import Settings

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)
FIXED_ROLE_KEY = "KB_ROLE"  # Flask config set by tests and demos only: every request has this role
PUBLIC_ENDPOINTS = frozenset({"auth.login", "auth.login_post", "static", "api.health"})
SESSION_KEY = "sid"  # the login session's random id in the signed cookie
MAX_NEXT = 2000  # longest redirect target kept; a longer one is dropped (it would be encoded again in the login URL)


def auth_mode(app: Flask) -> str:
    settings: Settings = app.config["KB_SETTINGS"]
    mode = app.config.get("KB_AUTH_MODE") or settings.auth_mode
    return "accounts" if mode == "auto" else str(mode)


def _store() -> Any:
    return current_app.extensions["kb"].store


def _trusted(address: str | None, networks: str) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
        return any(
            ip in ipaddress.ip_network(n.strip(), strict=False)
            for n in networks.split(",")
            if n.strip()
        )
    except ValueError:
        return False


def role_from_groups(groups: str, role_map: str) -> str | None:
    """The highest role any of the groups maps to (``kb-admin=admin,...``); None without a match."""
    mapping = dict(
        pair.split("=", 1) for pair in (p.strip() for p in role_map.split(",")) if "=" in pair
    )
    roles = {mapping[g.strip()] for g in groups.split(",") if g.strip() in mapping}
    return highest_role(roles)


def _from_proxy(settings: Settings) -> Identity | None:
    name = request.headers.get(settings.proxy_user_header, "").strip().lower()
    if not name:
        return None
    if not _trusted(request.remote_addr, settings.proxy_trusted):
        log.warning(
            "ignored %s header from untrusted address %s",
            settings.proxy_user_header,
            request.remote_addr,
        )
        return None
    role = role_from_groups(
        request.headers.get(settings.proxy_groups_header, ""), settings.proxy_role_map
    )
    if role is None:
        raise Forbidden(
            "your account has no Escalation KB role (ask for one of the configured groups)"
        )
    account = accounts.active_identity(_store(), name)
    if account is None and name in {u["name"] for u in accounts.list_users(_store())}:
        raise Forbidden("this account is disabled")
    return Identity(name, role, "proxy")


def resolve_identity() -> Identity | None:
    """The caller of the current request, or None when nobody is authenticated."""
    settings: Settings = current_app.config["KB_SETTINGS"]
    fixed = current_app.config.get(FIXED_ROLE_KEY)
    if fixed:
        return Identity("local", str(fixed), "local")
    mode = auth_mode(current_app)
    if mode == "local":
        return Identity("local", settings.local_role, "local")
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        try:
            return accounts.verify_token(_store(), header[7:].strip())
        except accounts.AuthError as exc:
            raise Unauthorized(str(exc)) from None
    if mode == "proxy":
        identity = _from_proxy(settings)
        if identity is not None:
            return identity
    if (
        SESSION_KEY in session or "user" in session
    ):  # "user": a cookie from before sessions were stored
        identity = accounts.session_identity(
            _store(), session.get(SESSION_KEY), *session_limits(settings)
        )
        if identity is None:  # logged out, revoked, timed out, or the account was disabled
            session.clear()
            g.session_ended = True
        return identity
    return None


def session_limits(settings: Settings) -> tuple[timedelta, timedelta]:
    """The idle timeout and the absolute lifetime of a login session."""
    return timedelta(minutes=settings.session_idle_minutes), timedelta(
        hours=settings.session_lifetime_hours
    )


def _before_request() -> Response | None:
    g.identity = resolve_identity()
    if g.identity is not None or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if request.path.startswith("/api/"):
        raise Unauthorized(
            "authentication required: log in or send 'Authorization: Bearer <token>'"
        )
    return redirect(
        login_url(request.full_path.rstrip("?"), request.path, ended=bool(g.get("session_ended")))
    )


def login_url(full_path: str, path: str, ended: bool = False) -> str:
    """The login page, coming back to ``full_path`` afterwards, else to ``path`` alone when the
    whole is too long or unsafe, else to the default page (the Location header stays small)."""
    args: dict[str, Any] = {"ended": "1"} if ended else {}
    target = next((t for t in (full_path, path) if _same_site(t)), None)
    if target is not None and target != url_for("web.search"):
        args["next"] = target
    return url_for("auth.login", **args)


def _printable(text: str) -> bool:
    """No control, format or separator characters (tab, newline, NUL, DEL, C1, bidi marks...)."""
    return all(c == " " or c.isprintable() for c in text)


def _same_site(target: object) -> bool:
    if not isinstance(target, str) or not target or len(target) > MAX_NEXT:
        return False
    if (
        not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or not _printable(target)
    ):
        return False
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return False
    path = parts.path
    for _ in range(3):  # what a server or proxy that decodes the path would see
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    return not (path.startswith("//") or "\\" in path or not _printable(path))


def safe_next(target: object, default: str | None = None) -> str:
    """``target`` when it is a same-site path, else ``default`` (the search page): the one check for
    every redirect target taken from a request (login, feedback...), so none is an open redirect.

    Refused: anything but a string starting with a single "/", a scheme or network location,
    backslashes, control characters (tabs and newlines included, which browsers drop), a path
    that percent-decodes to any of these, and targets longer than ``MAX_NEXT`` characters."""
    if _same_site(target):
        return str(target)
    return default if default is not None else url_for("web.search")


@bp.get("/login")
def login() -> str:
    return render_template(
        "login.html",
        next=safe_next(request.args.get("next")),
        error=None,
        ended=request.args.get("ended") == "1",
    )


# the sign-in refusals a person sees, in the page's language (others are shown as raised)
LOGIN_ERRORS = {
    "wrong user name or password": "auth.wrong",
    "too many failed logins; try again in 15 minutes": "auth.throttled",
}


@bp.post("/login")
def login_post() -> Response | tuple[str, int]:
    name = request.form.get("name", "")
    try:
        identity = accounts.authenticate(
            _store(), name, request.form.get("password", ""), request.remote_addr or ""
        )
    except accounts.AuthError as exc:
        return render_template(
            "login.html",
            next=safe_next(request.form.get("next")),
            error=str(exc),
            error_key=LOGIN_ERRORS.get(str(exc)),
            name=name[:64],
        ), 401
    store = _store()
    settings: Settings = current_app.config["KB_SETTINGS"]
    accounts.prune_sessions(store, *session_limits(settings))
    session.clear()  # no session fixation: a fresh session for the new identity
    session[SESSION_KEY] = accounts.create_session(store, identity.name, request.remote_addr or "")
    session.permanent = True
    return redirect(safe_next(request.form.get("next")), code=303)


@bp.post("/logout")
def logout() -> Response:
    identity = g.get("identity")
    if identity is not None:
        accounts.audit(
            _store(), identity.name, identity.role, "logout", address=request.remote_addr or ""
        )
    accounts.end_session(_store(), session.get(SESSION_KEY))
    session.clear()
    return redirect(url_for("auth.login"), code=303)


def init_app(app: Flask) -> None:
    settings: Settings = app.config["KB_SETTINGS"]
    mode = auth_mode(app)
    app.config["PERMANENT_SESSION_LIFETIME"] = session_limits(settings)[1]
    app.config["SESSION_COOKIE_SECURE"] = (
        bool(settings.cookie_secure) and mode != "local" and not app.config.get(FIXED_ROLE_KEY)
    )
    if mode == "proxy" and not settings.proxy_trusted:
        raise ConfigError(
            ["auth_mode: proxy needs proxy_trusted: the addresses of the reverse proxies"]
        )
    app.register_blueprint(bp)
    app.before_request(_before_request)
