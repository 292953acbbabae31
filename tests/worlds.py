"""The shared test data: case worlds built in code, and the plain helpers the test modules share.

Data and functions only; the fixtures that build apps and browsers on these worlds live in
``conftest.py`` and ``browser_fixtures.py``. No test module imports another test module: what two
of them share lives here.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE_CASES = REPO / "cases"
BROKEN = REPO / "tests" / "data" / "broken"
FAKE_MODEL = "hash:256"
PASSWORD = "correct horse battery staple"  # every test account's password


def case_text(
    case_id: str = "ESC-2026-0001",
    *,
    title: str = "Recurring events fail with SCH-13208",
    status: str = "resolved",
    visibility: str = "support",
    product: str = "tsumugi-server",
    component: str = "schedule",
    created: str = "2026-03-02",
    extra: str = "",
    symptoms: str = "Deleting one occurrence of a weekly meeting shows HTTP 500.",
    cause: str = "Exception dates were compared in the JVM default time zone.",
    resolution: str = "Remove -Duser.timezone=UTC and restart.",
    logs: str = "",
    tags: str = "[repeat-event]",
    versions: str = '["5.9"]',
) -> str:
    """A valid case file; keyword arguments change single parts of it."""
    parts = [
        textwrap.dedent(f"""\
        ---
        id: {case_id}
        title: {json.dumps(title, ensure_ascii=False)}
        status: {status}
        product: {product}
        versions: {versions}
        component: {component}
        tags: {tags}
        visibility: {visibility}
        created: {created}
        """)
        + extra
        + "---\n",
        f"## Symptoms\n{symptoms}\n",
    ]
    if cause:
        parts.append(f"\n## Cause\n{cause}\n")
    parts.append(f"\n## Resolution\n{resolution}\n")
    if logs:
        parts.append(f"\n## Logs\n```text\n{logs}\n```\n")
    return "".join(parts)


# -- the search world (tests/test_searcher.py, tests/test_lexical_conformance.py) ------------------------

SEARCH_LOG = """2026-03-02 10:15:07,123 ERROR [http-nio-8080-exec-7] c.k.t.schedule.RecurrenceService - req=8f3a2c91 [SCH-13208] Cannot apply exception to series 448213: no matching instance for 2026-02-11
    at com.kasumi.tsumugi.schedule.RecurrenceService.apply(RecurrenceService.java:231)"""

SEARCH_WORLD = {
    "ESC-2026-0001.md": case_text(
        "ESC-2026-0001",
        title="繰り返し予定の一部削除で HTTP 500 (SCH-13208)",
        symptoms="毎週の定例会議のうち祝日の回だけ削除しようとするとエラーになる。",
        logs=SEARCH_LOG,
        cause="例外日の照合を JVM の既定タイムゾーンで行っていた。",
        resolution="JVM オプションから -Duser.timezone=UTC を削除して再起動する。",
    ),
    "ESC-2026-0002.md": case_text(
        "ESC-2026-0002",
        title="Approval route not updated after reorganisation (WF-20417)",
        component="workflow",
        tags="[approval]",
        versions='["6.0"]',
        symptoms="Requests still go to the former manager after the org chart changed.",
        cause="The approval route cache is not invalidated.",
        resolution="Clear the route cache from the admin screen.",
        logs="2026-04-01 09:00:00 WARN [wf-3] RouteResolver - [WF-20417] approver 1182 not in group 77",
    ),
    "ESC-2026-0003.md": case_text(
        "ESC-2026-0003",
        title="Notification mail delayed by hours",
        component="notification",
        symptoms="Users receive the notification e-mails two hours late.",
        cause="mail.smtp.timeout was 0.",
        resolution="Set mail.smtp.timeout to 30 seconds.",
        status="resolved",
        product="tsumugi-cloud",
        logs="2026-05-01 08:00:00 ERROR [mail-1] SmtpSender - connection to relay 192.0.2.5 timed out after 7200000 ms",
    ),
    "ESC-2026-0004.md": case_text(
        "ESC-2026-0004",
        title="Engineering-only: heap dump analysis of the search indexer",
        visibility="engineering",
        component="fulltext-search",
        symptoms="The indexer dies with java.lang.OutOfMemoryError nightly. Codename GLASS-HERON.",
        cause="Large attachments are read fully into memory.",
        resolution="Stream attachments.",
    ),
    "ESC-2026-0005.md": case_text(
        "ESC-2026-0005",
        title="Restricted: tenant data exposure in export",
        visibility="restricted",
        component="rest-api",
        symptoms="Export returned another tenant's rows. Codename VELVET-OWL.",
        cause="Missing tenant filter.",
        resolution="Hotfix applied.",
    ),
}


# -- the web world: six cases of every visibility plus ten mail fillers (web UI, API, security) ----------

WEB_LOG = (
    "2026-03-02 10:15:07,123 ERROR [http-nio-8080-exec-7] c.k.t.schedule.RecurrenceService - req=8f3a2c91 [SCH-13208] "
    "Cannot apply exception to series 448213: no matching instance for 2026-02-11"
)


def _filler(i: int) -> tuple[str, str]:
    case_id = f"ESC-2025-{i:04d}"
    return f"{case_id}.md", case_text(
        case_id,
        title=f"Mail queue stalls on relay node {i}",
        component="mail",
        product="tsumugi-cloud" if i % 2 else "tsumugi-server",
        tags="[smtp]",
        versions='["6.0"]' if i % 3 else '["5.9"]',
        created=f"2025-0{1 + i % 9}-1{i % 10}",
        symptoms=f"Outgoing mail waits in the queue on relay node {i}; the mail queue grows.",
        cause="The relay connection pool is exhausted.",
        resolution=f"Restart relay node {i}.",
        status="workaround" if i % 4 == 0 or i == 3 else "resolved",
    )


WEB_WORLD = dict(
    [
        (
            "ESC-2026-0001.md",
            case_text(
                "ESC-2026-0001",
                title="繰り返し予定の一部削除で HTTP 500 (SCH-13208)",
                symptoms="毎週の定例会議のうち祝日の回だけ削除しようとするとエラーになる。",
                logs=WEB_LOG,
                cause="例外日の照合を JVM の既定タイムゾーンで行っていた。",
                resolution="JVM オプションから -Duser.timezone=UTC を削除して再起動する。",
                extra="related: [ESC-2026-0005, ESC-2026-0003]\n",
            ),
        ),
        (
            "ESC-2026-0002.md",
            case_text(
                "ESC-2026-0002",
                title="Approval route not updated after reorganisation (WF-20417)",
                component="workflow",
                tags="[approval]",
                versions='["6.0"]',
                symptoms="Requests still go to the former manager after the org chart changed.",
                cause="The approval route cache is not invalidated.",
                resolution="Clear the route cache from the admin screen.",
            ),
        ),
        (
            "ESC-2026-0003.md",
            case_text(
                "ESC-2026-0003",
                title="Notification mail delayed by hours",
                component="notification",
                symptoms="Users receive the notification e-mails two hours late.",
                cause="mail.smtp.timeout was 0.",
                resolution="Set mail.smtp.timeout to 30 seconds.",
                product="tsumugi-cloud",
            ),
        ),
        (
            "ESC-2026-0004.md",
            case_text(
                "ESC-2026-0004",
                title="Engineering-only: heap dump of the indexer GLASS-HERON",
                visibility="engineering",
                component="fulltext-search",
                symptoms="The indexer dies with java.lang.OutOfMemoryError nightly. Codename GLASS-HERON.",
                cause="Large attachments are read fully into memory.",
                resolution="Stream attachments.",
            ),
        ),
        (
            "ESC-2026-0005.md",
            case_text(
                "ESC-2026-0005",
                title="Restricted: tenant data exposure VELVET-OWL",
                visibility="restricted",
                component="rest-api",
                symptoms="Export returned another tenant's rows. Codename VELVET-OWL.",
                cause="Missing tenant filter.",
                resolution="Hotfix applied.",
            ),
        ),
        (
            "ESC-2026-0006.md",
            case_text(
                "ESC-2026-0006",
                title='Portal shows <script>alert("x")</script> in widget titles',
                component="portal",
                symptoms="A widget named <img src=x onerror=alert(1)> breaks the portal.",
                cause="Titles were not escaped.",
                resolution="Rename the widget; fixed in 6.1.",
            ),
        ),
        *[_filler(i) for i in range(1, 11)],
    ]
)
SUPPORT_VISIBLE = {cid.removesuffix(".md") for cid in WEB_WORLD} - {
    "ESC-2026-0004",
    "ESC-2026-0005",
}
WEB_SECRETS = ("GLASS-HERON", "VELVET-OWL", "ESC-2026-0004", "ESC-2026-0005")


# -- reading pages -----------------------------------------------------------------------------------


def en(client):
    client.set_cookie("lang", "en")
    return client


def page_text(response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def hit_ids(response) -> list[str]:
    return re.findall(r'<li class="hit" id="hit-([^"]+)"', response.get_data(as_text=True))


def first_match(pattern: str, response) -> str:
    """The first group of ``pattern`` in the response body (the test fails when it is missing)."""
    found = re.search(pattern, response.get_data(as_text=True))
    assert found, pattern
    return found.group(1)


def csrf_token(response) -> str:
    return first_match(r'name="csrf_token" value="([^"]+)"', response)


def search_id_of(response) -> int:
    return int(first_match(r'name="search_id" value="(\d+)"', response))


def rows(app, model) -> list:  # type: ignore[type-arg]
    """Every row of one store table (an ORM model) of a running app, in id order."""
    from sqlalchemy import select

    with app.extensions["kb"].store.session() as session:
        return list(session.scalars(select(model).order_by(model.id)))


# -- signing in (accounts mode) ------------------------------------------------------------------------


def login(client, name: str, password: str = PASSWORD):
    return client.post("/login", data={"name": name, "password": password, "next": "/"})


def signed_in(app, name: str):
    """A test client signed in as ``name`` through the login form."""
    client = app.test_client()
    assert login(client, name).status_code == 303
    return client


# -- the browser tier ---------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "test-artifacts" / "screenshots"
LAPTOP = {"width": 1366, "height": 900}


def shot(page, name: str, full_page: bool = True) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def search_for(page, text: str) -> None:  # type: ignore[no-untyped-def]
    box = page.locator("textarea#q")
    box.fill(text)
    with page.expect_navigation():
        box.press("Enter")  # app.js: Enter submits


# -- git repositories (the cases repository tests) ---------------------------------------------


def git(folder: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "git user",
        "GIT_AUTHOR_EMAIL": "git@example.com",
        "GIT_COMMITTER_NAME": "git user",
        "GIT_COMMITTER_EMAIL": "git@example.com",
    }
    return subprocess.run(
        ["git", "-C", str(folder), *args], check=True, capture_output=True, text=True, env=env
    ).stdout


def make_world(tmp_path: Path, files: dict[str, str] | None = None) -> tuple[Path, Path, Path]:
    """A bare remote with one commit, the product's clone (``kb``) and a git user's clone (``user``)."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    seed = tmp_path / "seed"
    git(tmp_path, "init", "-q", "-b", "main", str(seed))
    for name, text in (files or {"ESC-2026-0001.md": case_text()}).items():
        (seed / name).write_text(text, "utf-8")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "seed")
    git(seed, "push", "-q", str(remote), "main")
    kb_clone, user = tmp_path / "kb", tmp_path / "user"
    git(tmp_path, "clone", "-q", str(remote), str(kb_clone))
    git(tmp_path, "clone", "-q", str(remote), str(user))
    return remote, kb_clone, user
