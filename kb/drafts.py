"""The case editor's draft model: form values <-> case text, with no web framework and no store.

A :class:`Draft` is what the editor form holds (plain strings); :meth:`Draft.to_text` is the case
file it would be saved as (:func:`kb.authoring.case_markdown`). The helpers here are pure: which
form control each line of that text came from (:func:`line_owners`), the prompts of the case
template (:func:`section_prompts`), the draft with its sensitive data replaced
(:func:`redact_draft`) and the text duplicate detection searches for (:func:`similar_query`).
``webui.editor`` composes them with the store and the searcher.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from kb.authoring import FIELD_ORDER, case_markdown, mentioned_ids, template, unreadable_mentions
from kb.case import Case
from kb.errors import Problem, QueryError
from kb.headings import SECTION_LABELS, SECTION_ORDER, canonical_section
from kb.parse import split_sections
from kb.render import markdown_renderer, render_markdown
from kb.roles import reader_levels
from kb.sensitive import redact, scan_text

FORM_FIELDS = tuple(f for f in FIELD_ORDER if f != "lang")  # the language comes from the headings
LIST_FIELDS = frozenset({"versions", "tags", "error_codes", "authors", "related"})
SECTIONS = SECTION_ORDER
EXTRA = "extra"  # sections under headings the editor does not know, kept verbatim
GENERAL = "general"  # problems that belong to no single control
HEADING_LANGS = ("ja", "en")
MAX_FIELD_CHARS = 1000
SIMILAR_QUERY_CHARS = 2000
_LIST_SEPARATORS = re.compile(r"[,、，\n]")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def split_list(text: str) -> list[str]:
    """``"5.9, 5.10"`` -> ``["5.9", "5.10"]`` (commas, Japanese commas or new lines; empties and repeats dropped)."""
    return list(
        dict.fromkeys(item.strip() for item in _LIST_SEPARATORS.split(text) if item.strip())
    )


@dataclass(frozen=True)
class Draft:
    """The editor form as plain text: front-matter fields, section bodies and the heading language."""

    fields: Mapping[str, str]
    sections: Mapping[str, str]
    heading_lang: str = "ja"
    extra: str = ""
    content_lang: str = ""  # the optional ``lang`` field of an edited case, kept as it was

    @classmethod
    def from_values(
        cls,
        fields: Mapping[str, object],
        sections: Mapping[str, object],
        heading_lang: object = "ja",
        extra: object = "",
        content_lang: object = "",
    ) -> Draft:
        """A draft from untrusted values; raises :class:`QueryError` naming a value that is not text."""
        clean_fields = {
            name: _one_line(_text(fields.get(name), name), name) for name in FORM_FIELDS
        }
        clean_sections = {name: _text(sections.get(name), name) for name in SECTIONS}
        lang = heading_lang if heading_lang in HEADING_LANGS else "ja"
        kept_lang = _text(content_lang, "content_lang").strip()
        return cls(
            clean_fields,
            clean_sections,
            str(lang),
            _text(extra, EXTRA),
            kept_lang if kept_lang in HEADING_LANGS else "",
        )

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> Draft:
        """A draft from the editor's HTML form (sections are named ``section_<name>``)."""
        return cls.from_values(
            {name: form.get(name, "") for name in FORM_FIELDS},
            {name: form.get(f"section_{name}", "") for name in SECTIONS},
            form.get("heading_lang", "ja"),
            form.get("extra_sections", ""),
            form.get("content_lang", ""),
        )

    @classmethod
    def from_json(cls, data: object) -> Draft:
        """A draft from the JSON body ``{"fields": {...}, "sections": {...}, "heading_lang": "ja"}``;
        raises :class:`QueryError` for a body of another shape."""
        if not isinstance(data, dict):
            raise QueryError("the body must be a JSON object with fields and sections")
        fields, sections = data.get("fields") or {}, data.get("sections") or {}
        if not isinstance(fields, dict) or not isinstance(sections, dict):
            raise QueryError(
                "fields and sections must be JSON objects",
                "fields" if not isinstance(fields, dict) else "sections",
            )
        return cls.from_values(
            fields,
            sections,
            data.get("heading_lang", "ja"),
            data.get("extra") or "",
            data.get("content_lang") or "",
        )

    @classmethod
    def from_case(cls, case: Case) -> Draft:
        """The form for an existing case: every field as written, so saving it unchanged keeps the case."""
        declared = case.meta.get("error_codes")
        codes = [
            str(c).strip()
            for c in (declared if isinstance(declared, list) else [declared] if declared else [])
        ]
        fields = {
            "id": case.id,
            "title": case.title,
            "status": case.status,
            "product": case.product,
            "versions": ", ".join(case.versions),
            "fixed_in": case.fixed_in or "",
            "component": case.component,
            "severity": case.severity or "",
            "tags": ", ".join(case.tags),
            "error_codes": ", ".join(dict.fromkeys(c for c in codes if c)),
            "visibility": str(
                case.meta.get("visibility") or case.visibility
            ),  # as declared (a draft reads higher)
            "origin": case.origin or "",
            "created": case.created.isoformat(),
            "resolved": case.resolved.isoformat() if case.resolved else "",
            "review_by": case.review_by.isoformat() if case.review_by else "",
            "review": case.review or "",
            "authors": ", ".join(case.authors),
            "related": ", ".join(case.related),
        }
        sections = {s.name: s.text for s in case.sections if s.name in SECTIONS}
        extra = "\n\n".join(
            f"## {s.heading}\n{s.text}" for s in case.sections if s.name not in SECTIONS
        )
        lang = str(case.meta.get("lang") or "")
        return cls(
            fields, sections, heading_language(case), extra, lang if lang in HEADING_LANGS else ""
        )

    @classmethod
    def blank(
        cls, title: str, today: date, lang: str, product: str = "", author: str = ""
    ) -> Draft:
        """A new case with today's date and the template's defaults (no id: it is given when it is saved)."""
        fields = {name: "" for name in FORM_FIELDS}
        fields.update(
            id="",
            title=" ".join(title.split()),
            status="resolved",
            severity="S3",
            visibility="support",
            origin="support-inquiry",
            created=today.isoformat(),
            product=product,
            authors=author,
        )
        return cls(fields, {name: "" for name in SECTIONS}, lang if lang in HEADING_LANGS else "ja")

    @property
    def case_id(self) -> str:
        return self.fields.get("id", "")

    def front_matter(self) -> dict[str, Any]:
        """The fields for :func:`kb.authoring.case_markdown` (lists split, empty values left out)."""
        data: dict[str, Any] = {}
        for name in FORM_FIELDS:
            value = self.fields.get(name, "").strip()
            if value:
                data[name] = split_list(value) if name in LIST_FIELDS else value
        if self.content_lang:
            data["lang"] = self.content_lang
        return data

    def to_text(self) -> str:
        """The case file this draft would be saved as."""
        text = case_markdown(self.front_matter(), self.sections, self.heading_lang)
        if self.extra.strip():
            text += "\n" + self.extra.strip("\n") + "\n"
        return text

    def with_id(self, case_id: str) -> Draft:
        """The draft with ``case_id`` as its id."""
        return replace(self, fields={**self.fields, "id": case_id})

    def with_related_ids(self, related: list[str]) -> Draft:
        """The draft with exactly ``related`` as its related cases."""
        return replace(self, fields={**self.fields, "related": ", ".join(related)})

    def with_related(self, case_id: str) -> Draft:
        """The draft with ``case_id`` added to its related cases (once)."""
        related = split_list(self.fields.get("related", ""))
        if case_id and case_id not in related:
            related.append(case_id)
        return replace(self, fields={**self.fields, "related": ", ".join(related)})

    def controls(self) -> dict[str, str]:
        """The free-text controls sensitive data is looked for in: the title, each section, the kept sections."""
        return {
            "title": self.fields.get("title", ""),
            **{name: self.sections.get(name, "") for name in SECTIONS},
            EXTRA: self.extra,
        }


def _text(value: object, name: str) -> str:
    """Form or JSON text with Unix line ends; :class:`QueryError` for anything that is not text."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise QueryError(f"{name} must be text", name)
    return value.replace("\r\n", "\n").replace("\r", "\n")


def _one_line(value: str, name: str) -> str:
    """A front-matter value on one line: the title keeps its inner spacing, other fields are squeezed;
    raises :class:`QueryError` for a value over :data:`MAX_FIELD_CHARS`."""
    value = value.replace("\n", " ").strip() if name == "title" else " ".join(value.split())
    if len(value) > MAX_FIELD_CHARS:
        raise QueryError(f"{name} is longer than {MAX_FIELD_CHARS} characters", name)
    return value


def heading_language(case: Case) -> str:
    """``ja`` when the case's first section heading is written in Japanese, else ``en``."""
    first = next((s.heading for s in case.sections), None)
    if first is None:
        return case.lang if case.lang in HEADING_LANGS else "ja"
    return "ja" if _CJK.search(first.replace("／", "/").split("/")[0]) else "en"


@lru_cache(maxsize=2)
def section_prompts(lang: str) -> dict[str, str]:
    """What to write in each section: the case template's ``<!-- prompts -->``, in ``lang``
    (sections the template has no prompt for are absent)."""
    text = template(lang, "ESC-0000-0000", "", "", date(2000, 1, 1))
    prompts = {}
    for match in re.finditer(r"^## ([^\n]+)\n<!--\s*(.*?)\s*-->", text, re.M | re.S):
        name = canonical_section(match.group(1))
        if name:
            prompts[name] = match.group(2)
    return prompts


@dataclass(frozen=True)
class EditTarget:
    """An existing case opened for editing: its file, the hash it had, and its form."""

    case_id: str
    path: Path
    base_hash: str
    draft: Draft
    related_order: tuple[str, ...] = ()  # the related ids as the file has them
    hidden_related: frozenset[str] = (
        frozenset()
    )  # related cases the editor's role may not see: kept, never shown


def with_hidden_related(draft: Draft, target: EditTarget) -> Draft:
    """The draft with the related cases its author could not see put back where the file had them."""
    if not target.hidden_related:
        return draft
    chosen = split_list(draft.fields.get("related", ""))
    merged = [cid for cid in target.related_order if cid in target.hidden_related or cid in chosen]
    merged += [cid for cid in chosen if cid not in merged]
    return replace(draft, fields={**draft.fields, "related": ", ".join(merged)})


def line_owners(draft: Draft, text: str) -> dict[int, str]:
    """Which form control each line of ``text`` (1-based) came from: a field, a section, or ``general``."""
    lines = text.split("\n")
    owners: dict[int, str] = {}
    if lines and lines[0] == "---":
        for number, line in enumerate(lines[1:], start=2):
            if line == "---":
                break
            key = line.split(":", 1)[0]
            owners[number] = key if key in FORM_FIELDS else GENERAL
    position = 0
    for name in SECTIONS:
        body = (draft.sections.get(name) or "").strip("\n")
        if not body.strip():
            continue
        ja, en = SECTION_LABELS[name]
        block = f"## {ja if draft.heading_lang == 'ja' else en}\n{body}\n"
        found = text.find(block, position)
        if found < 0:
            continue
        first = text.count("\n", 0, found) + 1
        for number in range(first, first + block.count("\n")):
            owners[number] = name
        position = found + len(block)
    if draft.extra.strip():
        start = text.find(draft.extra.strip("\n"), position)
        if start >= 0:
            first = text.count("\n", 0, start) + 1
            for number in range(first, len(lines) + 1):
                owners[number] = EXTRA
    return owners


def line_in_control(line: int | None, key: str, owners: dict[int, str], draft: Draft) -> int | None:
    """Which line of a section's text box, or of the box of other sections, (1-based) the case
    text's ``line`` is, so a problem deep in a pasted log can be found; None for one-line fields,
    headings and lines of no control."""
    if not line or key not in (*SECTIONS, EXTRA) or owners.get(line) != key:
        return None
    first = min(number for number, owner in owners.items() if owner == key)
    typed = draft.extra if key == EXTRA else draft.sections.get(key) or ""
    stripped = len(typed) - len(typed.lstrip("\n"))  # blank lines the case text does not keep
    if key == EXTRA:  # the box's text starts at its first owned line
        return line - first + 1 + stripped
    return (line - first + stripped) or None  # a section's first owned line is its heading


def problem_control(problem: Problem, owners: dict[int, str]) -> str:
    """The form control a lint problem belongs to: its field or section, else the owner of its line."""
    if problem.field in FORM_FIELDS or problem.field in SECTIONS:
        return str(problem.field)
    return owners.get(problem.line or 0, GENERAL)


def previews(text: str, path: str) -> list[dict[str, str]]:
    """Each non-empty section of a case text rendered as the case page renders it."""
    md = markdown_renderer()
    return [
        {"name": s.name, "heading": s.heading, "html": render_markdown(s.text, md)}
        for s in split_sections(text, path).sections
        if s.text.strip()
    ]


def cited_ids(draft: Draft, pattern: re.Pattern[str]) -> tuple[list[str], dict[str, list[str]]]:
    """The case ids a draft names: its related ids (those shaped like ids) and, per control, the ids in its text."""
    related = [cid for cid in split_list(draft.fields.get("related", "")) if pattern.fullmatch(cid)]
    return related, {
        key: mentioned_ids(text, pattern) for key, text in draft.controls().items() if text
    }


def unreadable_citations(
    draft: Draft,
    pattern: re.Pattern[str],
    readable_cases: Callable[[list[str]], Mapping[str, str]],
    author_levels: Iterable[str],
) -> list[tuple[str, str, list[str]]]:
    """The ids a draft names that its author, or some of its readers, cannot open:
    ``(control, "related" | "mentions", ids)`` for each control with any.

    ``readable_cases(ids)`` maps those of ``ids`` that are cases the author may read to their
    visibility: cases the author may not see are never looked at, so a hidden case's id is
    treated exactly like an id no case has, and the answer says nothing about whether it exists.
    A related link is shown only to readers who may open it, so a related id is named only when it
    is not a case the author may read. An id written in the text is shown to every reader: it
    passes only when it is a case at a level every reader of this draft may read *and* the author
    may read (:func:`kb.roles.reader_levels` of the draft's visibility, narrowed to ``author_levels``).
    """
    related, named = cited_ids(draft, pattern)
    wanted = list(dict.fromkeys(related + [cid for ids in named.values() for cid in ids]))
    if not wanted:
        return []
    levels_of = readable_cases(wanted)
    author = set(author_levels)
    every_reader = set(reader_levels(draft.fields.get("visibility", ""))) & author
    checks = [("related", "related", related, author)] + [
        (key, "mentions", ids, every_reader) for key, ids in named.items()
    ]
    found = [
        (key, kind, unreadable_mentions(ids, levels_of, readable, draft.case_id))
        for key, kind, ids, readable in checks
    ]
    return [(key, kind, ids) for key, kind, ids in found if ids]


def has_section_heading(body: str) -> bool:
    """Whether a section body holds a level-2 heading, which would start a new section in the file."""
    return any(t.type == "heading_open" and t.tag == "h2" for t in markdown_renderer().parse(body))


def similar_query(draft: Draft) -> str:
    """The search text for duplicate detection: title, symptoms and error codes."""
    parts = [
        draft.fields.get("title", ""),
        draft.sections.get("symptoms", ""),
        " ".join(split_list(draft.fields.get("error_codes", ""))),
    ]
    return "\n".join(p.strip() for p in parts if p.strip())[:SIMILAR_QUERY_CHARS]


def redact_draft(draft: Draft, customer_domains: tuple[str, ...]) -> tuple[Draft, int]:
    """The draft with every sensitive finding replaced by its placeholder (:func:`kb.sensitive.redact`)."""
    replaced = 0
    changed: dict[str, str] = {}
    for key, value in draft.controls().items():
        findings = scan_text(value, customer_domains)
        if findings:
            changed[key] = redact(value, findings)
            replaced += len(findings)
    if not replaced:
        return draft, 0
    fields = {**draft.fields, "title": changed.get("title", draft.fields.get("title", ""))}
    sections = {name: changed.get(name, draft.sections.get(name, "")) for name in SECTIONS}
    return replace(
        draft, fields=fields, sections=sections, extra=changed.get(EXTRA, draft.extra)
    ), replaced
