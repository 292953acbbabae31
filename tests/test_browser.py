"""The web UI in a real browser: Debian's headless Chromium driven by Playwright (browser tier).

Run with ``pytest -m browser``; screenshots land in ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import re
import shutil
import threading

import pytest
from worlds import LAPTOP, PASSWORD, search_for, shot

from indexer.jobs import run_index

pytestmark = pytest.mark.browser


def test_search_filter_case_feedback_and_stats(page, live_app):  # type: ignore[no-untyped-def]
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "ja"  # from the browser's Accept-Language
    assert page.locator(".example").count() == 3
    shot(page, "01-empty-ja")

    # Shift+Enter adds a line instead of submitting.
    box = page.locator("textarea#q")
    box.fill("一行目")
    box.press("Shift+Enter")
    box.type("二行目")
    assert box.input_value() == "一行目\n二行目" and page.url.endswith("/")

    search_for(page, "毎週の会議を1回分だけ消そうとするとエラー画面になる")
    assert "q=" in page.url
    first = page.locator("li.hit").first
    assert first.locator(".hit-title").inner_text().startswith("繰り返し予定")
    assert first.locator("mark").count() > 0
    assert "対処" in first.locator(".hit-resolution").inner_text()
    shot(page, "02-results-ja")

    # A facet checkbox narrows the results (app.js submits the filter form on change).
    page.locator("fieldset.facet", has_text="製品").locator(
        "label", has_text="tsumugi-cloud"
    ).click()
    page.wait_for_url(re.compile(r"product=tsumugi-cloud"))
    metas = page.locator("li.hit .hit-meta").all_inner_texts()
    assert metas and all("tsumugi-cloud" in m for m in metas)
    assert page.locator(".active-filters .chip-remove").count() == 1
    shot(page, "03-filtered-ja")

    # Open a case from the results (a plain link; app.js reports the click by a beacon) and say it solved the problem.
    from sqlalchemy import select

    from kb.activity import Click

    def clicks() -> list[str]:
        with live_app[1].extensions["kb"].store.session() as session:
            return list(session.scalars(select(Click.case_id)))

    before = len(clicks())
    title = page.locator("li.hit .hit-title a").first
    case_title = title.inner_text()
    case_id = title.get_attribute("data-case-id")
    title.click()
    page.wait_for_url(re.compile(r"/cases/ESC-\d{4}-\d{4}\?sid=[\w-]{24}$"))
    for _ in range(50):
        if len(clicks()) > before:
            break
        page.wait_for_timeout(100)
    assert clicks()[before:] == [case_id]
    assert page.locator("h1.case-title").inner_text() == case_title
    assert page.locator(".meta").inner_text().count("cases/") == 1
    shot(page, "04-case-ja")
    with page.expect_navigation():
        page.locator(".case-feedback button[value=solved]").click()
    assert "解決" in page.locator(".flash").inner_text()

    # An English query with the UI switched to English, then "none of these".
    page.goto("/?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    search_for(page, "notification mails arrive hours late")
    assert page.locator("li.hit").count() > 0
    assert "Resolution" in page.locator("li.hit .hit-resolution").first.inner_text()
    shot(page, "05-results-en")
    with page.expect_navigation():
        page.locator(".escalate button[value=escalated]").click()
    assert "escalate" in page.locator(".flash").inner_text().lower()

    # A pasted multi-line log.
    log = (
        "2025-12-24 23:59:01,999 ERROR [http-nio-8443-exec-41] j.k.t.schedule.RecurrenceService - SCH-13208 "
        "Cannot apply exception to series 9: no matching instance for 2025-12-25\n"
        "jp.kasumi.tsumugi.schedule.RecurrenceException: SCH-13208 no matching instance\n"
        "\tat jp.kasumi.tsumugi.schedule.RecurrenceService.applyException(RecurrenceService.java:412)"
    )
    search_for(page, log)
    assert page.locator(".understood").inner_text().count("log") >= 1
    assert page.locator("li.hit").count() > 0
    shot(page, "06-log-en")

    page.goto("/search?q=SCH-13208&from=2030-01-01")
    assert page.locator(".zero-state").count() == 1
    shot(page, "07-zero-en")

    page.goto("/stats")
    assert int(page.locator("#kpi-searches").inner_text()) >= 3
    assert page.locator("#kpi-deflection").inner_text() == "50%"
    assert page.locator("svg.chart rect.bar").count() == 30
    shot(page, "08-stats-en")

    page.goto("/stats?lang=ja")
    shot(page, "09-stats-ja")
    assert page.problems == []  # no script errors and no CSP violations

    response = page.goto("/cases/ESC-2099-0001")
    assert response.status == 404 and page.locator("h1").inner_text() == "見つかりません"
    shot(page, "10-not-found-ja")


def test_narrow_laptop_layout(page, browser, live_url, engineer):  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto("/search?q=SCH-13208")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1024  # no horizontal scrolling
    shot(page, "11-results-1024")
    page.goto("/cases/ESC-2024-0100")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    shot(page, "12-case-1024")
    page.goto("/cases/ESC-2024-0100/edit?lang=en")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    page.locator("#section_cause").fill(
        ""
    )  # a required section emptied: the problem shows next to it
    page.locator("#problems-cause li").wait_for()
    shot(page, "16-editor-edit-1024-en", full_page=False)
    assert page.problems == []


def test_works_without_javascript(browser, live_url):  # type: ignore[no-untyped-def]
    context = browser.new_context(
        viewport=LAPTOP, java_script_enabled=False, base_url=live_url, locale="en-US"
    )
    page = context.new_page()
    page.goto("/")
    page.fill("textarea#q", "approval route")
    with page.expect_navigation():
        page.click(".searchbox button[type=submit]")
    assert page.locator("li.hit").count() > 0
    page.locator("fieldset.facet", has_text="Status").locator("input[value=resolved]").check()
    with page.expect_navigation():
        page.click(".filter-actions button[type=submit]")
    assert "status=resolved" in page.url
    with page.expect_navigation():
        page.locator("li.hit button[value=not_relevant]").first.click()
    assert "not relevant" in page.locator(".flash").inner_text()
    context.close()


def test_long_pasted_log_is_posted(page):  # type: ignore[no-untyped-def]
    page.goto("/?lang=en")
    line = (
        "2025-12-24 23:59:01,999 ERROR [http-nio-8443-exec-41] j.k.t.schedule.RecurrenceService - SCH-13208 "
        "Cannot apply exception to series {n}: no matching instance for 2025-12-25"
    )
    log = "\n".join(line.format(n=448213 + i) for i in range(20))  # about 3 KB: too long for a URL
    page.locator("textarea#q").fill(log)
    with page.expect_navigation():
        page.locator(".searchbox button[type=submit]").click()
    assert page.url.endswith("/search")  # posted: the text is not in the URL
    assert page.locator("li.hit").count() > 0
    share = page.locator("a.share").get_attribute("href")
    assert re.fullmatch(r"/search\?sid=[\w-]{24}", share or "")
    page.goto(share)
    assert page.locator("li.hit").count() > 0 and page.locator("textarea#q").input_value() == log
    assert page.problems == []


def test_write_a_case_with_similar_cases_and_live_preview(page, engineer):  # type: ignore[no-untyped-def]
    page.goto("/")
    with page.expect_navigation():
        page.locator("a.btn-new").click()
    assert page.url.endswith("/new") and page.locator("html").get_attribute("lang") == "ja"
    assert (
        page.locator("#f-id").count() == 0 and page.locator("#id-assigned").is_visible()
    )  # the id is given at save
    assert page.locator("#f-authors").input_value()
    assert (
        page.locator("#section_symptoms").get_attribute("placeholder").startswith("お客様の言葉で")
    )

    page.locator("#f-title").fill("週次の定例会議で祝日の回だけ削除すると SCH-13208 エラーになる")
    page.locator("#section_symptoms").fill(
        "毎週の定例会議のうち祝日の回だけ削除すると「予定を保存できませんでした。(SCH-13208)」と表示される。\n\n"
        "- 対象: **繰り返し予定**\n- 連絡先: sato@hanamura-logi.co.jp"
    )
    suggestion = page.locator(
        "#similar-list .similar-item", has=page.locator("button[name=relate]")
    ).first
    suggestion.wait_for()  # similar cases arrive while typing
    related_id = suggestion.get_attribute("data-id")
    assert re.fullmatch(r"ESC-\d{4}-\d{4}", related_id or "")
    suggestion.locator("button[name=relate]").click()
    assert related_id in page.locator("#f-related").input_value()
    page.locator(f"#similar-list .similar-item[data-id='{related_id}'] .chip-related").wait_for()

    preview = page.locator("#preview-body")
    preview.locator(
        "strong", has_text="繰り返し予定"
    ).wait_for()  # the live preview renders the Markdown
    page.locator("#findings:not([hidden])").wait_for()  # the e-mail address is flagged
    assert "メールアドレス" in page.locator("#finding-list").inner_text()
    page.locator("#findings button[value=redact]").click()
    page.wait_for_function("document.querySelector('#section_symptoms').value.includes('<EMAIL>')")
    page.evaluate("window.scrollTo(0, 0)")
    shot(
        page, "13-editor-ja", full_page=False
    )  # what the author sees: the sticky side panel and action bar

    page.locator("#f-component").fill("schedule")
    page.locator("#section_cause").fill(
        "例外日の照合を JVM の既定タイムゾーンで行っていたため、祝日の回が見つからなかった。"
    )
    page.locator("#section_resolution").fill(
        "1. JVM オプションから `-Duser.timezone=UTC` を削除する\n2. サービスを再起動する"
    )
    page.locator("#preview-body .section-resolution li").first.wait_for()
    page.locator("#check-summary.is-ok").wait_for()
    assert page.locator("#findings").is_hidden()
    page.locator("#section_symptoms").scroll_into_view_if_needed()
    shot(page, "14-editor-preview-ja", full_page=False)

    with page.expect_navigation():
        page.locator("#save").click()
    new_id = page.url.rsplit("/", 1)[1]
    assert re.fullmatch(r"ESC-\d{4}-\d{4}", new_id)
    assert page.locator("h1.case-title").inner_text().startswith("週次の定例会議で祝日の回だけ")
    assert "保存しました" in page.locator(".flash").inner_text()
    assert related_id in page.locator(".case-side").inner_text()
    assert page.locator("a.case-edit").count() == 1
    shot(page, "15-new-case-ja")
    with page.expect_navigation():
        page.locator("a.case-edit").click()
    assert (
        page.locator("#f-id").input_value() == new_id
        and page.locator("#f-id").get_attribute("readonly") is not None
    )
    assert page.locator("#f-related").input_value() == related_id
    assert "<EMAIL>" in page.locator("#section_symptoms").input_value()

    page.goto("/")
    search_for(page, "定例会議 祝日の回 SCH-13208 タイムゾーン")
    assert new_id in page.locator("li.hit .hit-meta").all_inner_texts()[0] or new_id in " ".join(
        page.locator("li.hit .hit-meta").all_inner_texts()[:3]
    )
    assert page.problems == []


def test_sign_in_as_support_and_out(browser, tmp_path):  # type: ignore[no-untyped-def]
    """Accounts mode in a real browser: the login form, the session cookie, a support user's view."""
    from conftest import FAKE_MODEL, SAMPLE_CASES
    from werkzeug.serving import make_server

    from kb import accounts
    from kb.migrate import open_store
    from kb.settings import load_settings
    from webui import create_app

    shutil.copytree(SAMPLE_CASES, tmp_path / "cases")
    settings = load_settings(
        environ={},
        cases_dir=tmp_path / "cases",
        data_dir=tmp_path / "data",
        embed_model=FAKE_MODEL,
        auth_mode="accounts",
        cookie_secure=False,
        secret_key="browser-test",
    )
    run_index(settings)
    store = open_store(settings)
    accounts.add_user(store, "sato", "support", PASSWORD)
    store.close()
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        context = browser.new_context(
            viewport=LAPTOP, locale="en-US", base_url=f"http://127.0.0.1:{server.server_port}"
        )
        page = context.new_page()
        page.goto("/search?q=tenant")
        assert "/login" in page.url
        page.fill("input[name=name]", "sato")
        page.fill("input[name=password]", "wrong password here")
        page.click("button[type=submit]")
        assert "Could not log in" in page.inner_text("main")
        page.fill("input[name=password]", PASSWORD)
        shot(page, "17-login-en")
        page.click("button[type=submit]")
        page.wait_for_url("**/search?q=tenant")
        assert "sato (support)" in page.inner_text("header")
        restricted = [
            c.stem
            for c in (tmp_path / "cases").glob("*.md")
            if "visibility: restricted" in c.read_text("utf-8")
        ]
        assert restricted and not any(cid in page.content() for cid in restricted)
        page.goto(f"/cases/{restricted[0]}")
        assert "404" in page.inner_text("main")
        shot(page, "18-signed-in-404-en")
        page.goto("/")
        page.click("header button:has-text('Log out')")
        page.wait_for_url("**/login")
        context.close()
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
        app.extensions["kb"].close()
