"""gunicorn settings for Escalation KB: ``gunicorn -c python:webui.gunicorn_conf 'webui:create_app()'``.

Each worker, once it has forked and loaded the app, loads the live model and prepares it for
queries in the background, so its first search does not wait for them. This happens after the
fork on purpose: a model loaded in the master (``--preload`` with a warm-up in ``create_app``)
would leave each worker a held lock and torch's thread pool in an undefined state.
"""

from __future__ import annotations

from typing import Any


def post_worker_init(worker: Any) -> None:
    worker.wsgi.extensions["kb"].warm_up()
