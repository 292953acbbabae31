"""The editor never tells an author whether a case they cannot read exists (fast tier).

Two worlds that differ only in one restricted case, written through the editor by an admin: an
engineer's every editor request naming that case's id gets the same bytes (apart from CSRF tokens)
in both worlds. Then the warnings about ids that not every reader can open, judged per visibility.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from conftest import FAKE_MODEL, case_text

from indexer.jobs import run_index
from kb.authoring import mentioned_ids, unreadable_mentions
from kb.settings import load_settings
from webui import create_app

YEAR = date.today().year  # the server gives ids of today's year
ID = f"ESC-{YEAR}-{{:04d}}".format
HIDDEN = ID(
    4
)  # restricted, written by the admin in world "with"; no case has it in world "without"
MISSING = ID(99)  # no case has it in either world
SECRET_TITLE = "Restricted: export job leaks tenant rows at KESTREL-BANK"
BASE = {
    f"{ID(1)}.md": case_text(
        ID(1),
        title="Export job times out (EXP-4102)",
        component="export",
        symptoms="The nightly CSV export stops with EXP-4102 after 30 minutes.",
    ),
    f"{ID(2)}.md": case_text(
        ID(2),
        title="Engineering only: export worker pool notes",
        visibility="engineering",
        component="export",
        symptoms="EXP-4102 when the worker pool is exhausted.",
    ),
    f"{ID(3)}.md": case_text(
        ID(3),
        title="Notification mail delayed",
        component="notification",
        symptoms="Mail arrives two hours late.",
        resolution="Set mail.smtp.timeout to 30.",
    ),
}
LATER = {
    f"{ID(5)}.md": case_text(
        ID(5),
        title="Login page slow after upgrade",
        component="auth",
        symptoms="The login page takes 20 seconds.",
        resolution="Rebuild the session index.",
    )
}


def _settings(root: Path):
    (root / "cases").mkdir(parents=True)
    return load_settings(
        environ={}, cases_dir=root / "cases", data_dir=root / "data", embed_model=FAKE_MODEL
    )


def english(app):
    client = app.test_client()
    client.set_cookie("lang", "en")
    return client


def csrf(response) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True)).group(1)


def admin_writes_restricted_case(app) -> str:
    app.config["KB_ROLE"] = "admin"
    client = app.test_client()
    form = {
        "csrf_token": csrf(client.get("/new")),
        "title": SECRET_TITLE,
        "status": "resolved",
        "product": "tsumugi-server",
        "component": "export",
        "visibility": "restricted",
        "created": f"{YEAR}-01-10",
        "heading_lang": "en",
        "section_symptoms": "The export returns rows of another tenant at KESTREL-BANK (EXP-4102).",
        "section_cause": "A missing tenant filter.",
        "section_resolution": "Hotfix 6.0.3.",
        "action": "save",
    }
    saved = client.post("/new", data=form)
    assert saved.status_code == 303, saved.get_data(as_text=True)[:500]
    return saved.headers["Location"].rsplit("/", 1)[1]


@pytest.fixture
def worlds(tmp_path):
    """Two apps: "with" the admin's restricted case, "without" it; everything else the same."""
    apps = {}
    for name in ("with", "without"):
        settings = _settings(tmp_path / name)
        for file, text in BASE.items():
            (settings.cases_dir / file).write_text(text, encoding="utf-8")
        assert run_index(settings).published
        app = create_app(settings, test_config={"KB_ROLE": "admin", "KB_EDITOR_INDEX_WAIT": 0})
        if name == "with":
            assert admin_writes_restricted_case(app) == HIDDEN
        for file, text in LATER.items():
            (settings.cases_dir / file).write_text(text, encoding="utf-8")
        assert run_index(settings).published
        app.config["KB_ROLE"] = "engineer"
        apps[name] = app
    yield apps
    for app in apps.values():
        app.extensions["kb"].close()


def normalised(response) -> tuple[int, str, str]:
    body = re.sub(r'(name="csrf_token" value=")[^"]+', r"\1", response.get_data(as_text=True))
    body = re.sub(r'(data-csrf=")[^"]+', r"\1", body)
    return response.status_code, response.headers.get("Location", ""), body


def draft(case_id: str, visibility: str = "support", **changes: str) -> dict:
    fields = {
        "id": case_id,
        "title": f"Export fails like {case_id}",
        "status": "resolved",
        "product": "tsumugi-server",
        "component": "export",
        "visibility": visibility,
        "created": f"{YEAR}-02-01",
        "related": case_id,
        "error_codes": "EXP-4102",
    }
    sections = {
        "symptoms": f"EXP-4102 again, as in {case_id} and {ID(1)}.",
        "cause": "Tenant filter.",
        "resolution": f"See {case_id}.",
        "logs": f"{case_id} EXP-4102",
    }
    return {"fields": {**fields, **changes}, "sections": sections, "heading_lang": "en"}


def form(draft_body: dict, token: str, **extra: str) -> dict[str, str]:
    values = {**draft_body["fields"], "csrf_token": token, "heading_lang": "en", **extra}
    values.update({f"section_{name}": text for name, text in draft_body["sections"].items()})
    return values


def engineer_session(app) -> list[tuple[int, str, str]]:
    """Everything an engineer can ask the editor about HIDDEN, in order; the answers, normalised."""
    client = app.test_client()
    client.set_cookie("lang", "en")
    out = []

    def keep(response):
        out.append(normalised(response))
        return response

    new = keep(client.get("/new"))
    keep(
        client.get("/new", query_string={"title": SECRET_TITLE})
    )  # duplicate detection on the hidden case's words
    keep(client.get("/new", query_string={"title": HIDDEN}))
    for visibility in ("support", "engineering", "restricted"):
        keep(client.post("/api/v1/drafts/check", json=draft(HIDDEN, visibility)))
        keep(client.post("/api/v1/drafts/check?lang=ja", json=draft(HIDDEN, visibility)))
    keep(client.post("/api/v1/drafts/check", json={**draft(HIDDEN), "original_id": HIDDEN}))
    keep(client.post("/api/v1/drafts/check", json=draft(HIDDEN, title=SECRET_TITLE)))
    keep(client.post("/api/v1/drafts/redact", json=draft(HIDDEN)))
    token = csrf(new)
    keep(client.post("/new", data=form(draft(HIDDEN), token, action="check")))
    keep(client.post("/new", data=form(draft(HIDDEN), token, relate=HIDDEN)))
    keep(
        client.post("/new", data=form(draft(HIDDEN, component=""), token, action="save"))
    )  # errors: 422
    keep(client.get(f"/cases/{HIDDEN}/edit"))
    keep(client.post(f"/cases/{HIDDEN}/edit", data=form(draft(HIDDEN), token, action="save")))
    saved = keep(
        client.post("/new", data=form(draft(HIDDEN), token, action="save"))
    )  # saved under an id of its own
    mine = saved.headers["Location"]
    keep(client.get(mine))
    keep(client.get(f"{mine}/edit"))
    keep(client.get(f"/api/v1{mine}"))
    edit = client.get(f"{mine}/edit")
    keep(
        client.post(
            f"{mine}/edit",
            data={
                **form(draft(HIDDEN), csrf(edit), action="check"),
                "base_hash": re.search(
                    r'name="base_hash" value="([^"]+)"', edit.get_data(as_text=True)
                ).group(1),
            },
        )
    )
    return out


def test_an_engineer_cannot_tell_whether_a_hidden_id_exists(worlds):
    admin = worlds["with"].test_client()
    worlds["with"].config["KB_ROLE"] = "admin"
    assert (
        admin.get(f"/cases/{HIDDEN}").status_code == 200
    )  # it is there, for those who may read it
    worlds["with"].config["KB_ROLE"] = "engineer"
    assert worlds["with"].test_client().get(f"/cases/{HIDDEN}").status_code == 404

    seen_with, seen_without = engineer_session(worlds["with"]), engineer_session(worlds["without"])
    assert len(seen_with) == len(seen_without)
    for number, (a, b) in enumerate(zip(seen_with, seen_without)):
        assert a == b, f"request {number} tells the worlds apart"
    statuses = [status for status, _, _ in seen_with]
    assert 500 not in statuses and statuses.count(404) >= 3 and 422 in statuses and 303 in statuses
    everything = "".join(body for _, _, body in seen_with)
    assert "already used" not in everything and "既に使われています" not in everything
    assert (
        "another tenant" not in everything and "Hotfix 6.0.3" not in everything
    )  # the hidden case's own text
    # the engineer's own case is saved under the next id after every id in use, not under HIDDEN
    location = [loc for _, loc, _ in seen_with if loc.startswith("/cases/")][0]
    assert location == f"/cases/{ID(6)}"
    # the warnings the engineer got name HIDDEN exactly like an id no case has
    check = english(worlds["with"]).post("/api/v1/drafts/check", json=draft(HIDDEN)).get_json()
    missing = english(worlds["with"]).post("/api/v1/drafts/check", json=draft(MISSING)).get_json()
    assert str(check["problems"]).replace(HIDDEN, "X") == str(missing["problems"]).replace(
        MISSING, "X"
    )
    assert check["counts"] == missing["counts"] and check["counts"]["warnings"] >= 3


def test_the_hidden_related_link_stays_in_the_file_and_out_of_the_form(worlds):
    app = worlds["with"]
    client = app.test_client()
    token = csrf(client.get("/new"))
    saved = client.post(
        "/new",
        data=form(draft(MISSING, related=f"{HIDDEN}, {MISSING}, {ID(1)}"), token, action="save"),
    )
    assert saved.status_code == 303
    new_id = saved.headers["Location"].rsplit("/", 1)[1]
    page = client.get(f"/cases/{new_id}/edit").get_data(as_text=True)
    related = re.search(r'name="related" type="text" value="([^"]*)"', page).group(1)
    assert related == ID(1)  # neither the hidden id nor the missing one: the two are treated alike
    edit = {
        **form(
            draft(MISSING, related=ID(1)), csrf(client.get(f"/cases/{new_id}/edit")), action="save"
        ),
        "base_hash": re.search(r'name="base_hash" value="([^"]+)"', page).group(1),
    }
    assert client.post(f"/cases/{new_id}/edit", data=edit).status_code == 303
    text = (app.config["KB_SETTINGS"].cases_dir / f"{new_id}.md").read_text()
    assert f"related: [{HIDDEN}, {MISSING}, {ID(1)}]" in text  # kept, never shown, never lost
    app.config["KB_ROLE"] = "admin"
    admin_form = client.get(f"/cases/{new_id}/edit").get_data(as_text=True)
    assert (
        re.search(r'name="related" type="text" value="([^"]*)"', admin_form).group(1)
        == f"{HIDDEN}, {MISSING}, {ID(1)}"
    )


# -- warnings about ids that not every reader can open ------------------------------------------------


def warnings_of(client, body: dict) -> dict[str, list[str]]:
    problems = client.post("/api/v1/drafts/check?lang=en", json=body).get_json()["problems"]
    return {
        key: [p["message"] for p in items if p["severity"] == "warning"]
        for key, items in problems.items()
    }


def test_ids_in_the_text_are_judged_at_the_drafts_own_visibility(worlds):
    client = english(worlds["without"])
    body = draft(ID(1), related="", title="Export fails")
    body["sections"] = {
        "symptoms": f"Seen in {ID(1)} and in {ID(2)} (engineering).",
        "cause": "Tenant filter.",
        "resolution": f"Workaround from {ID(2)}; see also {MISSING}.",
        "logs": "",
    }
    support = warnings_of(client, body)
    assert set(support) == {"symptoms", "resolution"}
    assert ID(2) in support["symptoms"][0] and ID(1) not in support["symptoms"][0]
    assert ID(2) in support["resolution"][0] and MISSING in support["resolution"][0]
    assert "not every reader of this case can open it" in support["symptoms"][0]
    assert "there may be no such case, or it is more restricted" in support["resolution"][0]
    engineering = warnings_of(
        client, {**body, "fields": {**body["fields"], "visibility": "engineering"}}
    )
    assert (
        set(engineering) == {"resolution"} and ID(2) not in engineering["resolution"][0]
    )  # engineers open ESC-…-0002
    ja = client.post("/api/v1/drafts/check?lang=ja", json=body).get_json()["problems"]
    assert "この事例の読者全員が開ける事例ではありません" in ja["symptoms"][0]["message"]
    # a related link is shown only to readers who may open it: only ids the author cannot open are warned about
    related = warnings_of(
        client, {**body, "fields": {**body["fields"], "related": f"{ID(2)}, {ID(1)}, {MISSING}"}}
    )
    assert related["related"] == [f"{MISSING}: not the id of a case you can open."]


def test_choosing_a_wider_visibility_does_not_open_hidden_ids(worlds):
    """An engineer who picks "restricted" (refused) still gets HIDDEN warned about, like MISSING."""
    client = english(worlds["with"])
    hidden = client.post("/api/v1/drafts/check", json=draft(HIDDEN, "restricted")).get_json()[
        "problems"
    ]
    assert any("cannot choose a visibility" in p["message"] for p in hidden["visibility"])
    assert any(HIDDEN in p["message"] for p in hidden["related"]) and any(
        HIDDEN in p["message"] for p in hidden["symptoms"]
    )
    worlds["with"].config["KB_ROLE"] = (
        "admin"  # an admin reads it: a restricted draft may name it freely
    )
    admin = client.post("/api/v1/drafts/check", json=draft(HIDDEN, "restricted")).get_json()[
        "problems"
    ]
    assert "related" not in admin and "symptoms" not in admin
    support_case = client.post("/api/v1/drafts/check", json=draft(HIDDEN, "support")).get_json()[
        "problems"
    ]
    assert (
        "related" not in support_case
    )  # the admin opens it; support readers will not see the link
    assert any(
        HIDDEN in p["message"] for p in support_case["symptoms"]
    )  # but they would read the id in the text


def test_mentions_are_whole_ids_found_once():
    pattern = re.compile(r"ESC-\d{4}-\d{4}")
    text = "See ESC-2026-0001, ESC-2026-0001 and xESC-2026-0002 or ESC-2026-00031 or ESC-2026-0004-b; (ESC-2026-0005)"
    assert mentioned_ids(text, pattern) == ["ESC-2026-0001", "ESC-2026-0005"]
    assert mentioned_ids(" ".join(f"ESC-2026-{i:04d}" for i in range(500)), pattern, limit=3) == [
        "ESC-2026-0000",
        "ESC-2026-0001",
        "ESC-2026-0002",
    ]
    assert mentioned_ids("SUP-00041 and SUP-1", re.compile(r"SUP-\d{5}")) == ["SUP-00041"]
    inline_flags = re.compile(
        r"(?i)sup-\d{5}"
    )  # cannot be embedded in a larger pattern: words are tried one by one
    assert mentioned_ids("See SUP-00041. And sup-00042, not SUP-000433.", inline_flags) == [
        "SUP-00041",
        "sup-00042",
    ]


def test_unreadable_mentions():
    levels_of = {"A": "support", "B": "engineering"}  # only cases the author may read
    assert unreadable_mentions(["A", "B", "C", "SELF"], levels_of, ("support",), own_id="SELF") == [
        "B",
        "C",
    ]
    assert unreadable_mentions(["A", "B", "C"], levels_of, ("support", "engineering")) == ["C"]
