"""Index generations and the reindex job: incremental, atomic, crash-safe (issue: nightly reindex)."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, case_text

from indexer import generation as gen
from indexer.jobs import reindex_lock, run_index
from indexer.searcher import Searcher, SearchRequest
from kb.errors import KBError, ReindexBusyError
from kb.migrate import open_store


def world(n: int = 3) -> dict[str, str]:
    return {
        f"ESC-2026-{i:04d}.md": case_text(
            f"ESC-2026-{i:04d}",
            title=f"Case number {i} about topic{i}",
            symptoms=f"Symptom text mentioning widget{i} and ERR-{1000 + i:05d}.",
        )
        for i in range(1, n + 1)
    }


def live(settings) -> str | None:
    return gen.current_name(settings.index_dir)


def test_no_change_publishes_nothing(settings, write_cases):
    write_cases(world())
    first = run_index(settings)
    assert first.published and first.plan["mode"] == "full"
    again = run_index(settings)
    assert (
        not again.published and again.plan["mode"] == "none" and live(settings) == first.generation
    )


def test_incremental_update_is_picked_up_by_an_open_reader(settings, write_cases):
    folder = write_cases(world())
    run_index(settings)
    store = open_store(settings)
    reader = Searcher(settings, store)
    assert reader.search(SearchRequest("widget2", role="admin")).hits[0].id == "ESC-2026-0002"

    (folder / "ESC-2026-0002.md").write_text(
        case_text("ESC-2026-0002", symptoms="Now about gizmo42 instead."), "utf-8"
    )
    (folder / "ESC-2026-0003.md").unlink()
    report = run_index(settings)
    assert report.plan == {
        "mode": "incremental",
        "reason": "1 changed, 1 deleted",
        "upsert": 1,
        "delete": 1,
    }
    assert (
        report.build["embedded"] < report.build["chunk_count"]
    )  # unchanged chunks came from the cache

    response = reader.search(SearchRequest("gizmo42", role="admin"))
    assert response.generation == report.generation and response.hits[0].id == "ESC-2026-0002"
    assert "ESC-2026-0003" not in [
        h.id for h in reader.search(SearchRequest("widget3 topic3", role="admin")).hits
    ]
    manifest = gen.Manifest.read(settings.index_dir / report.generation)
    assert manifest.case_count == 2 and manifest.extra["build_mode"] == "incremental"
    store.close()


def test_a_store_synced_by_a_crashed_run_is_still_published(settings, write_cases, monkeypatch):
    folder = write_cases(world())
    run_index(settings)
    (folder / "ESC-2026-0004.md").write_text(
        case_text("ESC-2026-0004", title="Late arrival"), "utf-8"
    )
    import indexer.builder as builder

    monkeypatch.setattr(
        builder, "verify", lambda *a, **k: (_ for _ in ()).throw(KBError("simulated crash"))
    )
    with pytest.raises(KBError):
        run_index(settings)
    monkeypatch.undo()
    report = run_index(settings)  # the store already holds the case; the generation must catch up
    assert report.published and report.plan["upsert"] == 1


def test_full_rebuild_and_manifest(settings, write_cases):
    write_cases(world())
    run_index(settings)
    report = run_index(settings, full=True)
    manifest = gen.Manifest.read(settings.index_dir / report.generation)
    assert (
        report.plan["mode"] == "full" and manifest.model == "hash:256" and manifest.dimension == 256
    )
    assert (
        manifest.case_count == 3
        and manifest.chunk_count == 9
        and len(manifest.content_digest) == 64
    )


def test_model_change_reembeds_everything(settings, write_cases):
    write_cases(world())
    run_index(settings)
    other = settings.replace(embed_model="hash:128")
    report = run_index(other)
    assert report.plan["mode"] == "full" and "model changed" in report.plan["reason"]
    assert report.build["embedded"] == report.build["chunk_count"]
    assert gen.Manifest.read(settings.index_dir / report.generation).dimension == 128


def test_old_generations_are_pruned(settings, write_cases):
    folder = write_cases(world())
    keep = settings.replace(keep_generations=2, generation_grace_seconds=0)
    for i in range(4):
        (folder / "ESC-2026-0001.md").write_text(
            case_text("ESC-2026-0001", title=f"Revision {i}"), "utf-8"
        )
        run_index(keep)
    names = [p.name for p in gen.generation_dirs(settings.index_dir)]
    assert len(names) == 2 and live(settings) == names[-1]


def test_a_generation_is_pruned_only_after_its_grace_period(settings, write_cases):
    folder = write_cases(world())
    keep = settings.replace(keep_generations=1, generation_grace_seconds=3600)
    first = run_index(keep).generation
    (folder / "ESC-2026-0001.md").write_text(
        case_text("ESC-2026-0001", title="Revision 2"), "utf-8"
    )
    second = run_index(keep).generation
    assert (settings.index_dir / first / gen.RETIRED).is_file()  # retired now, still on disk
    assert [p.name for p in gen.generation_dirs(settings.index_dir)] == [first, second]
    assert gen.prune(settings.index_dir, 1, grace_seconds=3600) == []
    assert gen.prune(settings.index_dir, 1, grace_seconds=3600, now=time.time() + 3601) == [first]
    assert live(settings) == second and (settings.index_dir / second).is_dir()


def test_generation_names_never_repeat_even_when_the_live_folder_is_deleted(settings, write_cases):
    write_cases(world())
    first = run_index(settings).generation
    store = open_store(settings)
    searcher = Searcher(settings, store)
    assert searcher.generation().name == first
    import shutil

    shutil.rmtree(settings.index_dir / first)  # deleted under a running reader
    rebuilt = run_index(settings, full=True).generation
    assert (
        rebuilt != first and gen.Manifest.read(settings.index_dir / rebuilt).generation == rebuilt
    )
    assert int(rebuilt.split("-")[1]) > int(
        first.split("-")[1]
    )  # the counter remembers the deleted number
    assert (
        searcher.generation().name == rebuilt
    )  # the reader sees a new generation, not a stale one
    assert searcher.search(SearchRequest("topic2", role="admin")).hits[0].id == "ESC-2026-0002"
    store.close()


def test_names_from_before_random_parts_are_still_generations(tmp_path):
    (tmp_path / "gen-000007").mkdir()
    gen.publish(tmp_path, "gen-000007")
    assert gen.current_name(tmp_path) == "gen-000007"
    assert gen.next_generation_name(tmp_path).startswith("gen-000008-")


def test_a_second_run_is_refused_while_one_holds_the_lock(settings, write_cases):
    write_cases(world())
    lock = reindex_lock(settings)
    try:
        with pytest.raises(ReindexBusyError, match="another reindex is running"):
            run_index(settings)
    finally:
        lock.release()
    assert run_index(settings).published


def test_a_store_that_cannot_be_opened_releases_the_lock_at_once(
    settings, write_cases, monkeypatch
):
    import indexer.jobs as jobs

    write_cases(world())

    def broken(_settings):
        raise KBError("database is unreachable")

    monkeypatch.setattr(jobs, "open_store", broken)
    with pytest.raises(KBError) as failure:
        run_index(settings)
    assert (
        str(failure.value) == "database is unreachable"
    )  # the exception (and its frames) still lives here
    reindex_lock(settings, wait=0).release()  # ReindexBusyError before the fix
    monkeypatch.undo()
    assert run_index(settings).published


@pytest.mark.parametrize(
    "code,words", [(errno.ENOSPC, "no space left on device"), (errno.EACCES, "permission denied")]
)
def test_disk_full_and_permission_errors_leave_the_live_generation(
    settings, write_cases, monkeypatch, code, words
):
    folder = write_cases(world())
    first = run_index(settings).generation
    (folder / "ESC-2026-0001.md").write_text(case_text("ESC-2026-0001", title="Changed"), "utf-8")
    from indexer import dense

    def broken_save(self, target):
        raise OSError(code, os.strerror(code), str(target / "dense.faiss"))

    monkeypatch.setattr(dense.VectorIndex, "save", broken_save)
    with pytest.raises(KBError, match=f"{words}.*{first} keeps serving"):
        run_index(settings)
    assert live(settings) == first
    assert not [p for p in settings.index_dir.iterdir() if p.name.endswith(".partial")]
    store = open_store(settings)
    assert Searcher(settings, store).search(SearchRequest("topic1", role="admin")).hits
    store.close()


def test_a_bad_file_is_skipped_and_the_rest_indexed(settings, write_cases):
    files = world()
    files["ESC-2026-0009.md"] = case_text("ESC-2026-0009", status="fixed")
    write_cases(files)
    report = run_index(settings)
    assert report.published and len(report.failed) == 1
    assert gen.Manifest.read(settings.index_dir / report.generation).case_count == 3


def _kb(settings, *args: str) -> subprocess.Popen:
    env = dict(
        os.environ,
        KB_CASES_DIR=str(settings.cases_dir),
        KB_DATA_DIR=str(settings.data_dir),
        KB_EMBED_MODEL=settings.embed_model,
        KB_LOG_LEVEL="WARNING",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "kb.cli", *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_kill_9_during_a_build_leaves_the_live_generation_serving(settings, write_cases):
    folder = write_cases(world())
    first = run_index(settings).generation
    for i in range(10, 1500):
        (folder / f"ESC-2026-{i:04d}.md").write_text(
            case_text(f"ESC-2026-{i:04d}", title=f"Bulk case {i}"), "utf-8"
        )
    proc = _kb(settings, "index", "--full")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.name.endswith(".partial") for p in settings.index_dir.iterdir()):
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the build finished before it could be killed"
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert live(settings) == first  # the pointer never moved
    store = open_store(settings)
    assert (
        Searcher(settings, store).search(SearchRequest("topic2", role="admin")).hits[0].id
        == "ESC-2026-0002"
    )
    store.close()
    # the lock died with the process; the next run cleans up and publishes
    recovered = run_index(settings)
    assert recovered.published and live(settings) != first
    assert not [p for p in settings.index_dir.iterdir() if p.name.endswith(".partial")]
    assert gen.Manifest.read(settings.index_dir / recovered.generation).case_count == 1493


def test_cli_index_reports_and_exit_status(settings, write_cases):
    files = world()
    files["ESC-2026-0009.md"] = case_text("ESC-2026-0009", status="fixed")
    write_cases(files)
    proc = _kb(settings, "index", "--quiet")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "ESC-2026-0009.md:" in out and "unknown status 'fixed'" in out
    assert re.search(
        r"3 added, 0 changed, 0 deleted, 0 unchanged, 1 failed; published gen-000001-[0-9a-f]{8}",
        out,
    )


def test_index_warns_when_a_large_corpus_runs_on_whoosh(settings, write_cases, monkeypatch):
    from click.testing import CliRunner

    import kb.cli as cli
    import kb.cli.index as index_commands
    from indexer.engines import AUTO_CROSSOVER

    assert index_commands.WHOOSH_WARN_CASES == AUTO_CROSSOVER
    write_cases(world(3))
    monkeypatch.setattr(index_commands, "WHOOSH_WARN_CASES", 2)
    env = {
        "KB_CASES_DIR": str(settings.cases_dir),
        "KB_DATA_DIR": str(settings.data_dir),
        "KB_EMBED_MODEL": settings.embed_model,
    }
    result = CliRunner().invoke(
        cli.main, ["index", "--quiet"], env={**env, "KB_LEXICAL_ENGINE": "whoosh"}
    )
    assert (
        result.exit_code == 0
        and "3 cases on the whoosh engine" in result.output
        and "KB_LEXICAL_ENGINE=auto" in result.output
    )
    auto = CliRunner().invoke(
        cli.main, ["index", "--quiet", "--full"], env=env
    )  # the default, auto: never warned
    assert auto.exit_code == 0 and "whoosh engine" not in auto.output
    tantivy = CliRunner().invoke(
        cli.main, ["index", "--quiet", "--full"], env={**env, "KB_LEXICAL_ENGINE": "tantivy"}
    )
    assert tantivy.exit_code == 0 and "whoosh engine" not in tantivy.output


def test_precision_change_reembeds_everything(settings, write_cases):
    write_cases(world())
    first = run_index(settings)
    folder = settings.index_dir / first.generation
    manifest = gen.Manifest.read(folder)
    assert (
        manifest.extra["embed_precision"] == "float32"
    )  # the hashing encoder computes in float32 only
    data = json.loads((folder / gen.MANIFEST).read_text("utf-8"))
    data["extra"]["embed_precision"] = "bfloat16"  # as if built by a bf16 encoder
    (folder / gen.MANIFEST).write_text(json.dumps(data), "utf-8")
    report = run_index(settings)
    assert (
        report.plan["mode"] == "full"
        and "embedding precision changed (bfloat16 -> float32)" in report.plan["reason"]
    )


def _with_refused_cases() -> dict[str, str]:
    files = world()
    files["ESC-2026-0009.md"] = case_text("ESC-2026-0009", status="fixed")
    files["ESC-2026-0010.md"] = case_text(
        "ESC-2026-0010", symptoms="Login works with password=Hunter2xyz only."
    )
    return files


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.split("\n"), start=1) if needle in line)


def test_the_report_names_each_refused_file_with_its_errors(settings, write_cases):
    files = _with_refused_cases()
    folder = write_cases(files)
    report = run_index(settings)
    refused = {Path(r.path).name: r for r in report.refused}
    assert set(refused) == {"ESC-2026-0009.md", "ESC-2026-0010.md"}
    secret = refused["ESC-2026-0010.md"]
    assert [(p.line, p.field) for p in secret.errors] == [
        (_line_of(files["ESC-2026-0010.md"], "password="), "sensitive")
    ]
    assert secret.to_dict()["errors"][0]["message"].startswith(
        "possible secret (credential): 'Hunter2xyz'"
    )
    again = run_index(
        settings
    )  # unchanged files: the stored reasons are reported again, never dropped
    assert [r.lines() for r in again.refused] == [r.lines() for r in report.refused]
    assert again.refused[0].path == str(folder / "ESC-2026-0009.md")


@pytest.mark.parametrize("command", [["index", "--quiet"], ["reindex"], ["reindex", "--full"]])
def test_cli_names_every_refused_case_at_the_end_of_its_output(settings, write_cases, command):
    from click.testing import CliRunner

    import kb.cli as cli

    files = _with_refused_cases()
    folder = write_cases(files)
    env = {
        "KB_CASES_DIR": str(settings.cases_dir),
        "KB_DATA_DIR": str(settings.data_dir),
        "KB_EMBED_MODEL": settings.embed_model,
        "KB_LOG_LEVEL": "WARNING",
    }
    for _ in range(2):  # the second run finds the files unchanged and must still name them
        result = CliRunner().invoke(cli.main, command, env=env)
        assert result.exit_code == 1
        header, status, secret = result.output.rstrip("\n").split("\n")[-3:]
        assert (
            header
            == "refused 2 case file(s), not indexed (a version indexed before stays searchable):"
        ), result.output
        assert status.startswith(f"{folder / 'ESC-2026-0009.md'}:4: unknown status 'fixed'")
        assert secret == (
            f"{folder / 'ESC-2026-0010.md'}:{_line_of(files['ESC-2026-0010.md'], 'password=')}: possible secret "
            "(credential): 'Hunter2xyz'; run 'kb redact' to replace it with <SECRET>"
        )
        assert "1 failed" not in result.output and "2 failed" in result.output
        assert result.output.count("unknown status 'fixed'") == 1  # once, at the end


def test_cases_parsed_by_another_parser_version_are_parsed_again_and_fully_rebuilt(
    settings, write_cases
):
    import json

    from indexer import generation as gen

    write_cases(
        {
            "ESC-2026-0001.md": case_text("ESC-2026-0001"),
            "ESC-2026-0002.md": case_text("ESC-2026-0002", title="Other"),
        }
    )
    run_index(settings)
    assert run_index(settings).plan["mode"] == "none"  # same version: nothing to do
    manifest_path = gen.current_dir(settings.index_dir) / gen.MANIFEST
    data = json.loads(manifest_path.read_text("utf-8"))
    data["extra"].pop("parse_version")  # as a generation built before the version existed
    manifest_path.write_text(json.dumps(data), "utf-8")
    report = run_index(settings)
    assert (
        sorted(report.sync.changed) == ["ESC-2026-0001", "ESC-2026-0002"]
        and report.plan["mode"] == "full"
    )
    assert run_index(settings).plan["mode"] == "none"


def test_switching_the_sparse_leg_rebuilds_and_search_follows_the_setting(settings, write_cases):
    from indexer.searcher import Searcher, SearchRequest

    write_cases({"ESC-2026-0001.md": case_text("ESC-2026-0001")})
    run_index(settings)
    off = settings.replace(sparse_leg=False)
    report = run_index(off)
    assert report.plan["mode"] == "full" and "sparse" in report.plan["reason"]
    searcher = Searcher(off, open_store(off))
    assert searcher.generation().sparse is None
    assert searcher.search(SearchRequest("recurring events", legs=("sparse",))).hits == []
    assert run_index(settings).plan["mode"] == "full"  # on again


def test_readers_in_two_processes_never_fail_while_generations_are_published_and_pruned():
    """scripts/churn_check.py --smoke: 2 processes x 2 threads search for 8 s while generations are
    published every 0.1 s and pruned down to the live one after a 3 s grace period (without the
    grace period the same loop gives decompression and block errors in whoosh)."""
    run = subprocess.run(
        [sys.executable, "scripts/churn_check.py", "--smoke"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    result = json.loads(run.stdout)
    assert run.returncode == 0, result
    assert result["publishes"] >= 5 and result["pruned"] >= 3 and result["searches"] > 100
    assert result["errors"] == 0 and result["wrong_results"] == 0


def _healthy(settings, expect_cases: int) -> str:
    """The live generation is complete and answers; returns its name."""
    name = live(settings)
    assert (
        name is not None and gen.Manifest.read(settings.index_dir / name).case_count == expect_cases
    )
    store = open_store(settings)
    try:
        assert (
            Searcher(settings, store).search(SearchRequest("topic2", role="admin")).hits[0].id
            == "ESC-2026-0002"
        )
    finally:
        store.close()
    return name


def test_twenty_kill_9_at_random_points_of_a_rebuild_all_recover(settings, write_cases):
    """kill -9 at 20 random moments of `kb index --full` (from start-up to publish): the live
    generation always answers, and the next run cleans up and publishes."""
    folder = write_cases(world(300))
    run_index(settings)
    started = time.monotonic()
    timing = _kb(settings, "index", "--full")
    timing.communicate(timeout=300)
    duration = time.monotonic() - started
    rng = __import__("random").Random(17)
    outcomes = []
    for round_ in range(20):
        (folder / "ESC-2026-0001.md").write_text(
            case_text("ESC-2026-0001", title=f"Kill round {round_}"), "utf-8"
        )
        before = live(settings)
        proc = _kb(settings, "index", "--full")
        time.sleep(rng.uniform(0.05, duration * 1.05))
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        after = _healthy(settings, 300)
        outcomes.append("published" if after != before else "kept")
        recovered = run_index(settings)
        assert recovered.published or recovered.plan["mode"] == "none"
        assert not [p for p in settings.index_dir.iterdir() if p.name.endswith(".partial")]
        _healthy(settings, 300)
    assert len(outcomes) == 20 and "kept" in outcomes  # most kills land before the publish


def test_auto_engine_is_decided_at_a_full_build_and_kept_by_incremental_ones(
    settings, write_cases, monkeypatch, caplog
):
    import logging

    import indexer.engines as engines

    monkeypatch.setattr(engines, "AUTO_CROSSOVER", 3)
    folder = write_cases(world(3))
    assert settings.lexical_engine == "auto"
    first = run_index(settings)
    manifest = gen.Manifest.read(settings.index_dir / first.generation)
    assert (
        manifest.lexical_engine == "whoosh" and manifest.extra["lexical_engine_setting"] == "auto"
    )
    assert "3 cases, at or below the crossover of 3" in manifest.extra["lexical_engine_reason"]
    (folder / "ESC-2026-0004.md").write_text(
        case_text("ESC-2026-0004", title="A fourth case"), "utf-8"
    )
    with caplog.at_level(logging.INFO, logger="indexer.builder"):
        grown = run_index(settings)
    assert (
        grown.plan["mode"] == "full" and "lexical engine whoosh -> tantivy" in grown.plan["reason"]
    )
    assert "lexical engine whoosh -> tantivy" in caplog.text
    assert gen.Manifest.read(settings.index_dir / grown.generation).lexical_engine == "tantivy"
    (folder / "ESC-2026-0002.md").write_text(
        case_text("ESC-2026-0002", title="Changed a little"), "utf-8"
    )
    changed = run_index(settings)
    assert changed.plan["mode"] == "incremental"
    assert gen.Manifest.read(settings.index_dir / changed.generation).lexical_engine == "tantivy"
    (
        folder / "ESC-2026-0004.md"
    ).unlink()  # 3 cases again: within the hysteresis band, tantivy stays
    shrunk = run_index(settings)
    assert shrunk.plan["mode"] == "incremental"
    assert gen.Manifest.read(settings.index_dir / shrunk.generation).lexical_engine == "tantivy"
    explicit = run_index(settings.replace(lexical_engine="whoosh"))
    assert explicit.plan["mode"] == "full" and "KB_LEXICAL_ENGINE=whoosh" in explicit.plan["reason"]
    assert gen.Manifest.read(settings.index_dir / explicit.generation).lexical_engine == "whoosh"
