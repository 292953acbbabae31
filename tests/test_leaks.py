"""No route tells a role whether a case it may not see exists (issue 17): for every route that
takes a case id, the answer for a hidden case's id is the answer for an id nobody uses, byte for
byte once the id itself and per-response tokens are blanked. Asked by login session and by API
token, as support (engineering and restricted cases hidden) and as engineer (restricted hidden)."""

from __future__ import annotations

import re

import pytest
from worlds import signed_in


@pytest.fixture
def app(accounts_app):
    """This module's app: the web world in accounts mode (conftest's ``accounts_app``, on ``world``)."""
    return accounts_app


MISSING = "ESC-2026-0777"
HIDDEN = {"support": ("ESC-2026-0004", "ESC-2026-0005"), "engineer": ("ESC-2026-0005",)}
USER = {"support": "sato", "engineer": "kato"}
_TOKENS = re.compile(r"[A-Za-z0-9_\-.]{24,}")  # csrf tokens, nonces, search tokens


def _probes(case_id: str) -> list[tuple[str, str, dict]]:
    """(method, url, request arguments) for every way to name a case."""
    draft = {
        "fields": {"id": case_id, "title": "Export shows rows", "related": case_id},
        "sections": {"symptoms": f"Like {case_id}: the export shows other rows."},
    }
    return [
        ("GET", f"/cases/{case_id}", {}),
        ("GET", f"/cases/{case_id}/edit", {}),
        ("POST", f"/cases/{case_id}/edit", {"data": {"title": "x", "symptoms": "y"}}),
        ("GET", f"/api/v1/cases/{case_id}", {}),
        ("GET", f"/api/v1/cases/{case_id}/similar", {}),
        ("POST", "/api/v1/drafts/check", {"json": draft}),
        ("POST", "/api/v1/drafts/redact", {"json": draft}),
        ("POST", "/api/v1/feedback", {"json": {"verdict": "solved", "case_id": case_id}}),
        ("POST", "/feedback", {"data": {"verdict": "solved", "case_id": case_id, "next": "/"}}),
        ("POST", "/clicks", {"data": {"search_id": "1", "case_id": case_id, "rank": "1"}}),
        (
            "POST",
            "/new",
            {
                "data": {
                    "id": case_id,
                    "title": "Export shows rows",
                    "related": case_id,
                    "symptoms": f"Like {case_id}.",
                    "cause": "c",
                    "resolution": "r",
                    "action": "check",
                }
            },
        ),
    ]


def _answer(
    client, method: str, url: str, kwargs: dict, case_id: str, headers: dict
) -> tuple[int, str, str]:
    response = client.open(url, method=method, headers=headers, **kwargs)
    body = _TOKENS.sub("T", response.get_data(as_text=True).replace(case_id, "ID"))
    location = _TOKENS.sub("T", response.headers.get("Location", "").replace(case_id, "ID"))
    return response.status_code, location, body


@pytest.mark.parametrize("role", ["support", "engineer"])
@pytest.mark.parametrize("by", ["session", "token"])
def test_a_hidden_case_id_is_answered_like_an_id_nobody_uses(app, world, role, by):
    _, tokens = world
    client = signed_in(app, USER[role]) if by == "session" else app.test_client()
    headers = {"Authorization": f"Bearer {tokens[role]}"} if by == "token" else {}
    # The editor says once per session that the cases folder is no git working copy: said here,
    # before the probes, so that it cannot differ between a hidden id and an unused one.
    client.open("/new", method="GET", headers=headers)
    differences = []
    for hidden in HIDDEN[role]:
        for (method, url, kwargs), (_, missing_url, missing_kwargs) in zip(
            _probes(hidden), _probes(MISSING)
        ):
            seen = _answer(client, method, url, kwargs, hidden, headers)
            unknown = _answer(client, method, missing_url, missing_kwargs, MISSING, headers)
            if seen != unknown:
                differences.append(f"{method} {url}: {seen[0]} vs {unknown[0]}")
    assert differences == []


def _search_facts(client, case_id: str, headers: dict) -> tuple:
    """What a search for the id tells: the total, the hits and which of them matched it by words
    (scores differ with any two query texts: the dense leg encodes the text itself)."""
    data = client.get(f"/api/v1/search?q={case_id}&limit=50", headers=headers).get_json()
    html = (
        client.get(f"/search?q={case_id}", headers=headers)
        .get_data(as_text=True)
        .replace(case_id, "ID")
    )
    return (
        data["total"],
        [h["id"] for h in data["hits"]],
        [bool(h["why"].get("lexical")) for h in data["hits"]],
        data["query"]["kind"],
        sorted(set(re.findall(r"ESC-\d{4}-\d{4}", html))),
    )


@pytest.mark.parametrize("role", ["support", "engineer"])
def test_searching_for_a_hidden_id_tells_what_searching_for_an_unused_id_tells(app, world, role):
    _, tokens = world
    client, headers = app.test_client(), {"Authorization": f"Bearer {tokens[role]}"}
    for hidden in HIDDEN[role]:
        assert _search_facts(client, hidden, headers) == _search_facts(client, MISSING, headers)
