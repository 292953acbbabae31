"""kb.drafts: the editor's draft model, without a web app or a store."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from kb.drafts import (
    EXTRA,
    GENERAL,
    SIMILAR_QUERY_CHARS,
    Draft,
    EditTarget,
    cited_ids,
    has_section_heading,
    heading_language,
    line_owners,
    previews,
    problem_control,
    redact_draft,
    section_prompts,
    similar_query,
    split_list,
    unreadable_citations,
    with_hidden_related,
)
from kb.errors import Problem, QueryError
from kb.parse import check_case_text, parse_case

ID = re.compile(r"ESC-\d{4}-\d{4}")


def draft(**changes: str) -> Draft:
    base = Draft.blank(
        "Deleting  one occurrence fails", date(2026, 5, 1), "en", "tsumugi-server", "sakai"
    )
    fields = {
        **base.fields,
        "id": "ESC-2026-0100",
        "component": "schedule",
        **{k: v for k, v in changes.items() if not k.startswith("s_")},
    }
    sections = {
        **base.sections,
        "symptoms": "It fails with SCH-13208.",
        "cause": "Time zones.",
        "resolution": "Restart.",
        **{k[2:]: v for k, v in changes.items() if k.startswith("s_")},
    }
    return Draft(fields, sections, "en")


def test_split_list():
    assert split_list("5.9, 5.10") == ["5.9", "5.10"]
    assert split_list("a、b，c\nd, a,, ") == ["a", "b", "c", "d"]
    assert split_list("") == []


def test_blank_draft_has_the_template_defaults_and_no_id():
    blank = Draft.blank("  A   title ", date(2026, 5, 1), "fr", "p", "me")
    assert (
        blank.case_id == "" and blank.heading_lang == "ja"
    )  # an unknown language falls back to Japanese
    assert (
        blank.fields["title"],
        blank.fields["status"],
        blank.fields["visibility"],
        blank.fields["created"],
    ) == ("A title", "resolved", "support", "2026-05-01")
    assert (blank.fields["product"], blank.fields["authors"]) == ("p", "me")


def test_from_values_takes_text_only():
    clean = Draft.from_values(
        {"title": " T \n x ", "product": "a \n  b", "related": None}, {"symptoms": "line\r\nnext"}
    )
    assert (
        clean.fields["title"] == "T   x"
        and clean.fields["product"] == "a b"
        and clean.fields["related"] == ""
    )
    assert clean.sections["symptoms"] == "line\nnext"
    with pytest.raises(QueryError) as not_text:
        Draft.from_values({"title": 7}, {})
    assert not_text.value.field == "title"
    with pytest.raises(QueryError, match="longer than"):
        Draft.from_values({"product": "x" * 1001}, {})


@pytest.mark.parametrize(
    ("body", "field"),
    [([], None), ({"fields": ["x"]}, "fields"), ({"fields": {}, "sections": "x"}, "sections")],
)
def test_from_json_refuses_other_shapes(body, field):
    with pytest.raises(QueryError) as refused:
        Draft.from_json(body)
    assert refused.value.field == field


def test_to_text_is_a_lint_clean_case_that_reads_back_as_the_same_draft():
    original = draft(tags="a, b", related="ESC-2026-0002", s_extra_unused="")
    case = parse_case(original.to_text(), "ESC-2026-0100.md")
    assert (case.title, case.tags, case.related) == (
        "Deleting one occurrence fails",
        ("a", "b"),
        ("ESC-2026-0002",),
    )
    again = Draft.from_case(case)
    assert again.to_text() == original.to_text()
    assert heading_language(case) == "en"


def test_with_id_and_related():
    d = draft()
    assert d.with_id("ESC-2026-0200").case_id == "ESC-2026-0200" and d.case_id == "ESC-2026-0100"
    related = d.with_related("ESC-2026-0002").with_related("ESC-2026-0002")
    assert related.fields["related"] == "ESC-2026-0002"
    assert related.with_related_ids(["X", "Y"]).fields["related"] == "X, Y"


def test_line_owners_name_the_control_of_each_line():
    d = Draft({**draft().fields}, {**draft().sections}, "en", extra="## Notes\nfree text")
    text = d.to_text()
    owners = line_owners(d, text)
    lines = text.split("\n")
    title_line = next(n for n, line in enumerate(lines, 1) if line.startswith("title:"))
    cause_line = next(n for n, line in enumerate(lines, 1) if line == "Time zones.")
    notes_line = next(n for n, line in enumerate(lines, 1) if line == "free text")
    assert (owners[title_line], owners[cause_line], owners[notes_line]) == ("title", "cause", EXTRA)


def test_problem_control():
    owners = {4: "cause", 9: EXTRA}
    assert (
        problem_control(Problem("a.md", 2, "required_field", {"field": "title"}, "title"), owners)
        == "title"
    )
    assert problem_control(Problem("a.md", 9, "text_before_sections"), owners) == EXTRA
    assert problem_control(Problem("a.md", 30, "text_before_sections"), owners) == GENERAL
    assert problem_control(Problem("a.md", None, "no_such_path"), owners) == GENERAL


def test_section_prompts_come_from_the_template():
    for lang in ("ja", "en"):
        prompts = section_prompts(lang)
        assert prompts["symptoms"] and "<!--" not in prompts["symptoms"]
    assert section_prompts("ja")["symptoms"] != section_prompts("en")["symptoms"]


def test_redact_draft_replaces_every_finding():
    d = draft(
        s_symptoms="Mail sato@hanamura-logi.co.jp or call 03-1234-5678.", title="From 198.18.0.7"
    )
    redacted, replaced = redact_draft(d, ())
    assert replaced == 3
    assert (
        "sato@" not in redacted.sections["symptoms"]
        and "03-1234-5678" not in redacted.sections["symptoms"]
    )
    assert "198.18.0.7" not in redacted.fields["title"]
    assert redact_draft(redacted, ()) == (redacted, 0)


def test_similar_query():
    d = draft(error_codes="SCH-13208, WF-1")
    assert (
        similar_query(d)
        == "Deleting one occurrence fails\nIt fails with SCH-13208.\nSCH-13208 WF-1"
    )
    assert len(similar_query(draft(s_symptoms="x" * 5000))) == SIMILAR_QUERY_CHARS
    assert similar_query(Draft({}, {})) == ""


def test_hidden_related_go_back_where_the_file_had_them():
    target = EditTarget(
        "ESC-2026-0100", Path("x.md"), "h", draft(), ("A", "H", "B"), frozenset({"H"})
    )
    assert with_hidden_related(draft(related="B, A, C"), target).fields["related"] == "A, H, B, C"
    plain = EditTarget("ESC-2026-0100", Path("x.md"), "h", draft())
    assert with_hidden_related(draft(related="B"), plain).fields["related"] == "B"


def test_cited_ids_and_section_headings():
    d = draft(related="ESC-2026-0002, nope", s_cause="See ESC-2026-0003 and ESC-2026-0003.")
    related, named = cited_ids(d, ID)
    assert related == ["ESC-2026-0002"] and named["cause"] == ["ESC-2026-0003"]
    assert has_section_heading("text\n\n## Resolution\nsneaky") and not has_section_heading(
        "### fine\n`## not a heading`"
    )


def test_previews_render_safely():
    shown = previews(draft(s_symptoms="<script>x</script> **bold**").to_text(), "a.md")
    symptoms = next(p for p in shown if p["name"] == "symptoms")
    assert "<script" not in symptoms["html"] and "<strong>bold</strong>" in symptoms["html"]
    assert all(p["html"] for p in shown)


def test_a_draft_lints_like_a_case_file():
    _, problems = check_case_text(draft(product="").to_text(), "ESC-2026-0100.md", ID)
    assert [p.code for p in problems if p.field == "product"] == ["required_field"]


def test_unreadable_citations_judge_ids_only_against_what_the_author_may_read():
    """Related ids: cases the author may read. Ids in the text: cases every reader of the draft may read."""
    readable = {
        "ESC-2026-0001": "support",
        "ESC-2026-0003": "engineering",
    }  # what an engineer may read of these
    asked: list[list[str]] = []

    def readable_cases(ids: list[str]) -> dict[str, str]:
        asked.append(ids)
        return {cid: readable[cid] for cid in ids if cid in readable}

    engineer = ("support", "engineering")
    d = draft(
        visibility="support",
        related="ESC-2026-0003, ESC-2026-0004",
        s_cause="See ESC-2026-0001 and ESC-2026-0003.",
    )
    assert unreadable_citations(d, ID, readable_cases, engineer) == [
        ("related", "related", ["ESC-2026-0004"]),
        ("cause", "mentions", ["ESC-2026-0003"]),
    ]
    assert asked == [["ESC-2026-0003", "ESC-2026-0004", "ESC-2026-0001"]]  # one lookup for every id
    wider = draft(visibility="engineering", related="ESC-2026-0003", s_cause="See ESC-2026-0003.")
    assert unreadable_citations(wider, ID, readable_cases, engineer) == []
    own = draft(s_cause="This is ESC-2026-0100.")  # the draft's own id is never a warning
    assert unreadable_citations(own, ID, readable_cases, engineer) == []
    assert (
        unreadable_citations(draft(), ID, lambda ids: 1 / 0, engineer) == []
    )  # nothing named: nothing looked up
