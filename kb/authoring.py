"""Writing cases: the next free id, the template, form fields to Markdown, and a safe save."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from kb.errors import ConflictError, IdUnavailableError, InvalidInputError
from kb.headings import SECTION_LABELS, SECTION_ORDER

FIELD_ORDER = (
    "id",
    "title",
    "status",
    "product",
    "versions",
    "fixed_in",
    "component",
    "severity",
    "tags",
    "error_codes",
    "visibility",
    "origin",
    "created",
    "resolved",
    "review_by",
    "review",
    "authors",
    "related",
    "lang",
)


def next_case_id(existing: list[str], pattern: re.Pattern[str], today: date) -> str:
    """The next free id: ``ESC-<year>-<n+1>`` for the default shape, else the largest id's number + 1."""
    if pattern.pattern == r"ESC-\d{4}-\d{4}":
        numbers = [
            int(i[-4:])
            for i in existing
            if i.startswith(f"ESC-{today.year}-") and pattern.fullmatch(i)
        ]
        candidate = f"ESC-{today.year}-{max(numbers, default=0) + 1:04d}"
        if not pattern.fullmatch(candidate):
            raise IdUnavailableError(
                f"no free id left for {today.year} in the pattern {pattern.pattern}"
            )
        return candidate
    matching = sorted(
        (i for i in existing if pattern.fullmatch(i) and re.search(r"\d", i)),
        key=lambda i: int(re.findall(r"\d+", i)[-1]),
    )
    if not matching:
        raise IdUnavailableError(
            f"cannot derive the first id for pattern {pattern.pattern}; pass --id"
        )
    last = matching[-1]
    digits = re.findall(r"\d+", last)[-1]
    candidate = (
        last[: last.rfind(digits)]
        + f"{int(digits) + 1:0{len(digits)}d}"
        + last[last.rfind(digits) + len(digits) :]
    )
    if not pattern.fullmatch(candidate):
        raise IdUnavailableError(
            f"the next id {candidate} would not match {pattern.pattern}; pass --id"
        )
    return candidate


def git_author(cwd: Path | None = None) -> str:
    """A login-like author name from ``git config user.email`` / ``user.name``, or $USER."""
    for key in ("user.email", "user.name"):
        try:
            out = subprocess.run(
                ["git", "config", key], capture_output=True, text=True, timeout=5, cwd=cwd
            )
        except (OSError, subprocess.SubprocessError):
            continue
        value = out.stdout.strip()
        if value:
            return re.sub(r"[^\w.-]+", ".", value.split("@")[0].lower()).strip(".")
    return os.environ.get("USER", "unknown")


def template(
    lang: str,
    case_id: str,
    title: str,
    author: str,
    today: date,
    product: str = "tsumugi-server",
    component: str = "",
) -> str:
    """A new case file from the Japanese or English template, ready to edit."""
    if lang not in ("ja", "en"):
        raise InvalidInputError(f"unknown template language '{lang}' (ja or en)", "lang")
    text = resources.files("kb").joinpath(f"templates/case-{lang}.md").read_text("utf-8")
    values = {
        "id": case_id,
        "title": _yaml_scalar(title or ("(件名)" if lang == "ja" else "(title)")),
        "author": author,
        "today": today.isoformat(),
        "product": product,
        "component": component or "(component)",
    }
    return text.format(**values)


def _yaml_scalar(value: Any) -> str:
    dumped = yaml.safe_dump(value, allow_unicode=True, default_flow_style=True, width=1000).strip()
    return dumped[: -len("...")].strip() if dumped.endswith("...") else dumped


def case_markdown(fields: Mapping[str, Any], sections: Mapping[str, str], lang: str = "en") -> str:
    """Form values -> a case file: front matter in canonical order, sections under canonical headings."""
    lines = ["---"]
    for name in FIELD_ORDER:
        value = fields.get(name)
        if value in (None, "", [], ()):
            continue
        if isinstance(value, (list, tuple)):
            value = [str(v) for v in value]
        elif isinstance(value, date):
            value = value.isoformat()
        lines.append(f"{name}: {_yaml_scalar(value)}")
    lines.append("---")
    for name in SECTION_ORDER:
        body = (sections.get(name) or "").strip("\n")
        if body.strip():
            ja, en = SECTION_LABELS[name]
            lines += [f"## {ja if lang == 'ja' else en}", body, ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def file_hash(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class SaveResult:
    path: Path
    content_hash: str
    created: bool


def save_case_file(cases_dir: Path, case_id: str, text: str, base_hash: str | None) -> SaveResult:
    """Write ``cases/<id>.md`` atomically.

    ``base_hash`` is the hash of the file the editor started from (None for a new case). A new
    case never overwrites an existing file, and an edit is refused when the file changed since.
    """
    if not re.fullmatch(r"[\w.-]+", case_id) or case_id.startswith("."):
        raise InvalidInputError(f"invalid case id '{case_id}'", "id")
    path = cases_dir / f"{case_id}.md"
    current = file_hash(path)
    if base_hash is None and current is not None:
        raise ConflictError(f"{path} already exists: another case uses id {case_id}")
    if base_hash is not None and current != base_hash:
        raise ConflictError(
            f"{path} was changed by someone else since you opened it; reload and merge your edits"
        )
    cases_dir.mkdir(parents=True, exist_ok=True)
    # A name of its own per save: two threads saving the same id never write into one temporary file.
    fd, tmp_name = tempfile.mkstemp(dir=cases_dir, prefix=f".{case_id}.md.", suffix=".tmp")
    tmp = Path(tmp_name)
    data = text.encode("utf-8")
    try:  # the temporary file never outlives the save, written or not (a full disk)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        if base_hash is None:
            try:
                _create_exclusive(tmp, path, data)
            except FileExistsError:
                raise ConflictError(
                    f"{path} already exists: another case uses id {case_id}"
                ) from None
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return SaveResult(path, hashlib.sha256(data).hexdigest(), base_hash is None)


def _create_exclusive(tmp: Path, path: Path, data: bytes) -> None:
    """Publish ``tmp`` as ``path`` only if ``path`` does not exist (hard link; O_EXCL where links fail)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        except OSError:  # a full disk: no empty or partial new case is left
            path.unlink(missing_ok=True)
            raise


NEW_CASE_ATTEMPTS = 20


def create_case_file(
    cases_dir: Path,
    taken: Callable[[], Iterable[str]],
    pattern: re.Pattern[str],
    today: date,
    text_for: Callable[[str], str],
    attempts: int = NEW_CASE_ATTEMPTS,
) -> SaveResult:
    """Write a new case under the next free id, chosen now: ``text_for(id)`` is the file's text.

    ``taken()`` lists every id in use, whoever may read it. An id that another writer took since is
    skipped and the next one tried, so a new case never fails on an id collision (and never says
    which ids exist). Raises :class:`~kb.errors.IdUnavailableError` when no id can be derived or ``attempts`` are
    used up.
    """
    skipped: set[str] = set()
    for _ in range(attempts):
        case_id = next_case_id(sorted(set(taken()) | skipped), pattern, today)
        try:
            return save_case_file(cases_dir, case_id, text_for(case_id), None)
        except ConflictError:
            skipped.add(case_id)
    raise IdUnavailableError(f"no free case id after {attempts} attempts; try again")


# -- case ids named in a case's text ---------------------------------------------------------------

MAX_MENTIONS = 200  # ids looked up per draft: enough for any real case, bounded for a hostile one
_ID_RUN = re.compile(r"[\w.-]+")  # what a saved id can be made of (see save_case_file)


def mentioned_ids(text: str, pattern: re.Pattern[str], limit: int = MAX_MENTIONS) -> list[str]:
    """Case-id-shaped tokens in ``text`` (whole words matching ``pattern``), in order, without repeats."""
    if not pattern.pattern:
        return []
    try:
        token = re.compile(rf"(?<![\w-])(?:{pattern.pattern})(?![\w-])", pattern.flags)
        candidates = (match.group() for match in token.finditer(text))
    except re.error:  # a pattern that cannot be embedded (inline flags...): ids are runs of [\w.-]
        candidates = (word.rstrip(".-") for word in _ID_RUN.findall(text))
    found: dict[str, None] = {}
    for candidate in candidates:
        if candidate and pattern.fullmatch(candidate):
            found.setdefault(candidate)
            if len(found) >= limit:
                break
    return list(found)


def unreadable_mentions(
    mentions: Iterable[str], levels_of: Mapping[str, str], readable: Iterable[str], own_id: str = ""
) -> list[str]:
    """The mentioned ids that do not name a case at one of the ``readable`` levels.

    ``levels_of`` maps an id to its case's visibility; it must hold only cases the author may read,
    so an id the author may not see is treated exactly like an id no case has.
    """
    allowed = set(readable)
    return [cid for cid in mentions if cid != own_id and levels_of.get(cid) not in allowed]
