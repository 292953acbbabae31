"""The case editor's composition: drafts (:mod:`kb.drafts`) checked against the store, the
searcher and the author's role, then saved and reindexed.

:func:`check_draft` turns a :class:`~kb.drafts.Draft` into the case file text and reports, per
form control, what ``kb lint`` would say (in the UI language, from each problem's code), the
sensitive data it holds, a preview made by the case page's renderer and the existing cases it
resembles; it asks the store, never the cases folder. :func:`save_draft` writes the case with
:mod:`kb.authoring` and reindexes (:func:`indexer.jobs.reindex_after_save`).

Nothing here may tell an author whether a case they cannot read exists: a new case gets its id
from the server when it is saved (no id is proposed, an id sent with a new draft is ignored),
related ids and ids named in the text are judged only against the cases the author may read, and
in the edit form a related id the author cannot open is kept hidden whether or not a case has it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from indexer.jobs import reindex_after_save
from indexer.searcher import Hit, SearchRequest
from kb import drafts, history
from kb.authoring import create_case_file, git_author, save_case_file
from kb.case import VISIBILITIES, Case
from kb.corpus import case_file_ids
from kb.drafts import (
    EXTRA,
    GENERAL,
    SECTIONS,
    Draft,
    EditTarget,  # noqa: F401
    has_section_heading,
    line_in_control,
    line_owners,
    previews,
    problem_control,
    similar_query,
    split_list,
    unreadable_citations,
    with_hidden_related,
)
from kb.errors import CaseFormatError, IndexNotReadyError, NotFoundError, Problem
from kb.parse import check_case_text, read_case_file
from kb.roles import can_read_case, sees_everything, visibilities_for
from kb.sensitive import scan_text
from webui.i18n import MESSAGES, translate
from webui.service import KB, visible_case

log = logging.getLogger(__name__)

SIMILAR_LIMIT = 5
ID_ALLOWANCE = (
    80  # bytes the id line adds to a new case when it is saved (the size check counts them)
)
MENTIONS_SHOWN = 10  # ids named in one warning


def section_prompts(lang: str) -> dict[str, str]:
    """What to write in each section, in ``lang``: the case template's prompts, else the UI's."""
    prompts = dict(drafts.section_prompts(lang))
    for name in SECTIONS:
        if name not in prompts and f"editor.prompt.{name}" in MESSAGES:
            prompts[name] = translate(f"editor.prompt.{name}", lang)
    return prompts


# -- reading what exists -------------------------------------------------------------------------------


def existing_ids(kb: KB) -> set[str]:
    """Every case id in use: the store's and the case files' (a file owns its id before it is indexed).

    Whatever their visibility: only the id allocator may use this (when a new case is saved), never an
    answer to a user.
    """
    return kb.store.case_ids() | case_file_ids(kb.settings.cases_dir)


def known_values(kb: KB, role: str) -> dict[str, list[str]]:
    """Products and components of the cases ``role`` may read, most used first (form suggestions)."""
    levels = visibilities_for(role)
    return {
        column: [value for value, _ in kb.store.value_counts(column, levels)]
        for column in ("product", "component")
    }


def new_draft(kb: KB, title: str, today: date, lang: str, role: str, author: str = "") -> Draft:
    """An empty case with today's date, its author (the signed-in user, else the cases folder's
    git author) and the template's defaults (no id: it is given at save)."""
    products = known_values(kb, role)["product"]
    return Draft.blank(
        title,
        today,
        lang,
        products[0] if products else "",
        author or git_author(kb.settings.cases_dir),
    )


def signature_draft(kb: KB, draft: Draft, signature_id: str, role: str, lang: str) -> Draft:
    """``draft`` with the logs and investigation sections of a new case about a log signature (its
    sample lines scrubbed by the sensitive-data check, its template, first/last seen); raises
    :class:`QueryError` / :class:`NotFoundError` as :func:`kb.signatures.signature_report` does."""
    from kb import signatures

    report = signatures.signature_report(
        kb.searcher,
        signature_id,
        role,
        customer_domains=kb.settings.customer_domain_list,
        with_samples=True,
    )
    filled = signatures.prefill_sections(report, lang)
    return replace(
        draft,
        sections={
            **draft.sections,
            **{k: v for k, v in filled.items() if not draft.sections.get(k)},
        },
    )


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
        raise NotFoundError(
            f"cases/{case.path} no longer exists (deleted or moved since the last index)"
        )
    settings = kb.settings
    current, problems = read_case_file(
        path,
        settings.id_regex,
        settings.max_case_bytes,
        display_path=f"cases/{case.path}",
        customer_domains=settings.customer_domain_list,
    )
    if current is None:
        raise CaseFormatError([p for p in problems if p.is_error])
    hidden = unseen_related(kb, current.related, role)
    draft = Draft.from_case(current).with_related_ids(
        [c for c in current.related if c not in hidden]
    )
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
        return sum(
            1 for items in self.problems.values() for p in items if p["severity"] == severity
        )

    @property
    def has_errors(self) -> bool:
        return self.count("error") > 0

    @property
    def related(self) -> set[str]:
        return set(split_list(self.draft.fields.get("related", "")))

    def add(self, key: str, message: str, severity: str = "error", line: int | None = None) -> None:
        self.problems.setdefault(key, []).append(
            {"message": message, "severity": severity, "line": line}
        )


def lint_message(problem: Problem, lang: str) -> str:
    """A kb problem said in ``lang`` from its code and args (``lint.<code>``), else kb's English message."""
    key = f"lint.{problem.code}"
    if key not in MESSAGES:
        return problem.message
    args = dict(problem.args)
    if "kind" in args:
        args["kind"] = kind_label(str(args["kind"]), lang)
    return translate(key, lang, **args)


def kind_label(kind: str, lang: str) -> str:
    key = f"sensitive.{kind}"
    return translate(key, lang) if key in MESSAGES else kind


def check_draft(
    kb: KB, draft: Draft, role: str, lang: str, original_id: str | None = None, lint: bool = True
) -> DraftCheck:
    """Lint, sensitive data, preview and similar cases for a draft.

    ``original_id`` is the case being edited (None for a new case). With ``lint=False`` only the
    preview and the similar cases are made (a fresh form does not start full of complaints).
    The id is the edited case's, or none for a new case (whatever the draft says): the server
    gives a new case its id when it is saved.
    """
    settings = kb.settings
    draft = draft.with_id(original_id or "")
    text = draft.to_text()
    check = DraftCheck(draft, text)
    case_id = draft.case_id
    path = f"{case_id or 'new-case'}.md"
    check.previews = previews(text, path)
    check.similar = similar_cases(kb, draft, role, exclude=(original_id,) if original_id else ())
    if not lint:
        return check
    check.linted = True
    _, problems = check_case_text(
        text,
        path,
        settings.id_regex,
        expected_id=case_id or None,
        customer_domains=settings.customer_domain_list,
    )
    owners = line_owners(draft, text)
    for problem in problems:
        if original_id is None and problem.field == "id":
            continue  # "missing required field 'id'": a new case gets its id when it is saved
        key = problem_control(problem, owners)
        message = lint_message(problem, lang)
        at = line_in_control(problem.line, key, owners, draft)
        if at is not None:
            message = translate("editor.at_line", lang, line=at, message=message)
        check.add(key, message, problem.severity, problem.line)
    _editor_problems(kb, check, role, lang, original_id)
    for key, value in draft.controls().items():
        for finding in scan_text(value, settings.customer_domain_list):
            check.findings.append(
                {
                    "key": key,
                    "kind": finding.kind,
                    "label": kind_label(finding.kind, lang),
                    "text": finding.text,
                    "placeholder": finding.placeholder,
                    "secret": finding.secret,
                    "line": finding.line,  # in the control's own text
                    "at": translate("editor.line", lang, line=finding.line)
                    if key in (*SECTIONS, EXTRA)
                    else "",
                }
            )
    return check


def _editor_problems(
    kb: KB, check: DraftCheck, role: str, lang: str, original_id: str | None
) -> None:
    """What only the editor checks: section structure, visibility, ids its readers cannot open, file size."""
    draft = check.draft
    for name in SECTIONS:
        if has_section_heading(draft.sections.get(name, "")):
            check.add(name, translate("editor.h2_in_section", lang))
    visibility = draft.fields.get("visibility", "")
    if visibility in VISIBILITIES and visibility not in visibilities_for(role):
        check.add("visibility", translate("editor.visibility_forbidden", lang))
    _unreadable_id_warnings(kb, check, role, lang)
    size = len(check.text.encode("utf-8")) + (ID_ALLOWANCE if original_id is None else 0)
    if size > kb.settings.max_case_bytes:
        check.add(
            GENERAL,
            translate("editor.too_large", lang, size=size, limit=kb.settings.max_case_bytes),
        )


def _unreadable_id_warnings(kb: KB, check: DraftCheck, role: str, lang: str) -> None:
    """Warn about ids the author, or some readers of the draft, cannot open (:func:`kb.drafts.unreadable_citations`)."""

    def readable(ids: list[str]) -> dict[str, str]:
        return {
            cid: case.visibility
            for cid, case in kb.store.get_cases(ids).items()
            if can_read_case(case, role)
        }

    for key, kind, ids in unreadable_citations(
        check.draft, kb.settings.id_regex, readable, visibilities_for(role)
    ):
        shown = ", ".join(ids[:MENTIONS_SHOWN]) + (" …" if len(ids) > MENTIONS_SHOWN else "")
        check.add(key, translate(f"editor.{kind}_unreadable", lang, ids=shown), "warning")


def similar_cases(
    kb: KB, draft: Draft, role: str, exclude: tuple[str, ...] = (), limit: int = SIMILAR_LIMIT
) -> list[Hit]:
    """The existing cases most like the draft (hybrid search, visibility enforced by the searcher)."""
    query = similar_query(draft)
    if not query:
        return []
    try:
        return kb.searcher.search(
            SearchRequest(text=query, role=role, limit=limit, exclude=exclude, judge=False)
        ).hits
    except IndexNotReadyError:
        return []


# -- saving --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SaveResult:
    """A saved case and whether it is searchable yet (``index`` is ``done``, ``busy`` or ``failed``)."""

    case_id: str
    path: Path
    index: str
    indexed: bool
    commit: str | None = (
        None  # the commit of this save, where the cases folder is a git working copy
    )


def save_draft(
    kb: KB,
    check: DraftCheck,
    target: EditTarget | None,
    base_hash: str | None,
    index_wait: float = 0,
    author: history.Person | None = None,
    summary: str = "",
) -> SaveResult:
    """Write a checked draft and reindex.

    A new case (``target`` None) gets the next free id now and never replaces another case (an id
    taken meanwhile is skipped; :class:`~kb.errors.IdUnavailableError` when no id can be given). An
    edit is refused with :class:`~kb.errors.ConflictError` when the file is no longer the one with
    ``base_hash``. Raises ``ValueError`` for a draft with errors (check first), and
    :class:`~kb.errors.SaveFailedError` when the file could not be written or committed (it is then
    as it was: :func:`kb.history.undone_on_failure`).

    Where the cases folder is a git working copy the save is a commit of exactly that file, by
    ``author``, with ``summary`` as its message (default: the sections changed; :mod:`kb.history`).
    """
    if check.has_errors:
        raise ValueError("a draft with errors cannot be saved")
    draft = check.draft
    repo = history.repo_for(kb.settings)
    # one writer of the working copy at a time: write, then commit, or neither
    with (
        history.writing(repo),
        history.undone_on_failure(repo, target.path if target is not None else None) as wrote,
    ):
        old_text = history.read_text(target.path) if target is not None else None
        if target is None:
            saved = create_case_file(
                kb.settings.cases_dir,
                lambda: existing_ids(kb),
                kb.settings.id_regex,
                date.today(),
                lambda case_id: draft.with_id(case_id).to_text(),
            )
            draft = draft.with_id(saved.path.stem)
        else:
            text = (
                with_hidden_related(draft, target).to_text()
                if target.hidden_related
                else check.text
            )
            saved = save_case_file(
                target.path.parent, target.path.stem, text, base_hash or "unknown"
            )
        wrote(saved.path)
        commit = history.commit_save(repo, saved.path, draft.case_id, old_text, author, summary)
    if commit is not None and kb.settings.git_sync_after_save:
        history.sync_in_background(kb.settings)
    index = reindex_after_save(kb.settings, saved.path.name, wait=index_wait)
    if index == "busy":
        log.info(
            "saved %s; another reindex is running, the case is indexed right after it", saved.path
        )
    stored = kb.store.get_case(draft.case_id)
    return SaveResult(
        draft.case_id,
        saved.path,
        index,
        stored is not None and stored.content_hash == saved.content_hash,
        commit,
    )
