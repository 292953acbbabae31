"""One error handler: every error becomes ``{"ok": false, "error", "status"[, "field"]}`` or its HTML page."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.sansio.response import Response as BaseResponse

from kb.errors import KBError
from webui.i18n import MESSAGES

log = logging.getLogger(__name__)
API_PREFIX = "/api/"


def error_payload(exc: BaseException) -> dict[str, object]:
    """The JSON error object for any exception; an unexpected one never shows its details."""
    if isinstance(exc, KBError):
        data = exc.to_dict()
        if exc.status >= 500 and not exc.says_why:
            data["error"] = "internal error"
        return data
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        return {
            "ok": False,
            "error": exc.description if status < 500 else "internal error",
            "status": status,
        }
    return {"ok": False, "error": "internal error", "status": 500}


def handle_error(exc: Exception) -> BaseResponse | tuple[str, int] | HTTPException:
    """The app's single error handler, registered for every exception: JSON under /api/, else a page."""
    if isinstance(exc, HTTPException) and (exc.code or 500) < 400:
        return exc  # redirects raised by routing
    data = error_payload(exc)
    status = int(str(data["status"]))
    if status >= 500 and status != 503:
        log.error("error on %s %s", request.method, request.path, exc_info=exc)
    if request.path.startswith(API_PREFIX):
        response = current_app.json.response(data)
        response.status_code = status
        return response
    heading = f"error.{status}" if f"error.{status}" in MESSAGES else "error.generic"
    # the web server's own refusals (no such page, method, size) say it in the page's language;
    # the product's errors keep their message, which names the field or the thing
    detail = f"error.detail.{status}"
    detail_key = detail if not isinstance(exc, KBError) and detail in MESSAGES else None
    try:
        return render_template(
            "error.html",
            error=data,
            heading_key=heading,
            detail_key=detail_key,
            csrf_failed=isinstance(exc, CSRFError),
            query=request.args.get("q", ""),
        ), status
    except Exception:  # the error page itself failed: never loop, answer in plain text
        log.exception("cannot render the error page")
        return Response(f"{status} {data['error']}\n", status=status, mimetype="text/plain")


def register_error_handler(app: Flask) -> None:
    app.register_error_handler(Exception, handle_error)
