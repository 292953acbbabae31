"""The case editor and long pasted queries through Flask's test client, on a tiny indexed world (fast tier)."""

from __future__ import annotations

import dataclasses
import html
import re
import time
from datetime import date
from html.parser import HTMLParser

import pytest
from conftest import case_text

from indexer.jobs import reindex_lock, run_index
from kb import activity
from kb.authoring import git_author, next_case_id
from kb.parse import check_case_text, read_case_file
from webui import access, create_app, editor

LOG = (
    "2026-03-02 10:15:07,123 ERROR [http-nio-8080-exec-7] c.k.t.schedule.RecurrenceService - req=8f3a2c91 [SCH-13208] "
    "Cannot apply exception to series 448213: no matching instance for 2026-02-11"
)
ROUND_TRIP_EXTRA = "error_codes: [SCH-13208]\nrelated: [ESC-2026-0002]\nauthors: [sakai, jlee]\nresolved: 2026-03-09\nseverity: S2\n"
JA_CASE = """---
id: ESC-2026-0006
title: "承認ルート: 異動後も旧上長に回る (WF-20417)"
status: workaround
product: tsumugi-server
versions: ["5.10", "6.0"]
fixed_in: "6.1"
component: workflow
severity: S3
tags: [approval, 組織変更]
error_codes: [WF-20417]
visibility: support
origin: support-inquiry
created: 2026-04-01
review_by: 2026-10-01
authors: [sakai]
---
## 症状 / Symptoms
組織変更の後も、申請が**旧上長**に回る。

## 回避策 / Workaround
管理画面でルートキャッシュを削除する。

```text
[WF-20417] approver 1182 not in group 77
```

## 参考
- <https://example.com/docs/workflow>
"""
WORLD = {
    "ESC-2026-0001.md": case_text(
        "ESC-2026-0001",
        title="Recurring meeting: deleting one occurrence fails (SCH-13208)",
        symptoms="Deleting the holiday occurrence of a weekly meeting shows HTTP 500 and SCH-13208.",
        logs=LOG,
        extra=ROUND_TRIP_EXTRA,
    ),
    "ESC-2026-0002.md": case_text(
        "ESC-2026-0002",
        title="Approval route not updated after reorganisation (WF-20417)",
        component="workflow",
        tags="[approval]",
        symptoms="Requests still go to the former manager.",
        cause="The route cache is not invalidated.",
        resolution="Clear the route cache.",
    ),
    "ESC-2026-0003.md": case_text(
        "ESC-2026-0003",
        title="Engineering only: recurrence engine rewrite notes (SCH-13208)",
        visibility="engineering",
        symptoms="SCH-13208 when deleting one occurrence of a series; internal notes.",
        resolution="See the rewrite plan.",
    ),
    "ESC-2026-0004.md": case_text(
        "ESC-2026-0004",
        title="Restricted: SCH-13208 at a named customer VELVET-OWL",
        visibility="restricted",
        symptoms="SCH-13208 when deleting one occurrence. Codename VELVET-OWL.",
        resolution="Hotfix applied.",
    ),
    "ESC-2026-0005.md": case_text(
        "ESC-2026-0005",
        title="Notification mail delayed by hours",
        component="notification",
        symptoms="Notification e-mails arrive two hours late.",
        cause="mail.smtp.timeout was 0.",
        resolution="Set mail.smtp.timeout to 30 seconds.",
    ),
    "ESC-2026-0006.md": JA_CASE,
}


@pytest.fixture
def app(settings, write_cases):
    write_cases(WORLD)
    report = run_index(settings)
    assert report.published and not report.failed, report.problems
    app = create_app(settings, test_config={"KB_ROLE": "engineer", "KB_EDITOR_INDEX_WAIT": 0})
    yield app
    app.extensions["kb"].close()


@pytest.fixture
def client(app):
    client = app.test_client()
    client.set_cookie("lang", "en")
    return client


def as_role(app, role: str) -> None:
    app.config["KB_ROLE"] = role


def text_of(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


class FormReader(HTMLParser):
    """The values a browser would send for one form (submit buttons left out)."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside, self.values = form_id, False, {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside:
            return
        if tag == "input" and a.get("type") not in ("submit", "button") and a.get("name"):
            if a.get("type") == "radio" and "checked" not in a:
                return
            self.values[a["name"]] = a.get("value") or ""
        elif tag == "textarea":
            self._textarea = a["name"]
            self.values[self._textarea] = ""
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value") or ""

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "textarea" and self._textarea:
            value = self.values[self._textarea]
            self.values[self._textarea] = (
                value[1:] if value.startswith("\n") else value
            )  # as browsers do
            self._textarea = None
        elif tag == "select":
            self._select = None


def form_values(response, form_id: str = "case-editor") -> dict[str, str]:
    reader = FormReader(form_id)
    reader.feed(response.get_data(as_text=True))
    return reader.values


def problems_of(response, key: str) -> str:
    found = re.search(
        rf'id="problems-{re.escape(key)}"[^>]*>(.*?)</ul>', response.get_data(as_text=True), re.S
    )
    assert found, key
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).strip()


def new_form(client, **changes: str) -> dict[str, str]:
    values = form_values(client.get("/new"))
    values.update(
        {
            "title": "Weekly meeting: cannot delete one occurrence (SCH-13208)",
            "product": "tsumugi-server",
            "component": "schedule",
            "section_symptoms": "Deleting one occurrence of a weekly meeting fails with SCH-13208.",
            "section_cause": "Exception dates compared in the JVM time zone.",
            "section_resolution": "Remove `-Duser.timezone` and restart.",
            **changes,
        }
    )
    return values


def case_ids(settings) -> set[str]:
    return {p.stem for p in settings.cases_dir.glob("*.md")}


def next_id(settings) -> str:
    """The id the server gives the next new case: after every id in use, whoever may read it."""
    return next_case_id(sorted(case_ids(settings)), settings.id_regex, date.today())


def draft_json(**sections: str) -> dict:
    return {
        "fields": {
            "id": "ESC-2026-0100",
            "title": "Deleting one occurrence fails <b>bold</b>",
            "status": "resolved",
            "product": "tsumugi-server",
            "component": "schedule",
            "visibility": "support",
            "created": "2026-05-01",
            "error_codes": "SCH-13208",
        },
        "sections": {
            "symptoms": "Deleting one occurrence fails with SCH-13208.",
            "cause": "Time zones.",
            "resolution": "Restart.",
            **sections,
        },
        "heading_lang": "en",
    }


# -- roles and links ---------------------------------------------------------------------------------


def test_support_may_not_edit(app, client):
    as_role(app, "support")
    assert access.current_role.__module__ == "webui.access"
    for path in ("/new", "/new?title=x", "/cases/ESC-2026-0001/edit"):
        response = client.get(path)
        assert response.status_code == 403 and "Not allowed" in text_of(response), path
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', client.get("/").get_data(as_text=True)
    ).group(1)
    assert (
        client.post("/new", data={"csrf_token": token, "title": "x", "action": "save"}).status_code
        == 403
    )
    assert (
        client.post(
            "/cases/ESC-2026-0001/edit", data={"csrf_token": token, "action": "save"}
        ).status_code
        == 403
    )
    denied = client.post("/api/v1/drafts/check", json=draft_json())
    assert denied.status_code == 403 and denied.get_json() == {
        "ok": False,
        "status": 403,
        "error": denied.get_json()["error"],
    }
    assert client.post("/api/v1/drafts/redact", json=draft_json()).status_code == 403
    case_page = client.get("/cases/ESC-2026-0001").get_data(as_text=True)
    assert "/cases/ESC-2026-0001/edit" not in case_page and 'href="/new"' not in case_page
    assert "/new?title=" not in client.get("/stats").get_data(as_text=True)

    as_role(app, "engineer")
    case_page = client.get("/cases/ESC-2026-0001").get_data(as_text=True)
    assert 'href="/cases/ESC-2026-0001/edit"' in case_page and 'href="/new"' in case_page


def test_role_is_one_replaceable_function(app, client, monkeypatch):
    as_role(app, "support")
    assert client.get("/new").status_code == 403
    monkeypatch.setattr(access, "current_role", lambda: "admin")
    assert client.get("/new").status_code == 200
    as_role(app, "")
    assert (
        client.get("/new").headers["Location"].startswith("/login")
    )  # nobody signed in: log in first
    assert (
        access.can_edit("engineer") and access.can_edit("admin") and not access.can_edit("support")
    )


# -- the form ------------------------------------------------------------------------------------------


def test_new_case_form_is_prefilled(app, client, settings):
    response = client.get("/new", query_string={"title": "Recurring meeting SCH-13208 error"})
    assert response.status_code == 200
    values = form_values(response)
    assert "id" not in values and "Assigned when you save." in text_of(
        response
    )  # no id proposed: the server gives it
    assert values["title"] == "Recurring meeting SCH-13208 error"
    assert values["authors"] == git_author(settings.cases_dir)
    assert values["created"] == date.today().isoformat() and values["status"] == "resolved"
    assert (
        values["visibility"] == "support"
        and values["heading_lang"] in ("ja", "en")
        and values["csrf_token"]
    )
    assert all(
        values[f"section_{name}"] == "" for name in editor.SECTIONS
    )  # the prompts are placeholders, not content
    body = response.get_data(as_text=True)
    assert re.search(
        r'<textarea id="section_symptoms"[^>]*placeholder="What happened, in the customer&#39;s words',
        body,
    )
    assert (
        '<option value="restricted"' not in body
    )  # an engineer cannot choose what they cannot read
    similar = re.findall(r'<li class="similar-item" data-id="([^"]+)"', body)
    assert (
        similar and similar[0] == "ESC-2026-0001" and "ESC-2026-0004" not in similar
    )  # similar cases from the title
    assert 'name="relate" value="ESC-2026-0001"' in body
    ja = client.get("/new?lang=ja").get_data(as_text=True)
    assert "お客様の言葉で" in ja and "新しいケース" in ja
    assert (
        not re.search(r"<script(?![^>]*\bsrc=\"/static/)", body)
        and " style=" not in body
        and not re.search(r"\son[a-z]+=", body)
    )


def test_edit_form_holds_the_case_as_written(client):
    response = client.get("/cases/ESC-2026-0006/edit")
    values = form_values(response)
    assert response.status_code == 200
    assert (
        values["id"] == "ESC-2026-0006"
        and values["title"] == "承認ルート: 異動後も旧上長に回る (WF-20417)"
    )
    assert (
        values["versions"] == "5.10, 6.0"
        and values["fixed_in"] == "6.1"
        and values["tags"] == "approval, 組織変更"
    )
    assert (
        values["error_codes"] == "WF-20417"
        and values["review_by"] == "2026-10-01"
        and values["status"] == "workaround"
    )
    assert values["heading_lang"] == "ja" and values["base_hash"]
    assert (
        values["section_workaround"].startswith("管理画面で")
        and "```text\n[WF-20417]" in values["section_workaround"]
    )
    assert values["section_cause"] == ""
    assert re.search(r'<input id="f-id" name="id"[^>]*readonly', response.get_data(as_text=True))
    assert (
        "組織変更の後も" in response.get_data(as_text=True).split('id="preview"')[1]
    )  # preview of the current text
    assert (
        client.get("/cases/ESC-2026-0004/edit").status_code == 404
    )  # restricted: not even for an engineer
    assert client.get("/cases/ESC-2099-0001/edit").status_code == 404


# -- live checks ------------------------------------------------------------------------------------------


def test_draft_check_previews_safely_and_keys_problems_by_field(client):
    data = client.post(
        "/api/v1/drafts/check",
        json=draft_json(
            symptoms="Fails with SCH-13208 <script>alert(1)</script> and <img src=x onerror=alert(2)>.",
            investigation="[click](javascript:alert(3)) **bold**",
        ),
    ).get_json()
    assert data["ok"] is True
    previews = {s["name"]: s for s in data["sections"]}
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt;" in previews["symptoms"]["html"]
        and "<script" not in previews["symptoms"]["html"]
    )
    assert "<img" not in previews["symptoms"]["html"]
    assert (
        'href="javascript:' not in previews["investigation"]["html"]
        and "<strong>bold</strong>" in previews["investigation"]["html"]
    )
    assert previews["symptoms"]["heading"] == "Symptoms"
    assert data["counts"] == {"errors": 0, "warnings": 0} and data["problems"] == {}

    broken = draft_json(resolution="")
    broken["fields"].update(
        status="fixed", created="2026-13-01", related="ESC-2026-0004, not-an-id", product=""
    )
    for lang, heading in (("en", "Symptoms"), ("ja", "症状")):
        data = client.post(
            f"/api/v1/drafts/check?lang={lang}", json={**broken, "heading_lang": lang}
        ).get_json()
        problems = data["problems"]
        assert set(problems) == {"status", "created", "related", "product", "resolution"}, problems
        assert all(p["severity"] == "error" for p in problems["status"])
        assert {s["heading"] for s in data["sections"]} >= {heading}
        assert data["counts"]["errors"] >= 5
        assert ("Required." if lang == "en" else "入力してください。") in [
            p["message"] for p in problems["product"]
        ]
        assert (
            "Write a resolution or a workaround."
            if lang == "en"
            else "「対処」か「回避策」のどちらかを書いてください。"
        ) in [p["message"] for p in problems["resolution"]]
        assert any(
            (
                "'not-an-id' is not a case id"
                if lang == "en"
                else "「not-an-id」は事例の ID ではありません"
            )
            in p["message"]
            for p in problems["related"]
        )
    assert any(
        "ESC-2026-0004" in p["message"] and p["severity"] == "warning" for p in problems["related"]
    )  # restricted: unknown

    structure = client.post(
        "/api/v1/drafts/check?lang=en",
        json=draft_json(cause="Time zones.\n\n## Resolution\nsneaky"),
    ).get_json()
    assert "“## ”" in structure["problems"]["cause"][0]["message"]
    plain = client.post("/api/v1/drafts/check", json=draft_json()).get_data()
    for taken in (
        "ESC-2026-0002",
        "ESC-2026-0004",
        "ESC-2026-0999",
        "not-an-id",
        "",
    ):  # a new draft's id is ignored
        asked = draft_json()
        asked["fields"]["id"] = taken
        assert client.post("/api/v1/drafts/check", json=asked).get_data() == plain, taken
    edited = client.post(
        "/api/v1/drafts/check", json={**draft_json(), "original_id": "ESC-2026-0002"}
    )
    assert edited.status_code == 200 and "id" not in edited.get_json()["problems"]
    hidden = client.post(
        "/api/v1/drafts/check", json={**draft_json(), "original_id": "ESC-2026-0004"}
    )
    missing = client.post(
        "/api/v1/drafts/check", json={**draft_json(), "original_id": "ESC-2026-0999"}
    )
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_json()["error"].replace("0004", "0999") == missing.get_json()["error"]
    assert (
        client.post("/api/v1/drafts/check", json={**draft_json(), "original_id": 7}).get_json()[
            "field"
        ]
        == "original_id"
    )


def test_draft_check_finds_sensitive_data_per_control(client):
    data = client.post(
        "/api/v1/drafts/check",
        json=draft_json(
            symptoms="Customer sato@hanamura-logi.co.jp called from 03-1234-5678.",
            logs="```\nlogin password=Hunter2xyz from 10.1.2.3\n```",
        ),
    ).get_json()
    found = {(f["key"], f["kind"], f["placeholder"], f["secret"]) for f in data["findings"]}
    assert found == {
        ("symptoms", "e-mail address", "<EMAIL>", False),
        ("symptoms", "phone number", "<PHONE>", False),
        ("logs", "credential", "<SECRET>", True),
        ("logs", "IP address", "<IP>", False),
    }
    assert [p["severity"] for p in data["problems"]["logs"]].count(
        "error"
    ) == 1  # a secret blocks the save
    assert any("e-mail" in p["message"] for p in data["problems"]["symptoms"])
    redacted = client.post(
        "/api/v1/drafts/redact",
        json=draft_json(
            symptoms="Customer sato@hanamura-logi.co.jp called.", logs="password=Hunter2xyz"
        ),
    ).get_json()
    assert (
        redacted["replaced"] == 2 and redacted["sections"]["symptoms"] == "Customer <EMAIL> called."
    )
    assert redacted["sections"]["logs"] == "password=<SECRET>" and redacted["fields"][
        "title"
    ].startswith("Deleting")


def test_a_problem_deep_in_a_section_names_its_line_in_the_text_box(client):
    logs = "\n```\n12:00:01 start\n12:00:02 ok\nlogin password=Hunter2xyz\n```"  # line 5 as typed
    data = client.post("/api/v1/drafts/check", json=draft_json(logs=logs)).get_json()
    secret = next(p for p in data["problems"]["logs"] if p["severity"] == "error")
    assert secret["message"].startswith("Line 5: Possible secret (credential)")
    assert [(f["line"], f["at"]) for f in data["findings"] if f["key"] == "logs"] == [(5, "line 5")]
    one_line = draft_json()
    one_line["fields"]["title"] = "Login fails password=Hunter2xyz"
    data = client.post("/api/v1/drafts/check", json=one_line).get_json()
    assert data["problems"]["title"][0]["message"].startswith("Possible secret")  # no line to name
    assert [(f["line"], f["at"]) for f in data["findings"]] == [(1, "")]  # a one-line field
    extra = draft_json()
    extra["extra"] = "## Timeline\n\n10:00 reported\ntoken=ghp_abcdefghijklmnopqrstuvwxyz0123456789"
    data = client.post("/api/v1/drafts/check", json=extra).get_json()
    messages = [p["message"] for p in data["problems"]["extra"]]
    assert messages[0].startswith("Line 1: unknown section heading 'Timeline'")
    assert any(m.startswith("Line 4: Possible secret") for m in messages)
    assert [f["at"] for f in data["findings"]] == ["line 4"]
    page = client.post(
        "/new", data={**new_form(client, section_logs=logs), "action": "check"}
    ).get_data(as_text=True)
    assert "Line 5: Possible secret" in html.unescape(page)
    assert re.search(r"finding-text\">[^<]*</code>.*?· Logs, line 5</span>", page, re.S)


def test_similar_cases_follow_visibility(app, client):
    query = draft_json(symptoms="Deleting one occurrence of a weekly series fails with SCH-13208.")
    engineer = [
        h["id"] for h in client.post("/api/v1/drafts/check", json=query).get_json()["similar"]
    ]
    assert (
        "ESC-2026-0001" in engineer
        and "ESC-2026-0003" in engineer
        and "ESC-2026-0004" not in engineer
    )
    assert len(engineer) <= 5
    as_role(app, "admin")
    admin = [h["id"] for h in client.post("/api/v1/drafts/check", json=query).get_json()["similar"]]
    assert "ESC-2026-0004" in admin
    edited = client.post(
        "/api/v1/drafts/check", json={**query, "original_id": "ESC-2026-0001"}
    ).get_json()
    assert "ESC-2026-0001" not in [h["id"] for h in edited["similar"]]  # never the case itself
    related = dict(query, fields={**query["fields"], "related": "ESC-2026-0001"})
    hits = client.post("/api/v1/drafts/check", json=related).get_json()["similar"]
    assert next(h for h in hits if h["id"] == "ESC-2026-0001")["related"] is True


def test_the_form_works_without_javascript(client, settings):
    values = new_form(
        client,
        section_symptoms="Deleting one occurrence fails with SCH-13208; mail sato@hanamura-logi.co.jp",
    )
    checked = client.post("/new", data={**values, "action": "check"})
    assert (
        checked.status_code == 200
        and "Deleting one occurrence fails"
        in checked.get_data(as_text=True).split('id="preview"')[1]
    )
    assert "e-mail" in problems_of(checked, "symptoms")
    redacted = client.post("/new", data={**form_values(checked), "action": "redact"})
    assert form_values(redacted)["section_symptoms"].endswith(
        "mail <EMAIL>"
    ) and "Replaced 1 item" in text_of(redacted)
    related = client.post("/new", data={**form_values(redacted), "relate": "ESC-2026-0001"})
    assert form_values(related)["related"] == "ESC-2026-0001"
    assert 'class="chip chip-related"' in related.get_data(as_text=True)
    assert case_ids(settings) == {
        p.removesuffix(".md") for p in WORLD
    }  # nothing saved by these buttons


# -- saving -------------------------------------------------------------------------------------------


def test_save_new_case_is_lint_clean_and_searchable_at_once(app, client, settings):
    values = new_form(
        client,
        title="Badge printer QUOKKA-7781 jams after upgrade",
        related="ESC-2026-0001",
        section_symptoms="The badge printer QUOKKA-7781 jams after the 6.0 upgrade.",
        section_logs="```\nQUOKKA-7781 paper\n```",
    )
    values["id"] = "ESC-2026-0002"  # an id posted with a new case is ignored: the server gives one
    new_id = next_id(settings)
    response = client.post("/new", data={**values, "action": "save"})
    assert response.status_code == 303 and response.headers["Location"] == f"/cases/{new_id}"
    path = settings.cases_dir / f"{new_id}.md"
    case, problems = read_case_file(path, settings.id_regex)
    assert case is not None and problems == []
    assert (
        case.title == values["title"]
        and case.related == ("ESC-2026-0001",)
        and case.authors == (values["authors"],)
    )
    assert (
        case.section_text("logs") == "```\nQUOKKA-7781 paper\n```"
        and case.section("environment") is None
    )
    assert (
        case.id == new_id
        and "Recurring meeting" in (settings.cases_dir / "ESC-2026-0001.md").read_text()
    )
    found = client.get("/api/v1/search", query_string={"q": "QUOKKA-7781"}).get_json()
    assert found["hits"][0]["id"] == new_id
    page = client.get(response.headers["Location"])
    assert "It is searchable now" in text_of(page) and values["title"] in text_of(page)


def test_save_with_errors_is_refused_and_keeps_the_draft(client, settings):
    values = new_form(
        client,
        section_resolution="",
        section_cause="",
        component="",
        section_logs="token=Zq81xkP0aa",
    )
    response = client.post("/new", data={**values, "action": "save"})
    assert response.status_code == 422 and "Not saved: fix the errors first" in text_of(response)
    assert "Required." in problems_of(
        response, "component"
    ) and "Write a resolution" in problems_of(response, "resolution")
    assert "Possible secret" in problems_of(response, "logs")
    assert form_values(response)["section_symptoms"] == values["section_symptoms"]
    assert case_ids(settings) == {p.removesuffix(".md") for p in WORLD}


def test_the_problem_index_counts_every_problem_of_a_field(client):
    values = new_form(client, section_logs="token=Zq81xkP0aa\npassword=Vw93kLq2Tz")
    response = client.post("/new", data={**values, "action": "save"})
    index = response.get_data(as_text=True).split('id="problem-index"')[1].split("</ul>")[0]
    logs = next(item for item in index.split("<li")[1:] if "#field-logs" in item)
    assert "(1 more: shown by the field)" in logs  # the summary counts both secrets
    assert problems_of(response, "logs").count("Possible secret") == 2


def test_new_case_never_takes_an_existing_id(client, settings, write_cases):
    before = {p.name: p.read_text() for p in settings.cases_dir.glob("*.md")}
    response = client.post("/new", data={**new_form(client, id="ESC-2026-0002"), "action": "save"})
    assert (
        response.status_code == 303
        and {p.name: p.read_text() for p in settings.cases_dir.glob("*.md") if p.name in before}
        == before
    )
    pending = f"ESC-{date.today().year}-0200"
    write_cases(
        {f"{pending}.md": "not indexed yet"}
    )  # a file that is not in the index still owns its id
    response = client.post("/new", data={**new_form(client, id=pending), "action": "save"})
    assert (
        response.status_code == 303
        and response.headers["Location"] == f"/cases/ESC-{date.today().year}-0201"
    )
    assert (settings.cases_dir / f"{pending}.md").read_text() == "not indexed yet"


def test_edit_round_trip_keeps_the_case(app, client, settings):
    """Load -> form -> save without changes: the file parses to the same case."""
    for case_id in ("ESC-2026-0001", "ESC-2026-0006"):
        path = settings.cases_dir / f"{case_id}.md"
        before, _ = read_case_file(path, settings.id_regex)
        values = form_values(client.get(f"/cases/{case_id}/edit"))
        response = client.post(f"/cases/{case_id}/edit", data={**values, "action": "save"})
        assert response.status_code == 303 and response.headers["Location"] == f"/cases/{case_id}"
        after, problems = read_case_file(path, settings.id_regex)
        assert after is not None and not [p for p in problems if p.is_error]
        fields = [
            f.name
            for f in dataclasses.fields(after)
            if f.name not in ("sections", "content_hash", "path", "meta")
        ]
        assert {f: getattr(after, f) for f in fields} == {f: getattr(before, f) for f in fields}, (
            case_id
        )
        assert [(s.name, s.text) for s in after.sections] == [
            (s.name, s.text) for s in before.sections
        ]
        assert after.meta == before.meta
        if (
            case_id == "ESC-2026-0001"
        ):  # canonical English headings: identical down to headings and line numbers
            assert dataclasses.replace(after, content_hash="") == dataclasses.replace(
                before, content_hash=""
            )
        else:  # "症状 / Symptoms" is written back as the canonical "症状"
            assert [s.heading for s in after.sections] == ["症状", "回避策", "参考"]
    original, _ = check_case_text(WORLD["ESC-2026-0001.md"], "ESC-2026-0001.md", settings.id_regex)
    assert original is not None and original.error_codes == ("SCH-13208",)
    assert (
        "error_codes: [SCH-13208]" in (settings.cases_dir / "ESC-2026-0001.md").read_text()
    )  # not the extracted codes
    edited = form_values(client.get("/cases/ESC-2026-0006/edit"))
    saved = client.post(
        "/cases/ESC-2026-0006/edit",
        data={
            **edited,
            "section_cause": "The route cache is never invalidated.",
            "heading_lang": "en",
            "action": "save",
        },
    )
    assert saved.status_code == 303
    text = (settings.cases_dir / "ESC-2026-0006.md").read_text()
    assert "## Cause\nThe route cache is never invalidated." in text and "## Workaround" in text
    assert "never invalidated" in client.get("/cases/ESC-2026-0006").get_data(as_text=True)


def test_concurrent_edit_is_a_conflict_that_keeps_the_draft(client, settings):
    path = settings.cases_dir / "ESC-2026-0005.md"
    values = form_values(client.get("/cases/ESC-2026-0005/edit"))
    theirs = path.read_text().replace("two hours late", "three hours late")
    path.write_text(theirs)  # someone else saved meanwhile
    mine = {
        **values,
        "section_resolution": "Set mail.smtp.timeout to 60 seconds.",
        "action": "save",
    }
    response = client.post("/cases/ESC-2026-0005/edit", data=mine)
    assert response.status_code == 409
    assert "Someone changed this case after you opened it" in text_of(response)
    assert 'href="/cases/ESC-2026-0005/edit"' in response.get_data(as_text=True)  # reload link
    assert form_values(response)["section_resolution"] == "Set mail.smtp.timeout to 60 seconds."
    assert (
        form_values(response)["base_hash"] == values["base_hash"]
    )  # saving again is refused again
    assert path.read_text() == theirs
    tampered = client.post("/cases/ESC-2026-0005/edit", data={**mine, "base_hash": ""})
    assert tampered.status_code == 409 and path.read_text() == theirs


def test_edit_cannot_change_the_id(client, settings):
    values = form_values(client.get("/cases/ESC-2026-0005/edit"))
    response = client.post(
        "/cases/ESC-2026-0005/edit", data={**values, "id": "ESC-2026-0999", "action": "save"}
    )
    assert response.status_code == 303 and not (settings.cases_dir / "ESC-2026-0999.md").exists()
    assert "id: ESC-2026-0005" in (settings.cases_dir / "ESC-2026-0005.md").read_text()


def test_save_while_a_reindex_runs(client, settings, caplog):
    values = new_form(
        client, title="Kiosk BADGER-5512 freezes", section_symptoms="The kiosk BADGER-5512 freezes."
    )
    new_id = next_id(settings)
    lock = reindex_lock(settings)
    try:
        with caplog.at_level("INFO", logger="webui.editor"):
            response = client.post("/new", data={**values, "action": "save"})
    finally:
        lock.release()
    assert (
        response.status_code == 303 and response.headers["Location"] == "/search"
    )  # not in the index yet
    assert (settings.cases_dir / f"{new_id}.md").exists()
    assert "will appear in search once the reindex" in text_of(client.get("/search"))
    assert any("another reindex is running" in r.getMessage() for r in caplog.records)
    deadline = time.monotonic() + 30  # the save indexes itself once the running reindex is over
    while time.monotonic() < deadline:
        hits = client.get("/api/v1/search", query_string={"q": "BADGER-5512"}).get_json()["hits"]
        if hits and hits[0]["id"] == new_id:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the case saved during a reindex was never indexed")
    assert client.get(f"/cases/{new_id}").status_code == 200


def test_forms_need_the_csrf_token(client, settings):
    values = new_form(client)
    del values["csrf_token"]
    response = client.post("/new", data={**values, "action": "save"})
    assert response.status_code == 400 and "The form has expired" in text_of(response)
    assert case_ids(settings) == {p.removesuffix(".md") for p in WORLD}
    edit = form_values(client.get("/cases/ESC-2026-0005/edit"))
    before = (settings.cases_dir / "ESC-2026-0005.md").read_text()
    assert (
        client.post(
            "/cases/ESC-2026-0005/edit", data={**edit, "csrf_token": "forged", "action": "save"}
        ).status_code
        == 400
    )
    assert (settings.cases_dir / "ESC-2026-0005.md").read_text() == before
    assert client.post("/search", data={"q": "mail"}).status_code == 400
    assert (
        client.post("/api/v1/drafts/check", data={"fields": "x"}).status_code == 415
    )  # JSON only: no cross-site form


# -- long pasted queries ------------------------------------------------------------------------------


def long_log(chars: int) -> str:
    lines, i = [], 0
    while sum(len(line) + 1 for line in lines) < chars:
        lines.append(
            LOG.replace("448213", str(448213 + i)).replace("10:15:07", f"10:{i % 60:02d}:07")
        )
        i += 1
    return "\n".join(lines)[:chars]


def search_form(client, **fields: str) -> dict[str, str]:
    page = client.get("/")
    body = page.get_data(as_text=True)
    assert re.search(
        r'<form class="searchbox" method="post" action="/search"[^>]*data-post-over="2000"', body
    )
    token = re.search(r'name="csrf_token" value="([^"]+)"', body).group(1)
    return {"csrf_token": token, **fields}


def test_long_pasted_query_is_posted_and_linked_by_search_id(app, client):
    text = long_log(3000)
    response = client.post("/search", data=search_form(client, q=text, limit="2"))
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    hits = re.findall(r'<li class="hit" id="hit-([^"]+)"', body)
    assert hits and hits[0] == "ESC-2026-0001"
    sid = re.search(r'href="/search\?sid=([\w-]+)" class="share"', body).group(1)
    logged = activity.get_search_by_token(app.extensions["kb"].store, sid)
    assert logged.text == text and logged.role == "engineer"
    assert "q=" not in "".join(
        re.findall(r'href="(/search\?[^"]*)"', body)
    )  # no link carries the text
    shared = client.get(f"/search?sid={sid}")
    assert shared.status_code == 200  # the logged text and filters; the page size is not logged
    assert (
        re.findall(r'<li class="hit" id="hit-([^"]+)"', shared.get_data(as_text=True))[:2] == hits
    )
    assert text in html.unescape(
        shared.get_data(as_text=True)
    )  # the query box holds the text again

    pager = html.unescape(re.search(r'rel="next" href="([^"]+)"', body).group(1))
    assert pager.startswith(f"/search?sid={sid}") and "offset=2" in pager and "limit=2" in pager
    second = client.get(pager)
    expected = client.get(
        "/api/v1/search", query_string={"q": text, "limit": 2, "offset": 2}
    ).get_json()
    assert re.findall(r'<li class="hit" id="hit-([^"]+)"', second.get_data(as_text=True)) == [
        h["id"] for h in expected["hits"]
    ]

    filtered = client.get(f"/search?sid={sid}&offset=0&component=schedule")
    assert filtered.status_code == 200
    f_body = filtered.get_data(as_text=True)
    assert (
        '<input type="hidden" name="sid"' in f_body
        and 'name="component" value="schedule" checked' in f_body
    )
    remove = html.unescape(re.search(r'class="chip chip-remove" href="([^"]+)"', f_body).group(1))
    assert (
        remove == f"/search?sid={sid}&offset=0"
    )  # without the filter, not back to the logged ones
    share = re.search(r'href="/search\?sid=([\w-]+)" class="share"', f_body).group(1)
    assert 'name="component" value="schedule" checked' in client.get(
        f"/search?sid={share}"
    ).get_data(as_text=True)


def test_search_id_links_respect_roles(app, client):
    text = long_log(2500)
    as_role(app, "engineer")
    engineer_sid = re.search(
        r'href="/search\?sid=([\w-]+)" class="share"',
        client.post("/search", data=search_form(client, q=text)).get_data(as_text=True),
    ).group(1)
    as_role(app, "support")
    hidden = client.get(f"/search?sid={engineer_sid}")
    assert hidden.status_code == 404 and "no such search" in text_of(hidden)
    assert text[:200] not in html.unescape(hidden.get_data(as_text=True))
    support_sid = re.search(
        r'href="/search\?sid=([\w-]+)" class="share"',
        client.post("/search", data=search_form(client, q=text)).get_data(as_text=True),
    ).group(1)
    assert client.get(f"/search?sid={support_sid}").status_code == 200
    as_role(app, "admin")
    assert (
        client.get(f"/search?sid={support_sid}").status_code == 200
        and client.get(f"/search?sid={engineer_sid}").status_code == 200
    )
    assert (
        client.get("/search?sid=" + "A" * 24).status_code == 404
        and client.get("/search?sid=abc").status_code == 400
    )


def test_a_20kb_log_is_searched_and_the_back_link_uses_the_search_id(app, client):
    text = long_log(20_000)
    response = client.post("/search", data=search_form(client, q=text))
    body = response.get_data(as_text=True)
    assert (
        response.status_code == 200
        and re.findall(r'<li class="hit" id="hit-([^"]+)"', body)[0] == "ESC-2026-0001"
    )
    sid = re.search(r'href="/search\?sid=([\w-]+)" class="share"', body).group(1)
    reloaded = client.get(f"/search?sid={sid}")
    assert reloaded.status_code == 200 and re.findall(
        r'<li class="hit" id="hit-([^"]+)"', reloaded.get_data(as_text=True)
    )
    if len(activity.get_search_by_token(app.extensions["kb"].store, sid).text) < len(
        text
    ):  # the log keeps a prefix
        assert f"first {activity.MAX_LOGGED_QUERY} characters" in text_of(reloaded)
    case_page = client.get(f"/cases/ESC-2026-0001?sid={sid}").get_data(
        as_text=True
    )  # the result link
    assert f'href="/search?sid={sid}"' in case_page and "q=2026" not in case_page
    english = re.search(r'href="([^"]+)"[^>]*hreflang="en"', body)
    assert english and html.unescape(english.group(1)).startswith(f"/search?sid={sid}")
    short = client.post("/search", data=search_form(client, q="WF-20417"))
    assert short.status_code == 200 and "ESC-2026-0002" in short.get_data(as_text=True)


def test_a_broken_or_missing_file_is_not_opened(client, settings):
    path = settings.cases_dir / "ESC-2026-0005.md"
    path.write_text(
        path.read_text().replace("status: resolved", "status: fixed")
    )  # broken after the last index
    broken = client.get("/cases/ESC-2026-0005/edit")
    assert (
        broken.status_code == 422
        and "unknown status 'fixed'" in text_of(broken)
        and "ESC-2026-0005.md:" in text_of(broken)
    )
    path.unlink()
    assert client.get("/cases/ESC-2026-0005/edit").status_code == 404


def test_case_page_back_link_never_shows_a_wider_roles_query(app, client):
    as_role(app, "admin")
    sid = activity.log_search(
        app.extensions["kb"].store,
        activity.SearchEvent(
            text="VELVET-OWL customer export",
            role="admin",
            result_count=1,
            latency_ms=1.0,
            author="local",
        ),
    ).token
    as_role(app, "support")
    page = client.get(f"/cases/ESC-2026-0002?sid={sid}").get_data(as_text=True)
    assert (
        "VELVET-OWL" not in page and 'class="crumbs"' not in page
    )  # no "back to the results" with its text
    as_role(app, "admin")
    assert "VELVET-OWL" in html.unescape(
        client.get(f"/cases/ESC-2026-0002?sid={sid}").get_data(as_text=True)
    )


def test_the_japanese_editor_says_a_problem_from_its_code(client, monkeypatch):
    """The editor words a kb problem from its code and args, never from kb's English message:
    changing kb's English template changes neither the Japanese nor the English editor text."""
    from kb import messages
    from kb.errors import Problem

    broken = draft_json()
    broken["fields"]["product"] = ""

    def product_problems(lang: str) -> list[str]:
        data = client.post(f"/api/v1/drafts/check?lang={lang}", json=broken).get_json()
        return [p["message"] for p in data["problems"]["product"]]

    assert product_problems("ja") == ["入力してください。"] and product_problems("en") == [
        "Required."
    ]
    monkeypatch.setitem(messages.MESSAGES, "required_field", "the field '{field}' is needed")
    assert product_problems("ja") == ["入力してください。"] and product_problems("en") == [
        "Required."
    ]
    problem = Problem("new-case.md", 3, "required_field", {"field": "product"}, "product")
    assert problem.message == "the field 'product' is needed"  # what the CLI would say now
    assert editor.lint_message(problem, "ja") == "入力してください。"
    unknown_to_the_ui = Problem("new-case.md", None, "no_such_path")
    assert (
        editor.lint_message(unknown_to_the_ui, "ja") == "no such file or folder"
    )  # kb's English as the fallback
    secret = Problem(
        "new-case.md",
        7,
        "secret",
        {"kind": "credential", "text": "password=x", "placeholder": "<credential>"},
    )
    assert (
        editor.lint_message(secret, "ja")
        == "機密情報の可能性 (認証情報): 「password=x」。<credential> に置き換えるまで保存できません。"
    )


def test_checking_a_draft_never_walks_the_cases_folder(client, monkeypatch):
    """The live check runs on every pause in typing: it asks the store, never os.walk over the cases."""
    import os

    def no_walk(*args, **kwargs):
        raise AssertionError("the cases folder was walked")

    monkeypatch.setattr(os, "walk", no_walk)
    body = draft_json()
    body["fields"]["related"] = "ESC-2026-0001"
    assert (
        client.post(
            "/api/v1/drafts/check", json={**body, "original_id": "ESC-2026-0002"}
        ).status_code
        == 200
    )
    assert client.post("/api/v1/drafts/check", json=draft_json()).status_code == 200


def test_the_store_answers_the_editors_queries(app, settings, write_cases):
    """Store.case_ids (every id in use, for the id allocator) and Store.value_counts (form suggestions)."""
    store = app.extensions["kb"].store
    assert store.case_ids() == {f"ESC-2026-000{n}" for n in range(1, 7)}
    write_cases(
        {"ESC-2026-0077.md": "---\nbroken: [\n---\n"}
    )  # a file with errors still owns its id once synced
    run_index(settings)
    assert "ESC-2026-0077" in store.case_ids()
    assert dict(store.value_counts("component", ["support"])) == {
        "schedule": 1,
        "workflow": 2,
        "notification": 1,
    }
    assert store.value_counts("component", ["support"])[0] == ("workflow", 2)  # most used first
    assert dict(store.value_counts("product", ["support", "engineering", "restricted"])) == {
        "tsumugi-server": 6
    }
    assert store.value_counts("product", []) == []
    with pytest.raises(ValueError, match="unknown case column"):
        store.value_counts("title; drop table cases", ["support"])
