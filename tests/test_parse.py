from datetime import date

import pytest
from conftest import case_text

from kb.errors import CaseFormatError
from kb.parse import check_case_text, decode_case_bytes, parse_case

JA_CASE = """---
id: ESC-2025-0042
title: 繰り返し予定の削除で HTTP 500 (SCH-13208)
status: resolved
product: tsumugi-server
versions: ["5.9", "5.10"]
fixed_in: "5.11"
component: schedule
severity: S2
tags: [repeat-event, timezone]
visibility: support
created: 2025-03-02
resolved: 2025-03-09
review_by: 2026-03-01
authors: [sakai]
related: [ESC-2025-0043]
---
## 症状 / Symptoms
繰り返し予定の一部の回を削除すると「サーバーでエラーが発生しました」と表示される。

## 原因
例外日の比較を JVM の既定タイムゾーンで行っていた。

## 対処
-Duser.timezone=UTC を削除して再起動する。

## ログ
```text
2025-03-02 10:15:07,123 ERROR [exec-7] RecurrenceService - [SCH-13208] Cannot apply exception
## not a heading inside a code block
    at com.kasumi.tsumugi.schedule.RecurrenceService.apply(RecurrenceService.java:231)
```
"""


def test_japanese_case_parses_with_aliases_and_verbatim_logs():
    case = parse_case(JA_CASE, "cases/ESC-2025-0042.md")
    assert case.id == "ESC-2025-0042"
    assert case.lang == "ja"
    assert [s.name for s in case.sections] == ["symptoms", "cause", "resolution", "logs"]
    assert case.versions == ("5.9", "5.10")
    assert case.created == date(2025, 3, 2) and case.review_by == date(2026, 3, 1)
    logs = case.section_text("logs")
    assert "## not a heading inside a code block" in logs
    assert (
        "    at com.kasumi.tsumugi.schedule.RecurrenceService.apply(RecurrenceService.java:231)"
        in logs
    )
    assert case.error_codes == ("SCH-13208",)
    assert case.section("symptoms").line == 18


def test_english_case_parses_and_detects_language():
    case = parse_case(case_text(), "ESC-2026-0001.md")
    assert case.lang == "en"
    assert case.resolution_text.startswith("Remove -Duser.timezone")
    assert case.tags == ("repeat-event",)


@pytest.mark.parametrize(
    "heading,name",
    [
        ("症状", "symptoms"),
        ("Symptoms", "symptoms"),
        ("症状 / Symptoms", "symptoms"),
        ("SYMPTOMS", "symptoms"),
        ("回避策", "workaround"),
        ("Root cause", "cause"),
    ],
)
def test_heading_aliases(heading, name):
    from kb.headings import canonical_section

    assert canonical_section(heading) == name


def test_disagreeing_bilingual_heading_is_unknown():
    from kb.headings import canonical_section

    assert canonical_section("症状 / Resolution") is None


def test_error_codes_are_extracted_from_the_body_but_not_case_ids():
    text = case_text(
        symptoms="Fails with WF-20417 and ORA-01555; see ESC-2025-0042. SHA-256 is fine."
    )
    case = parse_case(text, "ESC-2026-0001.md")
    assert case.error_codes == ("WF-20417", "ORA-01555")


def _messages(text, path="cases/ESC-2026-0001.md"):
    case, problems = check_case_text(text, path, expected_id="ESC-2026-0001")
    return case, [(p.line, p.message) for p in problems if p.is_error]


def test_unknown_status_is_reported_on_its_line():
    case, errors = _messages(case_text(status="fixed"))
    assert case is None
    assert (
        4,
        "unknown status 'fixed' (expected one of: resolved, workaround, known-issue)",
    ) in errors


def test_every_problem_is_reported_not_just_the_first():
    text = case_text(
        status="fixed", visibility="secret", created="2026-02-30", extra="colour: blue\n"
    )
    _, errors = _messages(text)
    messages = " | ".join(m for _, m in errors)
    assert "unknown status 'fixed'" in messages
    assert "unknown visibility 'secret'" in messages
    assert "invalid date '2026-02-30'" in messages
    assert "unknown field 'colour'" in messages


def test_missing_required_fields_and_sections():
    text = "---\nid: ESC-2026-0001\ntitle: t\n---\n## Cause\nx\n"
    _, errors = _messages(text)
    messages = [m for _, m in errors]
    for field in ("status", "product", "component", "visibility", "created"):
        assert f"missing required field '{field}'" in messages
    assert (
        "missing required section '症状 / Symptoms'" in messages
    )  # the heading to write, not the internal key
    assert "missing required section '対処 / Resolution' (or '回避策 / Workaround')" in messages


def test_cause_required_only_when_resolved():
    case, errors = _messages(case_text(status="resolved", cause=""))
    assert case is None and any("原因 / Cause" in message for _, message in errors)
    case, errors = _messages(case_text(status="workaround", cause=""))
    assert errors == [] and case.status == "workaround" and case.section_text("cause") == ""


def test_duplicate_and_empty_sections():
    text = case_text() + "\n## Symptoms\nagain\n"
    _, errors = _messages(text)
    assert any("duplicate section 'Symptoms'" in m for _, m in errors)
    _, errors = _messages(case_text(resolution=""))
    assert any(m == "section 'Resolution' is empty" for _, m in errors)


def test_id_format_and_file_name():
    _, errors = _messages(case_text(case_id="ESC-26-1"))
    assert any("does not match the id pattern" in m for _, m in errors)
    case, problems = check_case_text(case_text(), "ESC-2026-0002.md", expected_id="ESC-2026-0002")
    assert (
        case is None
        and "does not match the file name" in problems[0].message
        and problems[0].line == 2
    )


def test_float_versions_are_refused_with_a_hint():
    _, errors = _messages(case_text(versions="[5.10]"))
    assert any("quote versions" in m for _, m in errors)


def test_resolved_before_created():
    _, errors = _messages(case_text(extra="resolved: 2026-01-01\n"))
    assert any("before the created date" in m for _, m in errors)


def test_duplicate_front_matter_key():
    _, errors = _messages(case_text(extra="status: resolved\n"))
    assert any("duplicate field 'status'" in m for _, m in errors)


def test_invalid_yaml_points_at_the_line():
    text = "---\nid: ESC-2026-0001\ntitle: [oops\nstatus: resolved\n---\n## Symptoms\nx\n"
    _, errors = _messages(text)
    assert errors and errors[0][0] in (3, 4) and "invalid YAML" in errors[0][1]


def test_missing_front_matter():
    _, errors = _messages("## Symptoms\nx\n")
    assert errors[0] == (1, "missing YAML front matter (the file must start with a '---' line)")


def test_cause_is_asked_for_by_its_heading():
    _, errors = _messages(case_text(cause=""))
    assert [m for _, m in errors] == ["missing required section '原因 / Cause'"]


@pytest.mark.parametrize(
    "text, hint",
    [
        (" " + case_text(), "line 1 is ' ---'"),  # a space before the opening '---'
        ("\n" + case_text(), "its '---' is on line 2"),  # a blank first line
        (case_text().replace("---\n## Symptoms", "## Symptoms", 1), "no closing '---' line"),
    ],
)
def test_front_matter_that_is_not_recognised_is_reported_as_front_matter_not_as_headings(
    text, hint
):
    case, problems = check_case_text(text, "ESC-2026-0001.md", expected_id="ESC-2026-0001")
    assert case is None
    front = [p for p in problems if "front matter" in p.message]
    assert len(front) == 1 and front[0].line == 1 and front[0].is_error and hint in front[0].message
    messages = " | ".join(p.message for p in problems)
    assert "unknown section heading" not in messages and "text before the first" not in messages
    assert "missing required field" not in messages  # no noise after the front matter error
    assert all(
        p.message != "missing required section '症状 / Symptoms'" for p in problems
    )  # the sections are still read


def test_unknown_heading_is_a_warning_and_text_is_kept():
    case, problems = check_case_text(
        case_text() + "\n## Timeline\n10:00 call\n", "ESC-2026-0001.md"
    )
    assert case.id == "ESC-2026-0001" and not any(p.is_error for p in problems)
    assert any(
        p.severity == "warning" and "unknown section heading 'Timeline'" in p.message
        for p in problems
    )
    assert "10:00 call" in case.body_text


def test_file_level_checks():
    assert decode_case_bytes(b"x", "a.txt", 1000)[1][0].message.startswith(
        "not a Markdown case file"
    )
    assert "file too large" in decode_case_bytes(b"x" * 2000, "a.md", 1000)[1][0].message
    text, problems = decode_case_bytes(b"---\nok\n\xe9t\xe9\n", "a.md", 1000)
    assert text is None and problems[0].line == 3 and "invalid UTF-8" in problems[0].message
    assert decode_case_bytes("\ufeff---\n".encode(), "a.md", 1000) == (
        "\ufeff---\n",
        [],
    )  # decoded, no problem


def test_crlf_and_bom_are_accepted():
    text = "\ufeff" + case_text().replace("\n", "\r\n")
    assert parse_case(text, "ESC-2026-0001.md").title == "Recurring events fail with SCH-13208"


def test_parse_case_raises_with_all_errors():
    with pytest.raises(CaseFormatError) as err:
        parse_case(case_text(status="fixed", visibility="nope"))
    assert len(err.value.problems) == 2
