"""Shared fixtures: tiny case worlds built in code, settings in a temporary data folder."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Callable

import pytest

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
