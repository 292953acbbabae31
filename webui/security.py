"""Per-request plumbing: security headers, the UI language and what every template can use."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, g, request, url_for

from webui import access
from webui.i18n import LANG_COOKIE, LANGS, choose_language, translate
from webui.params import LONG_QUERY_URL_CHARS

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # search text in URLs never leaves the site
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
LANG_COOKIE_AGE = 365 * 24 * 3600
NEW_CASE_TITLE_CHARS = 120


def ui_lang() -> str:
    """The language of the current request (chosen once per request, also for errors raised before it)."""
    if "lang" not in g:
        _pick_language()
    return str(g.lang)


def t(key: str, **values: Any) -> str:
    """A UI string in the current request's language."""
    return translate(key, ui_lang(), **values)


def lang_url(code: str) -> str:
    """The current page in another UI language (a page answering a POST names its GET form in ``g.lang_args``)."""
    current = g.lang_args if "lang_args" in g else list(request.args.items(multi=True))
    args = [(k, v) for k, v in current if k != "lang"] + [("lang", code)]
    return f"{request.path}?{urlencode(args)}"


def new_case_url(title: str) -> str:
    """Where "start a case from this" leads: the case editor with the text as the title."""
    return url_for("editor.new_case", title=" ".join(title.split())[:NEW_CASE_TITLE_CHARS])


def _pick_language() -> None:
    g.lang = choose_language(
        request.args.get("lang"), request.cookies.get(LANG_COOKIE), request.accept_languages
    )


def _finish(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    wanted = request.args.get("lang")
    if wanted in LANGS and request.cookies.get(LANG_COOKIE) != wanted:
        response.set_cookie(
            LANG_COOKIE, wanted, max_age=LANG_COOKIE_AGE, samesite="Lax", httponly=True
        )
    return response


def _template_globals() -> dict[str, Any]:
    role = access.current_role()
    return {
        "t": t,
        "lang": ui_lang(),
        "langs": LANGS,
        "lang_url": lang_url,
        "new_case_url": new_case_url,
        "role": role,
        "can_edit": access.can_edit(role),
        "long_query_chars": LONG_QUERY_URL_CHARS,
        "identity": access.current_identity(),
    }


def init_app(app: Flask) -> None:
    app.before_request(_pick_language)
    app.after_request(_finish)
    app.context_processor(_template_globals)
