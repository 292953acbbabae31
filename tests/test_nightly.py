import json
import subprocess
from datetime import UTC, date

from conftest import case_text

from indexer.nightly import EXIT, LATEST, REPORTS, compare, git_pull, overdue_reviews, run_nightly


def test_overdue_reviews_grouped_by_owner():
    catalog = {
        "A": {"review_by": date(2026, 1, 1), "authors": ["sakai", "m.ito"], "title": "a"},
        "B": {"review_by": date(2027, 1, 1), "authors": ["sakai"], "title": "b"},
        "C": {"review_by": date(2025, 6, 1), "authors": [], "title": "c"},
        "D": {"review_by": None, "authors": ["jlee"], "title": "d"},
        "E": {"review_by": date(2025, 1, 1), "authors": ["sakai"], "title": "e"},
    }
    groups = overdue_reviews(catalog, date(2026, 6, 1))
    assert groups == {
        "(no author)": [{"id": "C", "title": "c", "review_by": "2025-06-01"}],
        "sakai": [
            {"id": "E", "title": "e", "review_by": "2025-01-01"},
            {"id": "A", "title": "a", "review_by": "2026-01-01"},
        ],
    }


def test_compare_flags_a_drop_beyond_tolerance():
    assert (
        compare({"ndcg@10": 0.90, "recall@5": 0.9}, {"ndcg@10": 0.95, "recall@5": 0.9}, 0.02)[
            "drop"
        ]
        is True
    )
    assert (
        compare({"ndcg@10": 0.94, "recall@5": 0.9}, {"ndcg@10": 0.95, "recall@5": 0.9}, 0.02)[
            "drop"
        ]
        is False
    )
    assert compare({"ndcg@10": 0.9, "recall@5": 0.9}, None, 0.02)["drop"] is False


def _queries(tmp_path, relevant):
    path = tmp_path / "q.jsonl"
    path.write_text(
        json.dumps({"query": "widget", "relevant": relevant, "kind": "words", "lang": "en"}) + "\n"
    )
    return path


def test_nightly_report_counts_errors_and_reviews(settings, write_cases, tmp_path):
    write_cases(
        {
            "ESC-2026-0001.md": case_text(
                symptoms="the widget breaks", extra="review_by: 2026-01-01\nauthors: [sakai]\n"
            ),
            "ESC-2026-0002.md": case_text("ESC-2026-0002", status="fixed"),
        }
    )
    report, status = run_nightly(
        settings, queries_file=_queries(tmp_path, ["ESC-2026-0001"]), today=date(2026, 6, 1)
    )
    assert status == EXIT["bad_files"] == 1
    assert (
        report["index"]["added"] == 1
        and report["index"]["failed"] == 1
        and report["index"]["published"]
    )
    assert report["index"]["errors"][0]["message"].startswith("unknown status 'fixed'")
    assert report["quality"]["ndcg@10"] == 1.0 and report["quality"]["queries"] == 1
    assert report["review_overdue"] == {
        "sakai": [
            {
                "id": "ESC-2026-0001",
                "title": "Recurring events fail with SCH-13208",
                "review_by": "2026-01-01",
            }
        ]
    }
    assert set(report["durations"]) >= {"index", "quality", "total"}
    saved = json.loads((settings.data_dir / REPORTS / LATEST).read_text())
    assert saved["status"] == "bad_files"


def test_nightly_flags_a_quality_drop(settings, write_cases, tmp_path):
    write_cases(
        {
            "ESC-2026-0001.md": case_text(symptoms="the widget breaks"),
            "ESC-2026-0002.md": case_text(
                "ESC-2026-0002", title="Other", symptoms="the widget and the widget again"
            ),
        }
    )
    queries = _queries(tmp_path, ["ESC-2026-0001"])
    first, status = run_nightly(settings, queries_file=queries)
    assert status == 0
    latest = settings.data_dir / REPORTS / LATEST
    data = json.loads(latest.read_text())
    data["quality"]["ndcg@10"] = 1.5  # pretend the previous night was far better
    data["quality"]["generation"] = "gen-999999"
    latest.write_text(json.dumps(data))
    report, status = run_nightly(settings, queries_file=queries)
    assert status == EXIT["quality_drop"] and report["quality"]["drop"] is True
    assert report["quality"]["previous"]["ndcg@10"] == 1.5


def test_nightly_failure_exit_status(settings, write_cases, tmp_path):
    write_cases({"ESC-2026-0001.md": case_text()})
    from indexer.jobs import reindex_lock

    lock = reindex_lock(settings)
    try:
        report, status = run_nightly(
            settings, queries_file=_queries(tmp_path, ["ESC-2026-0001"]), lock_wait=0
        )
    finally:
        lock.release()
    assert status == EXIT["failed"] and "another reindex is running" in report["error"]


def test_git_pull_in_a_checkout(tmp_path):
    origin, clone = tmp_path / "origin", tmp_path / "clone"

    def run(*args, cwd=tmp_path):
        return subprocess.run(args, cwd=cwd, check=True, capture_output=True)

    run("git", "init", "-q", "-b", "main", str(origin))
    (origin / "a.md").write_text("x")
    run("git", "-c", "user.email=t@example.com", "-c", "user.name=t", "add", ".", cwd=origin)
    run(
        "git",
        "-c",
        "user.email=t@example.com",
        "-c",
        "user.name=t",
        "commit",
        "-qm",
        "one",
        cwd=origin,
    )
    run("git", "clone", "-q", str(origin), str(clone))
    (origin / "b.md").write_text("y")
    run("git", "-c", "user.email=t@example.com", "-c", "user.name=t", "add", ".", cwd=origin)
    run(
        "git",
        "-c",
        "user.email=t@example.com",
        "-c",
        "user.name=t",
        "commit",
        "-qm",
        "two",
        cwd=origin,
    )
    assert git_pull(clone)["pulled"] is True and (clone / "b.md").exists()
    assert git_pull(tmp_path / "origin" / "..")["reason"] == "not a git checkout"


def test_old_search_log_text_is_scrubbed_but_counts_stay(settings):
    from datetime import datetime, timedelta

    from kb.activity import SearchEvent, SearchLog, record_search, scrub_search_log
    from kb.migrate import open_store

    store = open_store(settings)
    now = datetime.now(UTC)
    old = record_search(
        store,
        SearchEvent("2026-01-01 ERROR user=tanaka@corp.example", "support", 3, 12.0),
        now=now - timedelta(days=200),
    )
    new = record_search(store, SearchEvent("recent query", "support", 1, 8.0), now=now)
    assert scrub_search_log(store, 180, now=now) == 1
    assert scrub_search_log(store, 180, now=now) == 0
    with store.session() as session:
        rows = {r.id: r for r in session.query(SearchLog).all()}
        assert (
            rows[old].text == ""
            and rows[old].result_count == 3
            and rows[new].text == "recent query"
        )
    store.close()


def test_a_skipped_quality_check_is_carried_over_when_nothing_was_published(
    settings, write_cases, tmp_path
):
    write_cases({"ESC-2026-0001.md": case_text(extra="review_by: 2027-01-01\nauthors: [sakai]\n")})
    queries = _queries(tmp_path, ["ESC-2099-0001"])  # about a case this corpus does not have
    first, _ = run_nightly(settings, queries_file=queries, today=date(2026, 6, 1))
    assert (
        first["quality"]["skipped"].startswith("no query in")
        and first["quality"]["generation"] == first["index"]["generation"]
    )
    second, status = run_nightly(settings, queries_file=queries, today=date(2026, 6, 2))
    assert (
        status == 0
        and second["quality"]["carried_over"]
        and second["quality"]["skipped"] == first["quality"]["skipped"]
    )
    assert second["review_overdue"] == {}
    third, _ = run_nightly(settings, queries_file=queries, today=date(2027, 1, 2))
    assert [c["id"] for c in third["review_overdue"]["sakai"]] == ["ESC-2026-0001"]


def test_nightly_report_lists_every_refused_case_with_its_reasons(settings, write_cases, tmp_path):
    secret = case_text(
        "ESC-2026-0002", symptoms="The customer sent api_key=Zq81xkP0aaLm29Tq in the ticket."
    )
    write_cases(
        {
            "ESC-2026-0001.md": case_text(symptoms="the widget breaks"),
            "ESC-2026-0002.md": secret,
            "ESC-2026-0003.md": case_text("ESC-2026-0003", status="fixed"),
        }
    )
    for _ in range(2):  # the second night finds the files unchanged: still listed
        report, status = run_nightly(
            settings, queries_file=_queries(tmp_path, ["ESC-2026-0001"]), today=date(2026, 6, 1)
        )
        assert status == EXIT["bad_files"]
        refused = {r["path"].rsplit("/", 1)[-1]: r["errors"] for r in report["index"]["refused"]}
        assert set(refused) == {"ESC-2026-0002.md", "ESC-2026-0003.md"}
        line = next(i for i, text in enumerate(secret.split("\n"), start=1) if "api_key=" in text)
        assert [(e["line"], e["field"], e["severity"]) for e in refused["ESC-2026-0002.md"]] == [
            (line, "sensitive", "error")
        ]
        assert refused["ESC-2026-0002.md"][0]["message"].startswith(
            "possible secret (credential): 'Zq81xkP0aaLm29Tq'"
        )
        assert refused["ESC-2026-0003.md"][0]["message"].startswith("unknown status 'fixed'")
    saved = json.loads((settings.data_dir / REPORTS / LATEST).read_text())
    assert saved["index"]["refused"] == report["index"]["refused"]


def test_nightly_syncs_and_reports_edits_waiting_for_merge(tmp_path):
    from test_repo import git, make_world

    from kb.history import repo_for
    from kb.repo import Person
    from kb.settings import load_settings

    remote, folder, user = make_world(
        tmp_path, {"ESC-2026-0001.md": case_text(symptoms="the widget breaks")}
    )
    settings = load_settings(
        environ={}, cases_dir=folder, data_dir=tmp_path / "data", embed_model="hash:256"
    )
    repo = repo_for(settings)
    (folder / "ESC-2026-0001.md").write_text(
        case_text(symptoms="the widget breaks", cause="web cause"), "utf-8"
    )
    with repo.writing():
        repo.commit_file(folder / "ESC-2026-0001.md", Person("alice", "a@example.com"), "web edit")
    (user / "ESC-2026-0001.md").write_text(
        case_text(symptoms="the widget breaks", cause="git cause"), "utf-8"
    )
    git(user, "commit", "-qam", "git edit")
    git(user, "push", "-q")
    report, status = run_nightly(
        settings, pull=True, queries_file=_queries(tmp_path, ["ESC-2026-0001"])
    )
    assert status == EXIT["edits_waiting"] == 4
    assert report["git"]["pulled"] is True and len(report["git"]["waiting"]) == 1
    from indexer.nightly import summary_lines

    assert any(line.startswith("edits waiting for merge: 1") for line in summary_lines(report))
