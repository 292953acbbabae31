"""The review state (KCS): a draft is for engineers and admins until a second engineer or an admin
marks it reviewed (a commit and an audit entry); the search filter; old drafts on the stats page."""

from __future__ import annotations

import re
from datetime import date

import pytest
from conftest import case_text
from worlds import git, make_world

from indexer.filters import parse_filters
from indexer.jobs import run_index
from indexer.searcher import SearchRequest
from kb import review
from kb.accounts import audit_events
from kb.errors import InvalidInputError
from kb.history import repo_for
from kb.parse import parse_case
from kb.repo import Person
from kb.settings import load_settings
from webui import create_app

DRAFT, PUBLIC = "ESC-2026-0001", "ESC-2026-0002"
DRAFT_TEXT = case_text(
    DRAFT,
    title="Draft: mail queue stalls",
    symptoms="QUILL-FINCH mail queue stalls",
    created="2026-01-05",
    extra="review: draft\nauthors: [local]\n",
)


def test_a_draft_reads_at_the_engineering_level_and_keeps_its_declared_visibility():
    case = parse_case(DRAFT_TEXT, f"{DRAFT}.md")
    assert (
        case.review == "draft"
        and case.visibility == "engineering"
        and case.meta["visibility"] == "support"
    )
    assert parse_case(case_text(extra="review: reviewed\n")).visibility == "support"
    with pytest.raises(Exception, match="review"):
        parse_case(case_text(extra="review: maybe\n"))


def test_who_may_mark_a_draft_reviewed():
    case = parse_case(DRAFT_TEXT, f"{DRAFT}.md")
    assert not review.may_review(case, "local", "engineer", {"local"})  # its author
    assert review.may_review(case, "kato", "engineer", {"local"})  # a second engineer
    assert review.may_review(case, "local", "admin", {"local"})  # an admin
    assert not review.may_review(case, "sato", "support", set())
    assert not review.may_review(parse_case(case_text()), "kato", "engineer", set())  # not a draft
    assert (
        review.kept_review("draft", "") == "draft" and review.kept_review(None, "draft") == "draft"
    )
    assert review.reviewed_text(DRAFT_TEXT).count("review: reviewed") == 1


def test_old_drafts():
    old = parse_case(DRAFT_TEXT, f"{DRAFT}.md")
    new = parse_case(case_text("ESC-2026-0003", created="2026-06-01", extra="review: draft\n"))
    assert review.old_drafts([old, new, parse_case(case_text())], date(2026, 6, 3)) == [old]


def test_review_filter_parses():
    assert parse_filters({"review": ["draft"]}).review_tags() == ("kb:review=draft",)
    with pytest.raises(Exception, match="review"):
        parse_filters({"review": ["maybe"]})


@pytest.fixture
def world(tmp_path):
    _, folder, _ = make_world(
        tmp_path,
        {
            f"{DRAFT}.md": DRAFT_TEXT,
            f"{PUBLIC}.md": case_text(PUBLIC, symptoms="QUILL-FINCH public"),
        },
    )
    settings = load_settings(
        environ={}, cases_dir=folder, data_dir=tmp_path / "data", embed_model="hash:256"
    )
    assert run_index(settings).published
    app = create_app(settings, test_config={"KB_ROLE": "engineer", "KB_EDITOR_INDEX_WAIT": 0})
    yield app, settings, folder
    app.extensions["kb"].close()


def client_of(app, role):
    app.config["KB_ROLE"] = role
    client = app.test_client()
    client.set_cookie("lang", "en")
    return client


def ids(app, role, text="QUILL-FINCH", **filters):
    params = parse_filters({k: [v] for k, v in filters.items()})
    return [
        h.id
        for h in app.extensions["kb"]
        .searcher.search(SearchRequest(text=text, role=role, filters=params))
        .hits
    ]


def test_drafts_are_hidden_from_support_and_filterable(world):
    app = world[0]
    assert ids(app, "support") == [PUBLIC]
    assert set(ids(app, "engineer")) == {DRAFT, PUBLIC}
    assert ids(app, "engineer", review="draft") == [DRAFT]
    assert ids(app, "engineer", review="reviewed") == [PUBLIC]
    assert client_of(app, "support").get(f"/cases/{DRAFT}").status_code == 404
    assert client_of(app, "support").get(f"/cases/{DRAFT}/history").status_code == 404
    page = client_of(app, "engineer").get(f"/cases/{DRAFT}").get_data(as_text=True)
    assert "Draft (not reviewed)" in page and "Mark as reviewed" in page
    assert (
        "All support staff" in page and "Engineering only" not in page
    )  # the declared visibility is shown
    search = (
        client_of(app, "engineer").get("/search?q=QUILL-FINCH&review=draft").get_data(as_text=True)
    )
    assert (
        f'id="hit-{DRAFT}"' in search
        and f'id="hit-{PUBLIC}"' not in search
        and 'id="filter-review"' in search
    )
    stats = client_of(app, "engineer").get("/stats").get_data(as_text=True)
    assert 'id="old-drafts"' in stats and DRAFT in stats
    assert 'id="old-drafts"' not in client_of(app, "support").get("/stats").get_data(as_text=True)


def _token(client, url="/"):
    return re.search(
        r'name="csrf_token" value="([^"]+)"', client.get(url).get_data(as_text=True)
    ).group(1)


def review_as(app, name: str):
    """POST "mark reviewed" for the draft as the engineer ``name``, signed in."""
    import webui.access as access
    from kb.accounts import Identity

    real = access.current_identity
    access.current_identity = lambda: Identity(name, "engineer", "password")  # type: ignore[assignment]
    try:
        client = client_of(app, "engineer")
        return client.post(f"/cases/{DRAFT}/review", data={"csrf_token": _token(client)})
    finally:
        access.current_identity = real  # type: ignore[assignment]


def test_its_author_cannot_mark_it_reviewed_but_a_second_engineer_can(world):
    app, settings, folder = world
    author = client_of(app, "engineer")  # the fixed role's user is "local", the draft's author
    assert (
        author.post(f"/cases/{DRAFT}/review", data={"csrf_token": _token(author)}).status_code
        == 422
    )
    response = review_as(app, "kato")  # a second engineer, signed in under another name
    assert response.status_code == 303
    text = (folder / f"{DRAFT}.md").read_text("utf-8")
    assert "review: reviewed" in text and "review: draft" not in text
    assert (
        git(folder, "log", "-1", "--format=%an|%s")
        == f"kato|Review {DRAFT}: marked reviewed by kato\n"
    )
    assert git(folder, "status", "--porcelain") == ""
    assert any(
        e["action"] == "case_review" and e["target"] == DRAFT
        for e in audit_events(app.extensions["kb"].store)
    )
    assert DRAFT in ids(app, "support")  # published once reviewed


def test_the_editor_keeps_a_draft_a_draft(world):
    from test_editor import form_values

    app, settings, folder = world
    engineer = client_of(app, "engineer")
    values = form_values(engineer.get(f"/cases/{DRAFT}/edit"))
    assert values["review"] == "draft" and values["visibility"] == "support"
    values.update({"review": "", "section_resolution": "Flush the queue.", "action": "save"})
    assert engineer.post(f"/cases/{DRAFT}/edit", data=values).status_code == 303
    text = (folder / f"{DRAFT}.md").read_text("utf-8")
    assert "review: draft" in text and "visibility: support" in text and "Flush the queue." in text


def test_mark_reviewed_without_git(settings, write_cases):
    write_cases({f"{DRAFT}.md": DRAFT_TEXT})
    path = settings.cases_dir / f"{DRAFT}.md"
    case = parse_case(path.read_text("utf-8"), path.name)
    with pytest.raises(InvalidInputError):
        review.mark_reviewed(path, case, Person("local", "l@example.com"), "engineer", None)
    done = review.mark_reviewed(
        path, case, Person("mori", "m@example.com"), "admin", repo_for(settings)
    )
    assert done.commit is None and "review: reviewed" in path.read_text("utf-8")


def test_a_review_git_refuses_leaves_the_draft_as_it_was(world):
    from test_history_web import refuse_commits

    app, settings, folder = world
    path = folder / f"{DRAFT}.md"
    before, head = path.read_bytes(), git(folder, "rev-parse", "HEAD")
    refuse_commits(folder)
    response = review_as(app, "kato")
    assert response.status_code == 503
    assert f"{DRAFT}.md was not saved" in response.get_data(as_text=True)
    assert path.read_bytes() == before and git(folder, "rev-parse", "HEAD") == head
    assert git(folder, "status", "--porcelain") == ""
    assert DRAFT not in ids(app, "support")  # still a draft
