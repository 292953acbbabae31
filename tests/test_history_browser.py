"""The history page in a real browser (browser tier): Debian's headless Chromium through Playwright,
the sample corpus in a git working copy with one edit of a Japanese case; screenshots of the diff at
desktop and phone widths land in ``test-artifacts/screenshots/``."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator

import pytest
from worlds import CHROMIUM, FAKE_MODEL, LAPTOP, SAMPLE_CASES, shot

pytestmark = pytest.mark.browser
CASE = "ESC-2024-0100"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def history_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from werkzeug.serving import make_server

    from indexer.jobs import run_index
    from kb.history import repo_for
    from kb.repo import Person
    from kb.settings import load_settings
    from webui import create_app

    root = tmp_path_factory.mktemp("history-browser")
    cases = root / "cases"
    shutil.copytree(SAMPLE_CASES, cases)
    env = {
        "GIT_AUTHOR_NAME": "seed",
        "GIT_AUTHOR_EMAIL": "seed@example.com",
        "GIT_COMMITTER_NAME": "seed",
        "GIT_COMMITTER_EMAIL": "seed@example.com",
        "PATH": "/usr/bin:/bin",
    }
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["commit", "-qm", "Import the sample corpus"],
    ):
        subprocess.run(["git", "-C", str(cases), *args], check=True, env=env, capture_output=True)
    settings = load_settings(
        environ={}, cases_dir=cases, data_dir=root / "data", embed_model=FAKE_MODEL
    )
    path = cases / f"{CASE}.md"
    text = path.read_text("utf-8")
    edited = text.replace(
        "サービスを再起動。", "サービスを再起動する。再起動後に予定の削除を再度お試しください。"
    ).replace("severity: S2", "severity: S1")
    assert edited != text
    repo = repo_for(settings)
    assert repo is not None
    path.write_text(edited, "utf-8")
    with repo.writing():
        repo.commit_file(
            path,
            Person("m.ito", "m.ito@users.noreply.kb"),
            f"Update {CASE}: resolution, severity — a retry of the deletion after the restart, "
            "confirmed with the customer after three failed attempts (再起動後の削除を再試行)",
        )
    assert run_index(settings).published
    app = create_app(settings, test_config={"KB_ROLE": "engineer"})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()
    app.extensions["kb"].close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (scripts/test.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.mark.parametrize("name,viewport", [("desktop", LAPTOP), ("phone", PHONE)])
def test_history_page_with_a_diff(chromium, history_app, name, viewport):  # type: ignore[no-untyped-def]
    context = chromium.new_context(viewport=viewport, locale="ja-JP", base_url=history_app)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    try:
        page.goto(f"/cases/{CASE}")
        page.click("a.case-history")
        page.wait_for_selector(".history-table tbody tr")
        assert page.url.endswith(f"/cases/{CASE}/history")
        assert page.locator(".history-table tbody tr").count() == 2
        assert page.locator(".diff-text ins").first.inner_text().startswith("する。")
        assert "S1" in page.locator(".history-fields").inner_text()
        assert page.locator(".history-restore button").is_visible()
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= viewport["width"] + 1, (
            f"the page scrolls sideways at {viewport['width']} px"
        )
        clipped = page.evaluate(
            """[...document.querySelectorAll('.history-table, .history-summary')]
              .filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right >
                           e.closest('.card, section, main').getBoundingClientRect().right + 1)
              .map(e => e.className)"""
        )
        assert not clipped, f"clipped at {viewport['width']} px: {clipped}"
        shot(page, f"history-{name}")
        # compare the other way round through the form (radio buttons, no JavaScript needed)
        page.locator("input[name=a]").nth(0).check()
        page.locator("input[name=b]").nth(1).check()
        page.click(".history-compare button[type=submit]")
        page.wait_for_url("**/history?a=*#diff")
        page.wait_for_selector(".diff-text del")
        assert page.locator(".diff-text del").first.inner_text().startswith("する。")
        assert not problems, problems
    finally:
        context.close()
