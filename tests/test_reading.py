"""Case files that are not plain files: FIFOs, oversized sparse files, links out of the folder
(issue 17, item 8). Each is skipped with a message naming it; the rest is indexed."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from conftest import case_text

from indexer import generation as gen
from indexer.jobs import run_index
from kb.parse import read_case_file
from kb.reading import check_file, read_case_bytes


def _index_in_thread(settings) -> tuple[threading.Thread, dict]:
    out: dict = {}
    thread = threading.Thread(
        target=lambda: out.setdefault("report", run_index(settings)), daemon=True
    )
    thread.start()
    thread.join(timeout=120)
    return thread, out


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX feature")
def test_a_fifo_named_md_is_skipped_and_never_blocks_the_run(settings, write_cases):
    folder = write_cases({"ESC-2026-0001.md": case_text("ESC-2026-0001")})
    os.mkfifo(folder / "ESC-2026-0002.md")
    thread, out = _index_in_thread(settings)
    assert not thread.is_alive(), "kb index blocked on a FIFO"
    report = out["report"]
    assert report.published and report.failed == [str(folder / "ESC-2026-0002.md")]
    assert any("named pipe (FIFO), not a regular file" in p.message for p in report.problems)
    assert gen.Manifest.read(settings.index_dir / report.generation).case_count == 1
    # the lock was released: the next run works
    assert run_index(settings).plan["mode"] == "none"


def test_a_sparse_huge_file_is_refused_from_its_size_without_being_read(tmp_path, monkeypatch):
    path = tmp_path / "ESC-2026-0003.md"
    with path.open("wb") as fh:
        fh.truncate(1_500_000_000)  # sparse: no disk used
    monkeypatch.setattr(
        os, "fdopen", lambda *a, **k: pytest.fail("the file was opened for reading")
    )
    data, problem = read_case_bytes(path, "cases/ESC-2026-0003.md", 262144)
    assert data is None
    assert problem.path == "cases/ESC-2026-0003.md"
    assert "file too large: 1500000000 bytes (limit 262144" in problem.message


def test_a_file_that_grows_after_the_check_is_still_cut_at_the_limit(tmp_path, monkeypatch):
    path = tmp_path / "ESC-2026-0004.md"
    path.write_bytes(b"x" * 100)
    monkeypatch.setattr(
        "kb.reading.check_file", lambda *a, **k: None
    )  # the size check saw a small file
    path.write_bytes(b"x" * 5000)
    data, problem = read_case_bytes(path, "ESC-2026-0004.md", 1024)
    assert data is None and "over 1024 bytes" in problem.message


def test_links_are_followed_inside_the_cases_folder_only(settings, write_cases, tmp_path):
    folder = write_cases({"ESC-2026-0001.md": case_text("ESC-2026-0001")})
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "ESC-2026-0005.md").write_text(case_text("ESC-2026-0005"), "utf-8")
    os.symlink(outside / "ESC-2026-0005.md", folder / "ESC-2026-0005.md")
    os.symlink("/dev/zero", folder / "ESC-2026-0006.md")
    (folder / "sub").mkdir()
    (folder / "sub" / "target.txt").write_text(case_text("ESC-2026-0007"), "utf-8")
    os.symlink(folder / "sub" / "target.txt", folder / "ESC-2026-0007.md")
    report = run_index(settings)
    messages = {Path(p.path).name: p.message for p in report.problems if p.is_error}
    assert "leads out of the cases folder" in messages["ESC-2026-0005.md"]
    assert "leads out of the cases folder" in messages["ESC-2026-0006.md"]
    assert "ESC-2026-0007.md" not in messages
    assert (
        gen.Manifest.read(settings.index_dir / report.generation).case_count == 2
    )  # 0001 and 0007


def test_check_file_names_the_kind_of_special_file(tmp_path):
    assert "a folder, not a regular file" in check_file(tmp_path, "x.md", 1000).message
    assert "no such file" in check_file(tmp_path / "gone.md", "gone.md", 1000).message.lower()
    regular = tmp_path / "ok.md"
    regular.write_text("hello", "utf-8")
    assert check_file(regular, "ok.md", 1000) is None


def test_read_case_file_reports_a_directory_named_md(tmp_path):
    (tmp_path / "ESC-2026-0008.md").mkdir()
    case, problems = read_case_file(tmp_path / "ESC-2026-0008.md")
    assert case is None and "not a regular file" in problems[0].message
