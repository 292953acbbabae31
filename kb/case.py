"""What a case is: the value objects produced by the parser and used everywhere else."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

STATUSES = ("resolved", "workaround", "known-issue")
VISIBILITIES = ("support", "engineering", "restricted")
ORIGINS = ("support-inquiry", "service-incident", "internal")
SEVERITIES = ("S1", "S2", "S3", "S4")
LANGUAGES = ("ja", "en")
REVIEW_STATES = (
    "draft",
    "reviewed",
)  # the optional ``review`` field (KCS): a draft is read by engineers until reviewed


@dataclass(frozen=True)
class Section:
    """One H2 section: canonical name, the heading as written, its Markdown and first line."""

    name: str
    heading: str
    text: str
    line: int


@dataclass(frozen=True)
class Case:
    """A parsed, validated case write-up."""

    id: str
    title: str
    status: str
    product: str
    component: str
    visibility: str
    created: date
    sections: tuple[Section, ...]
    lang: str = "en"
    versions: tuple[str, ...] = ()
    fixed_in: str | None = None
    severity: str | None = None
    tags: tuple[str, ...] = ()
    error_codes: tuple[str, ...] = ()
    origin: str | None = None
    resolved: date | None = None
    review_by: date | None = None
    authors: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    # draft | reviewed; a draft's ``visibility`` is raised to engineering (kb.roles), the file's is
    # meta["visibility"]
    review: str | None = None
    path: str = ""
    content_hash: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def section(self, name: str) -> Section | None:
        """The section with this canonical name, or None."""
        return next((s for s in self.sections if s.name == name), None)

    def section_text(self, name: str) -> str:
        found = self.section(name)
        return found.text if found else ""

    @property
    def resolution_text(self) -> str:
        """Resolution, else workaround: what support applies."""
        return self.section_text("resolution") or self.section_text("workaround")

    @property
    def body_text(self) -> str:
        """All section text in file order."""
        return "\n\n".join(s.text for s in self.sections)
