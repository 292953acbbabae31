"""gunicorn settings for Escalation KB: ``gunicorn -c python:webui.gunicorn_conf 'webui:create_app()'``.

Each worker, once it has forked and loaded the app, loads the live model and prepares it for
queries in the background, so its first search does not wait for them. This happens after the
fork on purpose: a model loaded in the master (``--preload`` with a warm-up in ``create_app``)
would leave each worker a held lock and torch's thread pool in an undefined state.

The access log format leaves query strings (and the referrer) out: see ``access_log_format``.
"""

from __future__ import annotations

from typing import Any


def post_worker_init(worker: Any) -> None:
    worker.wsgi.extensions["kb"].warm_up()


# The access log never records query strings: a search by GET carries the query text in its URL
# (a pasted log with customer data), and the referrer carries the previous page's. The request is
# logged as method, path and protocol (``%(U)s`` is the path without the query; gunicorn's default
# ``%(r)s`` is the whole request line). Access logging itself is off until ``--access-logfile``.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
