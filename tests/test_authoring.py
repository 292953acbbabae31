import re
from datetime import date

import pytest
from click.testing import CliRunner
from conftest import case_text

from kb.authoring import (
    ConflictError,
    case_markdown,
    create_case_file,
    next_case_id,
    save_case_file,
    template,
)
from kb.cli import main
from kb.errors import KBError
from kb.parse import check_case_text, parse_case


def test_next_id_default_pattern():
    pattern = re.compile(r"ESC-\d{4}-\d{4}")
    assert (
        next_case_id(["ESC-2026-0007", "ESC-2026-0012", "ESC-2025-0099"], pattern, date(2026, 5, 1))
        == "ESC-2026-0013"
    )
    assert next_case_id(["ESC-2025-0099"], pattern, date(2026, 1, 2)) == "ESC-2026-0001"


def test_next_id_never_leaves_the_pattern():
    pattern = re.compile(r"ESC-\d{4}-\d{4}")
    with pytest.raises(KBError, match="no free id left for 2026"):
        next_case_id(["ESC-2026-9999"], pattern, date(2026, 5, 1))
    assert (
        next_case_id(["ESC-2026-0003", "ESC-2026-00077", "ESC-2026-x"], pattern, date(2026, 5, 1))
        == "ESC-2026-0004"
    )


def test_create_case_file_takes_the_next_free_id_and_skips_one_taken_meanwhile(tmp_path):
    pattern = re.compile(r"ESC-\d{4}-\d{4}")
    today = date(2026, 5, 1)
    first = create_case_file(
        tmp_path, lambda: ["ESC-2026-0004"], pattern, today, lambda cid: case_text(cid)
    )
    assert first.path.name == "ESC-2026-0005.md" and "id: ESC-2026-0005" in first.path.read_text()
    # another writer took 0006 after the ids were listed (the listing does not show it): 0007, nothing overwritten
    (tmp_path / "ESC-2026-0006.md").write_text("theirs")
    second = create_case_file(
        tmp_path, lambda: ["ESC-2026-0005"], pattern, today, lambda cid: case_text(cid)
    )
    assert (
        second.path.name == "ESC-2026-0007.md"
        and (tmp_path / "ESC-2026-0006.md").read_text() == "theirs"
    )
    with pytest.raises(
        KBError, match="no free case id after 2 attempts"
    ):  # 0001 and 0002 taken, not listed
        (tmp_path / "ESC-2026-0001.md").write_text("a")
        (tmp_path / "ESC-2026-0002.md").write_text("b")
        create_case_file(
            tmp_path, lambda: [], pattern, today, lambda cid: case_text(cid), attempts=2
        )
    with pytest.raises(KBError, match="cannot derive the first id"):
        create_case_file(
            tmp_path, lambda: [], re.compile(r"SUP-\d{5}"), today, lambda cid: case_text(cid)
        )
    assert not list(tmp_path.glob(".*.tmp"))


def test_parallel_new_cases_get_distinct_ids(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    pattern = re.compile(r"ESC-\d{4}-\d{4}")

    def taken():
        return [p.stem for p in tmp_path.glob("*.md")]

    def write(n):
        return create_case_file(
            tmp_path,
            taken,
            pattern,
            date(2026, 5, 1),
            lambda cid: case_text(cid, title=f"writer {n}"),
        )

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(write, range(16)))
    assert len({r.path.name for r in results}) == 16
    for result in results:  # each file is whole and one writer's own
        text = result.path.read_text()
        assert f"id: {result.path.stem}" in text and text.count("title:") == 1
    assert not list(tmp_path.glob(".*.tmp"))


def test_next_id_custom_pattern():
    pattern = re.compile(r"SUP-\d{5}")
    assert (
        next_case_id(["SUP-00041", "SUP-00102", "junk"], pattern, date(2026, 1, 1)) == "SUP-00103"
    )


@pytest.mark.parametrize("lang,heading", [("ja", "## 症状"), ("en", "## Symptoms")])
def test_template_is_a_case_whose_prompts_are_not_content(lang, heading):
    text = template(
        lang, "ESC-2026-0001", "Mail: delayed", "sakai", date(2026, 3, 2), component="mail"
    )
    assert heading in text and "authors: [sakai]" in text and "created: 2026-03-02" in text
    case, problems = check_case_text(text, "ESC-2026-0001.md")
    assert case is None  # unfilled: the required sections are empty, and lint says so
    messages = [p.message for p in problems if p.is_error]
    assert any("is empty" in m or "missing required section" in m for m in messages)
    filled = text.replace(
        "<!-- お客様の言葉で、何が起きたか。画面に出たメッセージやエラーコードはそのまま書く。 -->",
        "届かない",
    ).replace(
        "<!-- What happened, in the customer's words. Quote messages and error codes exactly. -->",
        "Not delivered",
    )
    filled = re.sub(r"(## (?:原因|Cause)\n)<!--.*?-->", r"\1Relay down.", filled)
    filled = re.sub(r"(## (?:対処|Resolution)\n)<!--.*?-->", r"\1Restart relay.", filled)
    case = parse_case(filled, "ESC-2026-0001.md")
    assert case.title == "Mail: delayed" and case.section("environment") is None
    assert "<!--" not in case.body_text


def test_form_round_trip():
    fields = {
        "id": "ESC-2026-0001",
        "title": "承認ルート: 異動後に WF-20417",
        "status": "resolved",
        "product": "tsumugi-server",
        "versions": ["5.10", "6.0"],
        "component": "workflow",
        "visibility": "engineering",
        "created": date(2026, 3, 2),
        "tags": ["approval"],
        "authors": ["sakai"],
        "related": ["ESC-2025-0107"],
        "fixed_in": "6.1",
    }
    sections = {
        "symptoms": "承認できない。",
        "cause": "キャッシュ。",
        "resolution": "再起動。",
        "logs": "```text\nWF-20417 x\n```",
    }
    text = case_markdown(fields, sections, lang="ja")
    case = parse_case(text, "ESC-2026-0001.md")
    assert (case.title, case.versions, case.visibility, case.fixed_in) == (
        fields["title"],
        ("5.10", "6.0"),
        "engineering",
        "6.1",
    )
    assert case.related == ("ESC-2025-0107",) and case.section_text("logs") == sections["logs"]
    assert [s.heading for s in case.sections] == ["症状", "原因", "対処", "ログ"]
    assert case_markdown({**fields, "created": "2026-03-02"}, sections, "ja") == text


def test_save_never_overwrites_and_detects_concurrent_edits(tmp_path):
    first = save_case_file(tmp_path, "ESC-2026-0001", case_text(), None)
    assert first.created and first.path.read_text() == case_text()
    with pytest.raises(ConflictError, match="already exists"):
        save_case_file(tmp_path, "ESC-2026-0001", case_text(title="Other"), None)
    second = save_case_file(
        tmp_path, "ESC-2026-0001", case_text(title="Edited"), first.content_hash
    )
    with pytest.raises(ConflictError, match="changed by someone else"):
        save_case_file(tmp_path, "ESC-2026-0001", case_text(title="Stale edit"), first.content_hash)
    assert "Edited" in second.path.read_text()
    with pytest.raises(Exception, match="invalid case id"):
        save_case_file(tmp_path, "../etc/passwd", "x", None)
    assert not list(tmp_path.glob(".*.tmp"))


def test_kb_new_and_redact_cli(settings, write_cases):
    folder = write_cases({"ESC-2026-0004.md": case_text("ESC-2026-0004")})
    runner = CliRunner()
    env = {"KB_CASES_DIR": str(folder), "KB_DATA_DIR": str(settings.data_dir)}
    result = runner.invoke(
        main, ["new", "--lang", "en", "--title", "Mail delayed", "--author", "jlee"], env=env
    )
    assert result.exit_code == 0, result.output
    created = folder / "ESC-2026-0005.md"
    assert result.output.strip() == str(created) and "title: Mail delayed" in created.read_text()
    assert "authors: [jlee]" in created.read_text()

    (folder / "ESC-2026-0004.md").write_text(
        case_text("ESC-2026-0004", symptoms="mail sato@hanamura-logi.co.jp password=Hunter2xyz")
    )
    dry = runner.invoke(main, ["redact", "--dry-run", str(folder / "ESC-2026-0004.md")], env=env)
    assert (
        "2 replacement(s) (dry run)" in dry.output
        and "Hunter2xyz" in (folder / "ESC-2026-0004.md").read_text()
    )
    done = runner.invoke(main, ["redact", str(folder / "ESC-2026-0004.md")], env=env)
    assert done.exit_code == 0 and "<SECRET>" in (folder / "ESC-2026-0004.md").read_text()
    lint = runner.invoke(main, ["lint", str(folder / "ESC-2026-0004.md")], env=env)
    assert lint.exit_code == 0, lint.output


def test_kb_redact_waits_for_a_save_in_progress(settings, write_cases):
    """It takes the cases repository's write lock, as web saves do: a save that fails and puts its
    file back can never undo a redaction made between its write and its commit."""
    import subprocess
    import threading
    import time

    from kb.history import repo_for

    folder = write_cases(
        {"ESC-2026-0004.md": case_text("ESC-2026-0004", symptoms="password=Hunter2xyz")}
    )
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "seed"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@x", "-C", str(folder), *args],
            check=True,
        )
    repo = repo_for(settings.replace(cases_dir=folder))
    assert repo is not None
    held, released = threading.Event(), []

    def save_in_progress() -> None:
        with repo.writing():
            held.set()
            time.sleep(1.0)
            released.append(time.monotonic())

    saver = threading.Thread(target=save_in_progress)
    saver.start()
    held.wait(5)
    env = {"KB_CASES_DIR": str(folder), "KB_DATA_DIR": str(settings.data_dir)}
    done = CliRunner().invoke(main, ["redact", str(folder / "ESC-2026-0004.md")], env=env)
    redacted_at = time.monotonic()
    saver.join()
    assert done.exit_code == 0 and "<SECRET>" in (folder / "ESC-2026-0004.md").read_text()
    assert released and redacted_at >= released[0]  # it waited for the lock
