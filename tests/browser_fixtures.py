"""The browser tier's fixtures (a pytest plugin, loaded by ``conftest.py``): the sample corpus served
by werkzeug in a thread, Debian's headless Chromium through Playwright, and a page per test.

Module-scoped fixtures are set up once per test module that uses them, as before.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator

import pytest
from worlds import CHROMIUM, FAKE_MODEL, LAPTOP, SAMPLE_CASES


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    """The app on a copy of the sample corpus (the editor writes there), served by werkzeug in a thread."""
    from werkzeug.serving import make_server

    from indexer.jobs import run_index
    from kb.settings import load_settings
    from webui import create_app

    folder = tmp_path_factory.mktemp("browser")
    shutil.copytree(SAMPLE_CASES, folder / "cases")
    settings = load_settings(
        environ={}, cases_dir=folder / "cases", data_dir=folder / "data", embed_model=FAKE_MODEL
    )
    report = run_index(settings)
    assert report.published
    app = create_app(settings, test_config={"KB_ROLE": "support"})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()
    app.extensions["kb"].close()


@pytest.fixture(scope="module")
def live_url(live_app: tuple[str, object]) -> str:
    return live_app[0]


@pytest.fixture
def engineer(live_app: tuple[str, object]) -> Iterator[None]:
    """Every request made during the test is an engineer's (the app's fixed role)."""
    app = live_app[1]
    app.config["KB_ROLE"] = "engineer"  # type: ignore[attr-defined]
    yield
    app.config["KB_ROLE"] = "support"  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (scripts/test.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_url):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=LAPTOP, locale="ja-JP", base_url=live_url)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: problems.append(str(exc)))
    tab.problems = problems
    yield tab
    context.close()
