"""One error hierarchy for the whole product.

Every error the user can cause derives from :class:`KBError`. Case-format problems carry
the path, line and field so the CLI can print ``file:line: message`` and the API can build
its JSON from the same object.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One problem found in one file: where it is and what is wrong."""

    path: str
    line: int | None
    message: str
    field: str | None = None
    severity: str = "error"  # "error" | "warning"

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
            "message": self.message,
            "severity": self.severity,
        }


class KBError(Exception):
    """Base class of every error Escalation KB raises on purpose."""

    status = 500

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
    def single(cls, path: str | Path, line: int | None, message: str, field: str | None = None) -> "CaseFormatError":
        return cls([Problem(str(path), line, message, field)])


class QueryError(KBError):
    """A search request is malformed (bad filter value, bad limit...)."""

    status = 400

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message)

    def to_dict(self) -> dict[str, object]:
        data = super().to_dict()
        if self.field:
            data["field"] = self.field
        return data


class NotFoundError(KBError):
    """A case, generation or file that was asked for does not exist."""

    status = 404


class IndexNotReadyError(KBError):
    """No index generation has been published yet."""

    status = 503


class ReindexBusyError(KBError):
    """Another reindex holds the lock."""

    status = 409
