"""One error hierarchy for the whole product.

Every error the user can cause derives from :class:`KBError`. Case-format problems carry
the path, line and field so the CLI can print ``file:line: message`` and the API can build
its JSON from the same object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

from kb.messages import MESSAGES, render


@dataclass(frozen=True)
class Problem:
    """One problem found in one file: where it is, a stable ``code`` and the ``args`` that fill it.

    ``message`` is the English text rendered from the code (:mod:`kb.messages`); a UI says the
    code in its own language from ``code`` and ``args``, never by reading the message.
    """

    path: str
    line: int | None
    code: str
    args: dict[str, Any] = dc_field(default_factory=dict, hash=False)
    field: str | None = None
    severity: str = "error"  # "error" | "warning"

    def __post_init__(self) -> None:
        if self.code not in MESSAGES:
            raise ValueError(f"unknown problem code {self.code!r}")

    @property
    def message(self) -> str:
        return render(self.code, self.args)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        prefix = "" if self.is_error else "warning: "
        return f"{where}: {prefix}{self.message}"

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "field": self.field,
            "code": self.code,
            "args": dict(self.args),
            "message": self.message,
            "severity": self.severity,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Problem:
        """A problem read back from :meth:`to_dict` (as the store keeps it). A problem stored before
        problems had codes, or with a code this version does not know, keeps its stored message
        under the code ``legacy``."""
        line, field, severity = (
            data.get("line"),
            data.get("field"),
            str(data.get("severity", "error")),
        )
        code, args = data.get("code"), data.get("args")
        if isinstance(code, str) and code in MESSAGES and isinstance(args, dict):
            try:
                render(code, args)
                return cls(str(data["path"]), line, code, dict(args), field, severity)
            except (KeyError, IndexError, ValueError, TypeError):
                pass  # args this version cannot render: keep the stored words
        return cls(
            str(data["path"]),
            line,
            "legacy",
            {"message": str(data.get("message", ""))},
            field,
            severity,
        )


class KBError(Exception):
    """Base class of every error Escalation KB raises on purpose."""

    status = 500
    says_why = False  # a server-side error (status >= 500) whose message may be shown as it is

    def to_dict(self) -> dict[str, object]:
        return {"ok": False, "error": str(self), "status": self.status}


class ConfigError(KBError):
    """Settings could not be loaded; ``problems`` lists every bad key."""

    status = 500

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


class CaseFormatError(KBError):
    """A case file cannot be used; ``problems`` holds every problem found in it."""

    status = 422

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    @classmethod
    def single(
        cls, path: str | Path, line: int | None, code: str, field: str | None = None, **args: Any
    ) -> CaseFormatError:
        return cls([Problem(str(path), line, code, args, field)])

    def to_dict(self) -> dict[str, object]:
        data = super().to_dict()
        data["problems"] = [p.to_dict() for p in self.problems]
        return data


class FieldError(KBError):
    """A user's mistake in one named field (``field``: the parameter or form field, when known)."""

    status = 400

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message)

    def to_dict(self) -> dict[str, object]:
        data = super().to_dict()
        if self.field:
            data["field"] = self.field
        return data


class QueryError(FieldError):
    """A search request is malformed (bad filter value, bad limit...)."""

    status = 400


class NotFoundError(KBError):
    """A case, generation or file that was asked for does not exist."""

    status = 404


class IndexNotReadyError(KBError):
    """No index generation has been published yet."""

    status = 503
    says_why = True


class SaveFailedError(KBError):
    """A case file could not be written or committed (git refused or timed out, the disk is full):
    the file was put back as it was, so nothing half-saved is left. The message names the file and
    is safe to show; ``detail`` holds what git or the system said (for the log)."""

    status = 503
    says_why = True

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class ReindexBusyError(KBError):
    """Another reindex holds the lock."""

    status = 409


class InvalidInputError(FieldError):
    """A value the user gave cannot be used (an invalid case id, an unknown template language...)."""

    status = 422


class ConflictError(KBError):
    """The file changed (or exists) since the editor loaded it."""

    status = 409


class IdUnavailableError(KBError):
    """No free case id can be given now: the id pattern is used up or cannot be continued from the
    ids there are, or other writers took every candidate meanwhile (pass an id, or try again)."""

    status = 409


class AuthError(KBError):
    """Wrong name, password or token; deliberately vague so it does not tell which."""

    status = 401


class AccountError(KBError):
    """A bad account-management request (unknown role, weak password, duplicate name...)."""

    status = 400


class GitError(KBError):
    """A git command on the cases repository failed (a server fault); ``output`` holds the end of what it said."""

    status = 500

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(f"{message}: {output}" if output else message)
        self.output = output
