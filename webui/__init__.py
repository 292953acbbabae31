"""The search web UI and JSON API: build it with :func:`create_app` (nothing happens at import)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask

from kb.settings import Settings, load_settings

MAX_REQUEST_BYTES = 1024 * 1024
log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    test_config: Mapping[str, Any] | None = None,
    warm_up: bool = False,
) -> Flask:
    """The Flask app: one store and one searcher, blueprints, error handler, CSRF and security headers.

    ``warm_up`` loads the live model and prepares it for queries in the background at once, for a
    single process (``kb serve``). Under gunicorn use :mod:`webui.gunicorn_conf` instead, which
    warms each worker after the fork. Without either the first search of a process loads the model.

    ``settings`` default to :func:`load_settings`; ``test_config`` overrides Flask config keys (e.g.
    ``KB_ROLE``: tests and demos only, every request gets this role without logging in;
    ``KB_AUTH_MODE``: the resolved auth mode, set by ``kb serve``; ``KB_EDITOR_INDEX_WAIT``:
    seconds a save waits for a running reindex).
    """
    from flask_wtf.csrf import CSRFProtect

    from webui import (
        admin,
        api,
        auth,
        editor_views,
        history_views,
        security,
        signature_views,
        trends_views,
        views,
    )
    from webui.errors import register_error_handler
    from webui.service import KB

    settings = settings or load_settings()
    app = Flask(__name__)
    secret = str(getattr(settings, "secret_key", "") or "")
    if not secret:
        log.info(
            "no secret_key setting: using a random per-process key (form tokens do not survive a restart "
            "and are not shared between worker processes)"
        )
    app.config.from_mapping(
        SECRET_KEY=secret or secrets.token_hex(32),
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        WTF_CSRF_TIME_LIMIT=12 * 3600,
        KB_SETTINGS=settings,
        KB_EDITOR_INDEX_WAIT=3.0,
    )
    if test_config:
        app.config.update(test_config)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Flask's default provider has it; the base class does not declare it
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    app.extensions["kb"] = KB.open(settings)
    csrf = CSRFProtect(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(editor_views.bp)
    app.register_blueprint(trends_views.bp)
    app.register_blueprint(api.bp, url_prefix="/api/v1")
    app.register_blueprint(admin.bp, url_prefix="/admin")
    app.register_blueprint(signature_views.bp)
    app.register_blueprint(signature_views.api_bp, url_prefix="/api/v1")
    app.register_blueprint(history_views.bp)
    app.register_blueprint(history_views.api_bp, url_prefix="/api/v1")
    csrf.exempt(api.bp)  # JSON only (enforced in the blueprint): cross-site forms cannot send it
    register_error_handler(app)
    security.init_app(app)
    auth.init_app(app)
    if warm_up:
        app.extensions["kb"].warm_up()
    return app
