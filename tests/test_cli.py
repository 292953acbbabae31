"""The `kb` command's own behaviour: search output, the one-shot start-up path, the spinner,
the nightly summary (fast tier: tiny worlds and the fake encoder)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading

import pytest
from click.testing import CliRunner
from conftest import FAKE_MODEL, REPO, case_text
from sqlalchemy import text

from indexer.jobs import run_index
from kb import schema, spinner
from kb.cli import main
from kb.store import Store

WORLD = {
    "ESC-2026-0001.md": case_text(
        "ESC-2026-0001",
        title="Approval route not updated after reorganisation (WF-20417)",
        component="workflow",
        symptoms="Requests still go to the former manager after the org chart changed; the log shows WF-20417.",
        cause="The approval route cache is not invalidated.",
        resolution="Clear the route cache from the admin screen.",
    ),
    "ESC-2026-0002.md": case_text(
        "ESC-2026-0002",
        title="Notification mail delayed by hours",
        component="notification",
        symptoms="Users receive the notification e-mails two hours late.",
        cause="mail.smtp.timeout was 0.",
        resolution="Set mail.smtp.timeout to 30 seconds.",
    ),
    "ESC-2026-0003.md": case_text(
        "ESC-2026-0003",
        title="Calendar export shows the wrong time zone",
        component="schedule",
        symptoms="Exported ICS files carry UTC instead of the user's zone.",
        cause="The exporter ignored the profile zone.",
        resolution="Upgrade to 6.1.",
    ),
}


@pytest.fixture
def world(settings, write_cases):
    write_cases(WORLD)
    assert not run_index(settings).failed
    return settings


def kb(settings, *args: str):  # type: ignore[no-untyped-def]
    env = {"KB_EMBED_MODEL": FAKE_MODEL, "KB_LOG_LEVEL": "WARNING"}
    return CliRunner(env=env).invoke(
        main, ["--cases-dir", str(settings.cases_dir), "--data-dir", str(settings.data_dir), *args]
    )


# -- search output ----------------------------------------------------------------------------


def test_search_says_how_many_cases_match_and_lists_weak_candidates_apart(world):
    bare = kb(world, "search", "WF-20417")  # a bare code runs no model leg: nothing weak to add
    assert bare.exit_code == 0 and bare.stdout.startswith(
        "1 case matches (error code query"  # a bare code has no language
    )
    assert "Weak candidates" not in bare.stdout
    result = kb(world, "search", "WF-20417 again today")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("1 case matches (English error code query")
    assert lines[2].startswith("1. ESC-2026-0001  Approval route not updated")
    why = next(line for line in lines if line.startswith("   why: "))
    assert why.startswith("   why: lists error code WF-20417, which your query names")
    assert "holds your words" not in why  # the code is said once
    weak_head = next(
        n for n, line in enumerate(lines) if line.startswith("Weak candidates, not counted")
    )
    weak = [line for line in lines[weak_head + 1 :] if line.startswith("- ")]
    assert {line.split()[1] for line in weak} == {
        "ESC-2026-0002",
        "ESC-2026-0003",
    }  # after the match, never numbered
    assert "candidate(s)" not in result.stdout


def test_a_query_nothing_matches_says_so(world):
    result = kb(world, "search", "xyzzyqwv")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("No case matches (English words query")
    assert "\n1. " not in result.stdout


def test_search_json_is_the_response_as_is(world):
    result = kb(world, "search", "--json", "WF-20417 again today")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert data["total"] == 1 and [h["id"] for h in data["hits"]] == ["ESC-2026-0001"]
    assert data["hits"][0]["why"]["reasons"][0] == "exact_code"
    assert {h["id"] for h in data["weak"]} == {"ESC-2026-0002", "ESC-2026-0003"}
    assert all(h["why"]["reasons"] == [] for h in data["weak"])
    assert result.stderr == ""  # not a terminal: no spinner


def test_similar_lists_nearest_cases_without_counting_matches(world):
    result = kb(world, "similar", "ESC-2026-0001")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("2 cases similar to ESC-2026-0001 (nearest first")
    assert "why: similar content" in result.stdout


# -- the one-shot path --------------------------------------------------------------------------

ONE_SHOT = """
import sys
from kb.cli import main
try:
    main(sys.argv[1:], prog_name="kb", standalone_mode=False)
finally:
    print(sorted(m for m in ("alembic", "torch", "sentence_transformers", "indexer.jobs", "flask") if m in sys.modules), file=sys.stderr)
"""


def test_a_one_shot_search_imports_no_alembic_torch_or_web_stack(world):
    env = {
        "PATH": "/usr/bin:/bin",
        "KB_EMBED_MODEL": FAKE_MODEL,
        "KB_LOG_LEVEL": "WARNING",
        "HOME": str(world.data_dir),
    }
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            ONE_SHOT,
            "--cases-dir",
            str(world.cases_dir),
            "--data-dir",
            str(world.data_dir),
            "search",
            "--json",
            "WF-20417",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["total"] == 1
    assert run.stderr.strip().splitlines()[-1] == "[]"


def test_the_code_head_read_from_the_scripts_is_alembics():
    from kb.migrate import head_revision

    assert schema.code_head() == head_revision() is not None


def test_a_store_behind_the_code_is_migrated_before_searching(world):
    store = Store(world.resolved_database_url)
    with store.engine.begin() as connection:
        connection.execute(
            text("DELETE FROM alembic_version")
        )  # as a store made before migrations existed
    assert not schema.is_current(store.engine)
    result = kb(world, "search", "--json", "WF-20417")
    assert result.exit_code == 0, result.output and json.loads(result.stdout)["total"] == 1
    assert schema.is_current(store.engine)
    store.close()


def test_code_head_needs_a_single_newest_revision(tmp_path):
    (tmp_path / "a.py").write_text("revision = 'a1'\ndown_revision = None\n")
    (tmp_path / "b.py").write_text(
        "revision: str = \"b2\"\ndown_revision: Union[str, None] = 'a1'\n"
    )
    assert schema.code_head(tmp_path) == "b2"
    (tmp_path / "c.py").write_text(
        "revision = 'c3'\ndown_revision = 'a1'\n"
    )  # two heads: Alembic decides
    assert schema.code_head(tmp_path) is None


# -- spinner ------------------------------------------------------------------------------------


class Terminal(io.StringIO):
    """A stand-in terminal that tells when something was written."""

    def __init__(self) -> None:
        super().__init__()
        self.written = threading.Event()

    def isatty(self) -> bool:
        return True

    def write(self, s: str) -> int:
        n = super().write(s)
        self.written.set()
        return n


def test_spinner_draws_on_a_terminal_after_the_delay_and_clears_its_line():
    term = Terminal()
    with spinner.Spinner("searching", stream=term, delay=0, interval=0.01) as shown:
        assert term.written.wait(10)
    out = term.getvalue()
    assert shown.shown and out.startswith("\r| searching")
    assert out.endswith("\r" + " " * len("  searching") + "\r")


def test_spinner_writes_nothing_for_a_quick_wait_or_off_a_terminal():
    term = Terminal()
    with spinner.Spinner("searching", stream=term, delay=60):
        pass
    assert term.getvalue() == ""
    piped = io.StringIO()
    with spinner.Spinner("searching", stream=piped, delay=0) as off:
        assert off._thread is None  # nothing even waits to draw
    assert piped.getvalue() == ""


def test_search_on_a_terminal_spins_on_stderr_and_keeps_json_on_stdout(world, monkeypatch):
    from indexer.searcher import Searcher

    drawn = threading.Event()
    original_write, original_search = spinner.Spinner._write, Searcher.search

    def write(self, s):  # type: ignore[no-untyped-def]
        original_write(self, s)
        drawn.set()

    def slow_search(self, request):  # type: ignore[no-untyped-def]
        assert drawn.wait(10), "no spinner while the search waited"
        return original_search(self, request)

    monkeypatch.setattr(spinner, "_is_terminal", lambda stream: True)
    monkeypatch.setattr(spinner, "DELAY", 0.0)
    monkeypatch.setattr(spinner.Spinner, "_write", write)
    monkeypatch.setattr(Searcher, "search", slow_search)
    result = kb(world, "search", "--json", "WF-20417")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total"] == 1
    assert "searching" in result.stderr and result.stderr.endswith("\r")


# -- nightly ------------------------------------------------------------------------------------


def test_nightly_prints_a_summary_and_the_json_only_when_asked(settings, write_cases, tmp_path):
    write_cases(
        {
            "ESC-2026-0001.md": case_text(extra="review_by: 2026-01-01\nauthors: [sakai]\n"),
            "ESC-2026-0002.md": case_text("ESC-2026-0002", status="fixed"),
        }
    )
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps(
            {"query": "SCH-13208", "relevant": ["ESC-2026-0001"], "kind": "code", "lang": "en"}
        )
        + "\n"
    )
    report_file = tmp_path / "last.json"
    result = kb(settings, "nightly", "--queries", str(queries), "--report", str(report_file))
    assert result.exit_code == 1  # a case file with errors
    lines = result.stdout.splitlines()
    assert len(lines) <= 25 and not result.stdout.lstrip().startswith("{")
    assert lines[0].startswith("nightly: bad_files (exit 1) in ")
    assert any(
        line.startswith("index: 1 added, 0 changed, 0 deleted, 0 unchanged, 1 failed")
        for line in lines
    )
    assert any("ESC-2026-0002.md:4: unknown status 'fixed'" in line for line in lines)
    assert any(
        line.startswith("quality: nDCG@10 1.000, Recall@5 1.000 on 1 queries") for line in lines
    )
    assert "reviews overdue: 1 case(s) (sakai 1)" in lines
    assert lines[-1] == f"report: {report_file}"
    assert json.loads(report_file.read_text())["status"] == "bad_files"

    again = kb(settings, "nightly", "--queries", str(queries), "--json")
    assert (
        json.loads(again.stdout)["index"]["unchanged"] == 2
    )  # the whole report: stdout is one JSON document


def test_summary_of_a_failed_run_names_the_error_and_the_kept_report(tmp_path):
    from indexer.nightly import summary_lines

    report = {
        "status": "failed",
        "error": "another reindex is running",
        "durations": {"total": 0.25},
        "started_at": "2026-06-01T02:30:00+00:00",
    }
    assert summary_lines(report, tmp_path / "r.json") == [
        "nightly: failed (exit 2) in 0.2 s",
        "error: another reindex is running",
        f"report: {tmp_path / 'r.json'}",
    ]


def test_summary_lists_a_few_refusals_and_owners_by_name():
    from indexer.nightly import summary_lines

    refused = [
        {"path": f"cases/ESC-2026-00{n:02d}.md", "errors": [{"line": 3, "message": "invalid YAML"}]}
        for n in range(8)
    ]
    report = {
        "status": "bad_files",
        "durations": {"total": 1},
        "index": {
            "added": 0,
            "changed": 0,
            "deleted": 0,
            "unchanged": 3,
            "failed": 8,
            "warnings": 0,
            "generation": "gen-1",
            "published": False,
            "refused": refused,
        },
        "quality": {
            "ndcg@10": 0.5,
            "recall@5": 0.75,
            "queries": 4,
            "delta": {"ndcg@10": -0.1, "recall@5": 0.0},
            "drop": True,
            "tolerance": 0.02,
        },
        "review_overdue": {"b": [{"id": "x"}], "a": [{"id": "y"}, {"id": "z"}]},
    }
    lines = summary_lines(report)
    assert (
        "index: 0 added, 0 changed, 0 deleted, 3 unchanged, 8 failed, 0 warning(s); index unchanged (gen-1)"
        in lines
    )
    assert (
        lines.count("  cases/ESC-2026-0000.md:3: invalid YAML") == 1
        and "  … and 3 more (see the report)" in lines
    )
    assert (
        "quality: nDCG@10 0.500 (-0.100), Recall@5 0.750 (+0.000) on 4 queries DROPPED by more than 0.02 since the previous run"
        in lines
    )
    assert "reviews overdue: 3 case(s) (a 2, b 1)" in lines
