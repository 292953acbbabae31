"""The error hierarchy: problems with stable codes, one module for every error class, a status each."""

from __future__ import annotations

import ast
import builtins
import inspect
from pathlib import Path

import pytest

from kb import errors, messages
from kb.errors import CaseFormatError, KBError, Problem
from kb.parse import check_case_text

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("kb", "indexer", "webui")

# Exception classes allowed outside kb/errors.py, each with the reason.
ALLOWED_ELSEWHERE = {
    # A private signal between two functions of the login throttle; never leaves the module.
    ("kb/accounts.py", "_Refused"),
    # HTTP request-body parsing (nesting depth, size): web-only errors, subclasses of
    # kb.errors.QueryError, so the one error handler and the JSON shape still apply.
    ("webui/body.py", "BodyError"),
    ("webui/body.py", "BodyTooLargeError"),
}

STATUSES = {
    "KBError": 500,
    "ConfigError": 500,
    "CaseFormatError": 422,
    "FieldError": 400,
    "QueryError": 400,
    "NotFoundError": 404,
    "IndexNotReadyError": 503,
    "ReindexBusyError": 409,
    "InvalidInputError": 422,
    "ConflictError": 409,
    "IdUnavailableError": 409,
    "AuthError": 401,
    "AccountError": 400,
    "GitError": 500,
    "SaveFailedError": 503,
}


@pytest.mark.parametrize(
    ("code", "args", "message"),
    [
        ("required_field", {"field": "title"}, "missing required field 'title'"),
        (
            "required_section",
            {"section": "症状 / Symptoms"},
            "missing required section '症状 / Symptoms'",
        ),
        (
            "resolution_or_workaround",
            {"resolution": "R", "workaround": "W"},
            "missing required section 'R' (or 'W')",
        ),
        ("empty_section", {"heading": "原因"}, "section '原因' is empty"),
        (
            "invalid_utf8",
            {"byte": 255, "offset": 7},
            "invalid UTF-8 (byte 0xff at offset 7); save the file as UTF-8",
        ),
        (
            "front_matter_first_line",
            {"first_line": " ---"},
            "missing YAML front matter (the file must start with a '---' line): line 1 is ' ---'; "
            "the first line must be exactly '---'",
        ),
        (
            "unquoted_number",
            {"field": "versions", "value": 5.1},
            'versions: unquoted number (read as 5.1); quote versions, e.g. "5.10", so 5.10 is not read as 5.1',
        ),
        (
            "secret",
            {"kind": "credential", "text": "password=hunter22", "placeholder": "<credential>"},
            "possible secret (credential): 'password=hunter22'; run 'kb redact' to replace it with <credential>",
        ),
        (
            "legacy",
            {"message": "whatever an older version wrote"},
            "whatever an older version wrote",
        ),
    ],
)
def test_codes_render_to_the_messages(code, args, message):
    problem = Problem("cases/a.md", 3, code, args, "f")
    assert problem.message == message
    assert str(problem) == f"cases/a.md:3: {message}"


def test_unknown_code_is_refused():
    with pytest.raises(ValueError, match="unknown problem code"):
        Problem("a.md", 1, "no_such_code")


def test_to_dict_has_code_and_args_and_reads_back():
    problem = Problem("cases/a.md", 4, "required_field", {"field": "title"}, "title")
    data = problem.to_dict()
    assert data == {
        "path": "cases/a.md",
        "line": 4,
        "field": "title",
        "code": "required_field",
        "args": {"field": "title"},
        "message": "missing required field 'title'",
        "severity": "error",
    }
    assert Problem.from_dict(data) == problem
    assert {problem, Problem.from_dict(data)} == {problem}  # hashable (sets of problems are used)


def test_a_stored_problem_without_a_code_keeps_its_message():
    old = {
        "path": "cases/a.md",
        "line": 2,
        "field": "id",
        "message": "duplicate id 'X' (also used by b.md)",
        "severity": "error",
    }
    problem = Problem.from_dict(old)
    assert (problem.code, problem.message, problem.field, problem.line) == (
        "legacy",
        old["message"],
        "id",
        2,
    )
    unknown = Problem.from_dict({**old, "code": "from_a_newer_version", "args": {}})
    assert (unknown.code, unknown.message) == ("legacy", old["message"])
    broken = Problem.from_dict(
        {**old, "code": "required_field", "args": {}}
    )  # args that cannot fill the template
    assert (broken.code, broken.message) == ("legacy", old["message"])


def test_parse_problems_carry_codes_and_args():
    text = "---\nid: ESC-2026-0001\nstatus: resolved\n---\n\n## 症状\n\n## 原因\nx\n"
    _, problems = check_case_text(text, "ESC-2026-0001.md")
    codes = {p.code for p in problems}
    assert {"required_field", "empty_section", "resolution_or_workaround"} <= codes
    title = next(p for p in problems if p.code == "required_field" and p.field == "title")
    assert title.args == {"field": "title"} and title.message == "missing required field 'title'"


def test_every_code_written_in_kb_is_in_the_catalogue():
    used: set[str] = set()
    for path in (ROOT / "kb").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = (
                node.func.id
                if isinstance(node.func, ast.Name)
                else node.func.attr
                if isinstance(node.func, ast.Attribute)
                else ""
            )
            position = {"Problem": 2, "error": 1}.get(name)
            if (
                position is not None
                and len(node.args) > position
                and isinstance(node.args[position], ast.Constant)
            ):
                used.add(node.args[position].value)
    assert len(used) > 30
    assert used - set(messages.MESSAGES) == set()


def test_every_error_class_has_its_status():
    found = {
        name: cls.status
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, KBError) and cls.__module__ == "kb.errors"
    }
    assert found == STATUSES
    user_mistakes = {name for name, status in found.items() if 400 <= status < 500}
    assert {
        "AuthError",
        "AccountError",
        "ConflictError",
        "InvalidInputError",
        "QueryError",
        "NotFoundError",
    } <= user_mistakes


def test_the_modules_raise_the_classes_of_kb_errors(tmp_path):
    from kb import accounts, authoring

    with pytest.raises(errors.AccountError) as unknown_role:
        accounts.add_user(None, "xavier", "guest", "correct horse battery")
    assert unknown_role.value.status == 400 and "unknown role 'guest'" in str(unknown_role.value)
    target = tmp_path / "ESC-2026-0001.md"
    target.write_text("old", "utf-8")
    with pytest.raises(errors.ConflictError) as conflict:
        authoring.save_case_file(tmp_path, "ESC-2026-0001", "new", "not-the-hash")
    assert conflict.value.status == 409 and target.read_text("utf-8") == "old"


def test_case_format_error_lists_its_problems():
    problems = [Problem("a.md", 1, "missing_front_matter"), Problem("a.md", None, "not_markdown")]
    data = CaseFormatError(problems).to_dict()
    assert data["status"] == 422 and data["ok"] is False
    assert data["problems"] == [p.to_dict() for p in problems]
    assert (
        data["error"]
        == "a.md:1: missing YAML front matter (the file must start with a '---' line)\n"
        "a.md: not a Markdown case file (expected a .md file)"
    )
    single = CaseFormatError.single("b.md", 2, "empty_section", "cause", heading="原因")
    assert str(single) == "b.md:2: section '原因' is empty"


def test_user_mistakes_in_authoring_are_4xx():
    import re
    from datetime import date

    from kb.authoring import next_case_id, save_case_file, template

    with pytest.raises(errors.InvalidInputError) as invalid:
        save_case_file(Path("/nonexistent"), "../x", "", None)
    assert invalid.value.status == 422
    with pytest.raises(errors.InvalidInputError):
        template("fr", "ESC-2026-0001", "", "", date(2026, 1, 1))
    with pytest.raises(errors.IdUnavailableError):
        next_case_id([], re.compile(r"[A-Z]+"), date(2026, 1, 1))


def _exception_bases(node: ast.ClassDef) -> list[str]:
    names = [
        b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else ""
        for b in node.bases
    ]
    return [
        n
        for n in names
        if n.endswith(("Error", "Exception"))
        or isinstance(getattr(builtins, n, None), type)
        and issubclass(getattr(builtins, n), BaseException)
    ]


def test_every_exception_class_lives_in_kb_errors():
    elsewhere = set()
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "kb/errors.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef) and _exception_bases(node):
                    elsewhere.add((rel, node.name))
    assert elsewhere == ALLOWED_ELSEWHERE


def test_the_api_error_of_a_case_format_error_lists_its_problems():
    from webui.errors import error_payload

    data = error_payload(
        CaseFormatError(
            [
                Problem(
                    "cases/a.md",
                    4,
                    "unknown_value",
                    {"field": "status", "value": "fixed", "choices": "resolved, workaround"},
                    "status",
                )
            ]
        )
    )
    assert (
        data["status"] == 422
        and data["error"]
        == "cases/a.md:4: unknown status 'fixed' (expected one of: resolved, workaround)"
    )
    assert [(p["code"], p["field"], p["args"]["value"]) for p in data["problems"]] == [
        ("unknown_value", "status", "fixed")
    ]
