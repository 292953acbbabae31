"""The case editor's logic: form values <-> drafts, live checks and the safe save.

A :class:`Draft` is what the form holds (plain strings). :func:`check_draft` turns it into the
case file text with :func:`kb.authoring.case_markdown` and reports, per form control, what
``kb lint`` would say, the sensitive data it holds, a preview made by the case page's renderer and
the existing cases it resembles. :func:`save_draft` writes it with
:func:`kb.authoring.save_case_file` and reindexes so the case is searchable at once.

Nothing here may tell an author whether a case they cannot read exists: a new case gets its id
from the server when it is saved (no id is proposed, an id sent with a new draft is ignored),
related ids and ids named in the text are judged only against the cases the author may read, and
in the edit form a related id the author cannot open is kept hidden whether or not a case has it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy import select

from indexer.searcher import Hit, SearchRequest
from kb.authoring import (create_case_file, case_markdown, git_author, mentioned_ids, save_case_file, template,
                          unreadable_mentions)
from kb.case import VISIBILITIES, Case
from kb.corpus import find_case_files
from kb.errors import CaseFormatError, IndexNotReadyError, NotFoundError, Problem, QueryError, ReindexBusyError
from kb.headings import SECTION_LABELS, SECTION_ORDER, canonical_section
from kb.parse import check_case_text, read_case_file, split_sections
from indexer.jobs import run_index
from kb.render import markdown_renderer, render_markdown
from kb.roles import can_read_case, reader_levels, sees_everything, visibilities_for
from kb.settings import Settings
from kb.sensitive import redact, scan_text
from kb.store import CaseRow
from webui.i18n import MESSAGES, translate
from webui.service import KB, visible_case

log = logging.getLogger(__name__)

FORM_FIELDS = ("id", "title", "status", "product", "versions", "fixed_in", "component", "severity", "tags",
               "error_codes", "visibility", "origin", "created", "resolved", "review_by", "authors", "related")
LIST_FIELDS = frozenset({"versions", "tags", "error_codes", "authors", "related"})
SECTIONS = SECTION_ORDER
EXTRA = "extra"      # sections under headings the editor does not know, kept verbatim
GENERAL = "general"  # problems that belong to no single control
HEADING_LANGS = ("ja", "en")
MAX_FIELD_CHARS = 1000
SIMILAR_LIMIT = 5
SIMILAR_QUERY_CHARS = 2000
FOLLOW_UP_WAIT_S = 3600  # how long a save made during a reindex waits to index itself after it
ID_ALLOWANCE = 80  # bytes the id line adds to a new case when it is saved (the size check counts them)
MENTIONS_SHOWN = 10  # ids named in one warning
_LIST_SEPARATORS = re.compile(r"[,、，\n]")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def split_list(text: str) -> list[str]:
    """``"5.9, 5.10"`` -> ``["5.9", "5.10"]`` (commas, Japanese commas or new lines; empties and repeats dropped)."""
    return list(dict.fromkeys(item.strip() for item in _LIST_SEPARATORS.split(text) if item.strip()))


# -- drafts ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Draft:
    """The editor form as plain text: front-matter fields, section bodies and the heading language."""

    fields: Mapping[str, str]
    sections: Mapping[str, str]
    heading_lang: str = "ja"
    extra: str = ""
    content_lang: str = ""  # the optional ``lang`` field of an edited case, kept as it was

    @classmethod
    def from_values(cls, fields: Mapping[str, object], sections: Mapping[str, object], heading_lang: object = "ja",
                    extra: object = "", content_lang: object = "") -> "Draft":
        """A draft from untrusted values; raises :class:`QueryError` naming a value that is not text."""
        clean_fields = {name: _one_line(_text(fields.get(name), name), name) for name in FORM_FIELDS}
        clean_sections = {name: _text(sections.get(name), name) for name in SECTIONS}
        lang = heading_lang if heading_lang in HEADING_LANGS else "ja"
        kept_lang = _text(content_lang, "content_lang").strip()
        return cls(clean_fields, clean_sections, str(lang), _text(extra, EXTRA), kept_lang if kept_lang in HEADING_LANGS else "")

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> "Draft":
        """A draft from the editor's HTML form (sections are named ``section_<name>``)."""
        return cls.from_values({name: form.get(name, "") for name in FORM_FIELDS},
                               {name: form.get(f"section_{name}", "") for name in SECTIONS},
                               form.get("heading_lang", "ja"), form.get("extra_sections", ""), form.get("content_lang", ""))

    @classmethod
    def from_json(cls, data: object) -> "Draft":
        """A draft from the JSON body ``{"fields": {...}, "sections": {...}, "heading_lang": "ja"}``."""
        if not isinstance(data, dict):
            raise QueryError("the body must be a JSON object with fields and sections")
        fields, sections = data.get("fields") or {}, data.get("sections") or {}
        if not isinstance(fields, dict) or not isinstance(sections, dict):
            raise QueryError("fields and sections must be JSON objects", "fields" if not isinstance(fields, dict) else "sections")
        return cls.from_values(fields, sections, data.get("heading_lang", "ja"), data.get("extra") or "",
                               data.get("content_lang") or "")

    @classmethod
    def from_case(cls, case: Case) -> "Draft":
        """The form for an existing case: every field as written, so saving it unchanged keeps the case."""
        declared = case.meta.get("error_codes")
        codes = [str(c).strip() for c in (declared if isinstance(declared, list) else [declared] if declared else [])]
        fields = {
            "id": case.id, "title": case.title, "status": case.status, "product": case.product,
            "versions": ", ".join(case.versions), "fixed_in": case.fixed_in or "", "component": case.component,
            "severity": case.severity or "", "tags": ", ".join(case.tags), "error_codes": ", ".join(dict.fromkeys(c for c in codes if c)),
            "visibility": case.visibility, "origin": case.origin or "", "created": case.created.isoformat(),
            "resolved": case.resolved.isoformat() if case.resolved else "",
            "review_by": case.review_by.isoformat() if case.review_by else "",
            "authors": ", ".join(case.authors), "related": ", ".join(case.related),
        }
        sections = {s.name: s.text for s in case.sections if s.name in SECTIONS}
        extra = "\n\n".join(f"## {s.heading}\n{s.text}" for s in case.sections if s.name not in SECTIONS)
        lang = str(case.meta.get("lang") or "")
        return cls(fields, sections, heading_language(case), extra, lang if lang in HEADING_LANGS else "")

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

    def with_related(self, case_id: str) -> "Draft":
        """The draft with ``case_id`` added to its related cases (once)."""
        related = split_list(self.fields.get("related", ""))
        if case_id and case_id not in related:
            related.append(case_id)
        return replace(self, fields={**self.fields, "related": ", ".join(related)})

    def controls(self) -> dict[str, str]:
        """The free-text controls sensitive data is looked for in: the title, each section, the kept sections."""
        return {"title": self.fields.get("title", ""), **{name: self.sections.get(name, "") for name in SECTIONS}, EXTRA: self.extra}


def _text(value: object, name: str) -> str:
    """Form or JSON text with Unix line ends; :class:`QueryError` for anything that is not text."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise QueryError(f"{name} must be text", name)
    return value.replace("\r\n", "\n").replace("\r", "\n")


def _one_line(value: str, name: str) -> str:
    """A front-matter value on one line: the title keeps its inner spacing, other fields are squeezed."""
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
    """What to write in each section: the case template's ``<!-- prompts -->``, in ``lang``."""
    text = template(lang, "ESC-0000-0000", "", "", date(2000, 1, 1))
    prompts = {}
    for match in re.finditer(r"^## ([^\n]+)\n<!--\s*(.*?)\s*-->", text, re.M | re.S):
        name = canonical_section(match.group(1))
        if name:
            prompts[name] = match.group(2)
    for name in SECTIONS:
        if name not in prompts and f"editor.prompt.{name}" in MESSAGES:
            prompts[name] = translate(f"editor.prompt.{name}", lang)
    return prompts


# -- reading what exists -------------------------------------------------------------------------------

def existing_ids(kb: KB) -> set[str]:
    """Every case id in use: indexed cases and case files (a file may not be indexed yet).

    Whatever their visibility: only the id allocator may use this, never an answer to a user.
    """
    with kb.store.session() as session:
        ids = set(session.scalars(select(CaseRow.id)).all())
    if kb.settings.cases_dir.is_dir():
        files, _ = find_case_files(kb.settings.cases_dir)
        ids |= {f.stem for f in files}
    return ids


def known_values(kb: KB, role: str) -> dict[str, list[str]]:
    """Products and components of the cases ``role`` may read, most used first (form suggestions)."""
    with kb.store.session() as session:
        rows = session.execute(select(CaseRow.product, CaseRow.component)
                               .where(CaseRow.visibility.in_(visibilities_for(role)))).all()
    return {"product": [v for v, _ in Counter(r.product for r in rows).most_common()],
            "component": [v for v, _ in Counter(r.component for r in rows).most_common()]}


def new_draft(kb: KB, title: str, today: date, lang: str, role: str) -> Draft:
    """An empty case with today's date, the git author and the template's defaults (no id: it is given at save)."""
    products = known_values(kb, role)["product"]
    fields = {name: "" for name in FORM_FIELDS}
    fields.update(id="", title=" ".join(title.split()), status="resolved", severity="S3", visibility="support",
                  origin="support-inquiry", created=today.isoformat(), product=products[0] if products else "",
                  authors=git_author(kb.settings.cases_dir))
    return Draft(fields, {name: "" for name in SECTIONS}, lang if lang in HEADING_LANGS else "ja")


def signature_draft(kb: KB, draft: Draft, signature_id: str, role: str, lang: str) -> Draft:
    """``draft`` with the logs and investigation sections of a new case about a log signature (its
    sample lines scrubbed by the sensitive-data check, its template, first/last seen); raises
    :class:`QueryError` / :class:`NotFoundError` as :func:`kb.signatures.signature_report` does."""
    from kb import signatures

    report = signatures.signature_report(kb.searcher, signature_id, role, customer_domains=kb.settings.customer_domain_list,
                                         with_samples=True)
    filled = signatures.prefill_sections(report, lang)
    return replace(draft, sections={**draft.sections, **{k: v for k, v in filled.items() if not draft.sections.get(k)}})


@dataclass(frozen=True)
class EditTarget:
    """An existing case opened for editing: its file, the hash it had, and its form."""

    case_id: str
    path: Path
    base_hash: str
    draft: Draft
    related_order: tuple[str, ...] = ()  # the related ids as the file has them
    hidden_related: frozenset[str] = frozenset()  # related cases the editor's role may not see: kept, never shown


def case_file(kb: KB, case: Case) -> Path:
    """The file of an indexed case, inside the cases folder."""
    root = kb.settings.cases_dir.resolve()
    path = (root / case.path).resolve()
    if not path.is_relative_to(root):
        raise NotFoundError(f"case {case.id} has no file in the cases folder")
    return path


def open_case(kb: KB, case_id: str, role: str) -> EditTarget:
    """Read a case ``role`` may see from its file.

    Raises :class:`NotFoundError` (not visible, or the file is gone) or :class:`CaseFormatError`
    (the file has errors now: fix it where it was broken).
    """
    case = visible_case(kb, case_id, role)
    path = case_file(kb, case)
    if not path.is_file():
        raise NotFoundError(f"cases/{case.path} no longer exists (deleted or moved since the last index)")
    settings = kb.settings
    current, problems = read_case_file(path, settings.id_regex, settings.max_case_bytes,
                                       display_path=f"cases/{case.path}", customer_domains=settings.customer_domain_list)
    if current is None:
        raise CaseFormatError([p for p in problems if p.is_error])
    hidden = unseen_related(kb, current.related, role)
    draft = Draft.from_case(current)
    draft = replace(draft, fields={**draft.fields, "related": ", ".join(c for c in current.related if c not in hidden)})
    return EditTarget(case.id, path, current.content_hash, draft, tuple(current.related), hidden)


def unseen_related(kb: KB, related: tuple[str, ...], role: str) -> frozenset[str]:
    """The related ids ``role`` may not open, whether a hidden case has them or none does.

    Told apart, an id that no case has (shown) and one a hidden case has (kept out of the form)
    would say which hidden ids exist. A role that reads every level has nothing hidden from it.
    """
    if sees_everything(role):
        return frozenset()
    found = kb.store.get_cases(list(related))
    return frozenset(cid for cid in related if not can_read_case(found.get(cid), role))


def with_hidden_related(draft: Draft, target: EditTarget) -> Draft:
    """The draft with the related cases its author could not see put back where the file had them."""
    if not target.hidden_related:
        return draft
    chosen = split_list(draft.fields.get("related", ""))
    merged = [cid for cid in target.related_order if cid in target.hidden_related or cid in chosen]
    merged += [cid for cid in chosen if cid not in merged]
    return replace(draft, fields={**draft.fields, "related": ", ".join(merged)})


# -- checking ------------------------------------------------------------------------------------------

@dataclass
class DraftCheck:
    """Everything the editor shows beside a draft."""

    draft: Draft
    text: str
    problems: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    previews: list[dict[str, str]] = field(default_factory=list)
    similar: list[Hit] = field(default_factory=list)
    linted: bool = False

    def count(self, severity: str) -> int:
        return sum(1 for items in self.problems.values() for p in items if p["severity"] == severity)

    @property
    def has_errors(self) -> bool:
        return self.count("error") > 0

    @property
    def related(self) -> set[str]:
        return set(split_list(self.draft.fields.get("related", "")))

    def add(self, key: str, message: str, severity: str = "error", line: int | None = None) -> None:
        self.problems.setdefault(key, []).append({"message": message, "severity": severity, "line": line})


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


# kb lint messages said in the UI language (the rest are shown as kb wrote them).
_LINT_MESSAGES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^missing required field '"), "lint.required_field"),
    (re.compile(r"^missing required section '[^']*Resolution' \(or"), "lint.resolution_or_workaround"),
    (re.compile(r"^missing required section '"), "lint.required_section"),
    (re.compile(r"^section '.*' is empty$"), "lint.required_section"),
)
_SENSITIVE_MESSAGE = re.compile(r"^possible (?:secret|personal data) \((?P<kind>[^)]+)\): '(?P<text>.*)'; .* with (?P<placeholder>\S+)$")


def lint_message(problem: Problem, lang: str) -> str:
    """A kb problem's message in ``lang`` when the editor knows it, else as kb wrote it."""
    sensitive = _SENSITIVE_MESSAGE.match(problem.message)
    if sensitive:
        key = "lint.secret" if problem.is_error else "lint.personal"
        return translate(key, lang, kind=kind_label(sensitive["kind"], lang), text=sensitive["text"],
                         placeholder=sensitive["placeholder"])
    for pattern, key in _LINT_MESSAGES:
        if pattern.search(problem.message):
            return translate(key, lang)
    return problem.message


def kind_label(kind: str, lang: str) -> str:
    key = f"sensitive.{kind}"
    return translate(key, lang) if key in MESSAGES else kind


def _has_section_heading(body: str) -> bool:
    """Whether a section body holds a level-2 heading, which would start a new section in the file."""
    return any(t.type == "heading_open" and t.tag == "h2" for t in markdown_renderer().parse(body))


def check_draft(kb: KB, draft: Draft, role: str, lang: str, original_id: str | None = None,
                lint: bool = True) -> DraftCheck:
    """Lint, sensitive data, preview and similar cases for a draft.

    ``original_id`` is the case being edited (None for a new case). With ``lint=False`` only the
    preview and the similar cases are made (a fresh form does not start full of complaints).
    The id is the edited case's, or none for a new case (whatever the draft says): the server
    gives a new case its id when it is saved.
    """
    settings = kb.settings
    draft = replace(draft, fields={**draft.fields, "id": original_id or ""})
    text = draft.to_text()
    check = DraftCheck(draft, text)
    case_id = draft.case_id
    path = f"{case_id or 'new-case'}.md"
    sections = split_sections(text, path).sections
    md = markdown_renderer()
    check.previews = [{"name": s.name, "heading": s.heading, "html": render_markdown(s.text, md)}
                      for s in sections if s.text.strip()]
    check.similar = similar_cases(kb, draft, role, exclude=(original_id,) if original_id else ())
    if not lint:
        return check
    check.linted = True
    _, problems = check_case_text(text, path, settings.id_regex, expected_id=case_id or None,
                                  customer_domains=settings.customer_domain_list)
    owners = line_owners(draft, text)
    for problem in problems:
        if original_id is None and problem.field == "id":
            continue  # "missing required field 'id'": a new case gets its id when it is saved
        if problem.field in FORM_FIELDS or problem.field in SECTIONS:
            key = str(problem.field)
        else:
            key = owners.get(problem.line or 0, GENERAL)
        check.add(key, lint_message(problem, lang), problem.severity, problem.line)
    _editor_problems(kb, check, role, lang, original_id)
    for key, value in draft.controls().items():
        for finding in scan_text(value, settings.customer_domain_list):
            check.findings.append({"key": key, "kind": finding.kind, "label": kind_label(finding.kind, lang),
                                   "text": finding.text, "placeholder": finding.placeholder, "secret": finding.secret,
                                   "line": finding.line})
    return check


def _editor_problems(kb: KB, check: DraftCheck, role: str, lang: str, original_id: str | None) -> None:
    """What only the editor checks: section structure, visibility, ids its readers cannot open, file size."""
    draft = check.draft
    for name in SECTIONS:
        if _has_section_heading(draft.sections.get(name, "")):
            check.add(name, translate("editor.h2_in_section", lang))
    visibility = draft.fields.get("visibility", "")
    if visibility in VISIBILITIES and visibility not in visibilities_for(role):
        check.add("visibility", translate("editor.visibility_forbidden", lang))
    _unreadable_id_warnings(kb, check, role, lang)
    size = len(check.text.encode("utf-8")) + (ID_ALLOWANCE if original_id is None else 0)
    if size > kb.settings.max_case_bytes:
        check.add(GENERAL, translate("editor.too_large", lang, size=size, limit=kb.settings.max_case_bytes))


def _unreadable_id_warnings(kb: KB, check: DraftCheck, role: str, lang: str) -> None:
    """Warn about related ids the author cannot open, and about ids in the text not every reader can open.

    A related link is shown only to readers who may open it, so a related id is warned about only
    when it is not a case the author may read. An id written in the text is shown to every reader:
    it passes only when it is a case at a level every reader of this draft may read *and* the author
    may read (:func:`kb.authoring.reader_levels` of the draft's visibility, narrowed to the author's
    role). Cases the author may not see are never looked at, so a hidden case's id gets the same
    words as an id no case has: the warnings say nothing about whether a case exists.
    """
    draft, pattern = check.draft, kb.settings.id_regex
    related = [cid for cid in split_list(draft.fields.get("related", "")) if pattern.fullmatch(cid)]
    named = {key: mentioned_ids(text, pattern) for key, text in draft.controls().items() if text}
    wanted = list(dict.fromkeys(related + [cid for ids in named.values() for cid in ids]))
    if not wanted:
        return
    found = kb.store.get_cases(wanted)
    levels_of = {cid: case.visibility for cid, case in found.items() if can_read_case(case, role)}
    own = draft.case_id
    checks = [("related", related, "editor.related_unreadable", set(visibilities_for(role)))]
    every_reader = set(reader_levels(draft.fields.get("visibility", ""))) & set(visibilities_for(role))
    checks += [(key, ids, "editor.mentions_unreadable", every_reader) for key, ids in named.items()]
    for key, ids, message, readable in checks:
        unreadable = unreadable_mentions(ids, levels_of, readable, own)
        if unreadable:
            shown = ", ".join(unreadable[:MENTIONS_SHOWN]) + (" …" if len(unreadable) > MENTIONS_SHOWN else "")
            check.add(key, translate(message, lang, ids=shown), "warning")


def similar_query(draft: Draft) -> str:
    """The search text for duplicate detection: title, symptoms and error codes."""
    parts = [draft.fields.get("title", ""), draft.sections.get("symptoms", ""), " ".join(split_list(draft.fields.get("error_codes", "")))]
    return "\n".join(p.strip() for p in parts if p.strip())[:SIMILAR_QUERY_CHARS]


def similar_cases(kb: KB, draft: Draft, role: str, exclude: tuple[str, ...] = (), limit: int = SIMILAR_LIMIT) -> list[Hit]:
    """The existing cases most like the draft (hybrid search, visibility enforced by the searcher)."""
    query = similar_query(draft)
    if not query:
        return []
    try:
        return kb.searcher.search(SearchRequest(text=query, role=role, limit=limit, exclude=exclude, judge=False)).hits
    except IndexNotReadyError:
        return []


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
    return replace(draft, fields=fields, sections=sections, extra=changed.get(EXTRA, draft.extra)), replaced


# -- saving --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SaveResult:
    """A saved case and whether it is searchable yet (``index`` is ``done``, ``busy`` or ``failed``)."""

    case_id: str
    path: Path
    index: str
    indexed: bool


def save_draft(kb: KB, check: DraftCheck, target: EditTarget | None, base_hash: str | None,
               index_wait: float = 0) -> SaveResult:
    """Write a checked draft and reindex.

    A new case (``target`` None) gets the next free id now and never replaces another case (an id
    taken meanwhile is skipped; :class:`~kb.errors.KBError` when no id can be given). An edit is
    refused with :class:`~kb.authoring.ConflictError` when the file is no longer the one with
    ``base_hash``. Raises ``ValueError`` for a draft with errors (check first).
    """
    if check.has_errors:
        raise ValueError("a draft with errors cannot be saved")
    draft = check.draft
    if target is None:
        def text_for(case_id: str) -> str:
            return replace(draft, fields={**draft.fields, "id": case_id}).to_text()

        saved = create_case_file(kb.settings.cases_dir, lambda: existing_ids(kb), kb.settings.id_regex, date.today(), text_for)
        draft = replace(draft, fields={**draft.fields, "id": saved.path.stem})
    else:
        text = with_hidden_related(draft, target).to_text() if target.hidden_related else check.text
        saved = save_case_file(target.path.parent, target.path.stem, text, base_hash or "unknown")
    index = "done"
    try:
        run_index(kb.settings, wait=index_wait)
    except ReindexBusyError:
        log.info("saved %s; another reindex is running, the case is indexed right after it", saved.path)
        index_after_running(kb.settings, saved.path)
        index = "busy"
    except Exception:  # the file is saved whatever happens here: say so, never a 500
        log.exception("saved %s but the reindex failed", saved.path)
        index = "failed"
    stored = kb.store.get_case(draft.case_id)
    return SaveResult(draft.case_id, saved.path, index, stored is not None and stored.content_hash == saved.content_hash)


def index_after_running(settings: Settings, path: Path) -> threading.Thread:
    """Index once the running reindex is done (it may have read the case files before this save)."""
    def run() -> None:
        try:
            report = run_index(settings, wait=FOLLOW_UP_WAIT_S)
            log.info("indexed after the running reindex (%s): %s", path.name, report.summary())
        except Exception:  # a background thread has nobody to report to but the log
            log.exception("could not index %s after the running reindex; the next reindex will", path)

    thread = threading.Thread(target=run, name=f"kb-index-after-{path.stem}", daemon=True)
    thread.start()
    return thread
