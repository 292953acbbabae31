"""Shared fixtures: settings in a temporary data folder, stores, and apps on the worlds of ``worlds.py``.

The data itself (case worlds, LOG lines, passwords) and the plain helpers live in ``worlds.py``;
the names below re-export the most used ones for ``from conftest import ...``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from worlds import BROKEN, FAKE_MODEL, PASSWORD, REPO, SAMPLE_CASES, WEB_WORLD, case_text

from kb.settings import Settings, load_settings

__all__ = [
    "BROKEN",
    "FAKE_MODEL",
    "REPO",
    "SAMPLE_CASES",
    "case_text",
]  # what other modules import from here

pytest_plugins = ["browser_fixtures"]  # the browser tier's fixtures (live_app, browser, page, ...)


@pytest.fixture
def write_cases(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Write ``{file name: text}`` into a fresh cases folder and return it."""
    folder = tmp_path / "cases"
    folder.mkdir(exist_ok=True)

    def write(files: dict[str, str]) -> Path:
        for name, content in files.items():
            (folder / name).write_text(content, encoding="utf-8")
        return folder

    return write


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on an empty cases folder and data folder, with the fast fake encoder."""
    (tmp_path / "cases").mkdir(exist_ok=True)
    return load_settings(
        environ={}, cases_dir=tmp_path / "cases", data_dir=tmp_path / "data", embed_model=FAKE_MODEL
    )


@pytest.fixture
def sample_settings(tmp_path: Path) -> Settings:
    """Settings on the bundled sample corpus with a private data folder and the fake encoder."""
    return load_settings(
        environ={}, cases_dir=SAMPLE_CASES, data_dir=tmp_path / "data", embed_model=FAKE_MODEL
    )


BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("KB_TEST_DATABASE_URL") else [])


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path: Path):
    """A store URL on SQLite and (with KB_TEST_DATABASE_URL) PostgreSQL, in a schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'kb.sqlite3'}"
        return
    base = os.environ["KB_TEST_DATABASE_URL"]
    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


# -- the web world (worlds.WEB_WORLD) ---------------------------------------------------------------


@pytest.fixture
def app(settings, write_cases):
    """The web world indexed and served with a fixed role (support), no sign-in."""
    from indexer.jobs import run_index
    from webui import create_app

    write_cases(WEB_WORLD)
    report = run_index(settings)
    assert report.published and not report.failed
    app = create_app(settings, test_config={"KB_ROLE": "support"})
    yield app
    app.extensions["kb"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def world(settings, write_cases):
    """The web world indexed, with three accounts (sato: support, kato: engineer, mori: admin; all
    with ``worlds.PASSWORD``); returns the settings (insecure cookies for the test client) and an
    API token per role."""
    from indexer.jobs import run_index
    from kb import accounts
    from kb.migrate import open_store

    write_cases(WEB_WORLD)
    assert run_index(settings).published
    store = open_store(settings)
    for name, role in (("sato", "support"), ("kato", "engineer"), ("mori", "admin")):
        accounts.add_user(store, name, role, PASSWORD)
    tokens = {
        role: accounts.create_token(store, name, "test")
        for name, role in (("sato", "support"), ("kato", "engineer"), ("mori", "admin"))
    }
    store.close()
    return settings.replace(cookie_secure=False), tokens


@pytest.fixture
def accounts_app(world):
    """The ``world`` in accounts mode (real sign-in), CSRF checks off."""
    from webui import create_app

    settings, _ = world
    app = create_app(settings, test_config={"WTF_CSRF_ENABLED": False})
    yield app
    app.extensions["kb"].close()
