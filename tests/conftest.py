"""Shared fixtures: tiny case worlds built in code, settings in a temporary data folder."""

from __future__ import annotations

import json
import os
import textwrap
import uuid
from pathlib import Path
from typing import Callable

import pytest
from sqlalchemy import create_engine, text

from kb.settings import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
SAMPLE_CASES = REPO / "cases"
BROKEN = REPO / "tests" / "data" / "broken"
FAKE_MODEL = "hash:256"


def case_text(case_id: str = "ESC-2026-0001", *, title: str = "Recurring events fail with SCH-13208",
              status: str = "resolved", visibility: str = "support", product: str = "tsumugi-server",
              component: str = "schedule", created: str = "2026-03-02", extra: str = "",
              symptoms: str = "Deleting one occurrence of a weekly meeting shows HTTP 500.",
              cause: str = "Exception dates were compared in the JVM default time zone.",
              resolution: str = "Remove -Duser.timezone=UTC and restart.",
              logs: str = "", tags: str = "[repeat-event]", versions: str = '["5.9"]') -> str:
    """A valid case file; keyword arguments change single parts of it."""
    parts = [textwrap.dedent(f"""\
        ---
        id: {case_id}
        title: {json.dumps(title, ensure_ascii=False)}
        status: {status}
        product: {product}
        versions: {versions}
        component: {component}
        tags: {tags}
        visibility: {visibility}
        created: {created}
        """) + extra + "---\n", f"## Symptoms\n{symptoms}\n"]
    if cause:
        parts.append(f"\n## Cause\n{cause}\n")
    parts.append(f"\n## Resolution\n{resolution}\n")
    if logs:
        parts.append(f"\n## Logs\n```text\n{logs}\n```\n")
    return "".join(parts)


@pytest.fixture
def write_cases(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Write ``{file name: text}`` into a fresh cases folder and return it."""
    folder = tmp_path / "cases"
    folder.mkdir(exist_ok=True)

    def write(files: dict[str, str]) -> Path:
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
        return folder

    return write


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on an empty cases folder and data folder, with the fast fake encoder."""
    (tmp_path / "cases").mkdir(exist_ok=True)
    return load_settings(environ={}, cases_dir=tmp_path / "cases", data_dir=tmp_path / "data", embed_model=FAKE_MODEL)


@pytest.fixture
def sample_settings(tmp_path: Path) -> Settings:
    """Settings on the bundled sample corpus with a private data folder and the fake encoder."""
    return load_settings(environ={}, cases_dir=SAMPLE_CASES, data_dir=tmp_path / "data", embed_model=FAKE_MODEL)


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
