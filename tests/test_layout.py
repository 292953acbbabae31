"""The responsive layout in a real browser (browser tier): phone, tablet and desktop widths.

Every page fits its width (no horizontal scrolling), the header stays readable, the results page
shows its first hit above the fold, and the editor's action bar keeps its buttons horizontal.
Screenshots (what the viewport shows) land in ``test-artifacts/screenshots/layout-*.png``.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from worlds import shot

pytestmark = pytest.mark.browser

WIDTHS = {375: 740, 768: 1024, 1280: 800}  # width -> viewport height (a phone, a tablet, a laptop)
JA_QUERY = "毎週の会議を1回分だけ消そうとするとエラー画面になる"
PAGES = {
    "search": "/",
    "results": f"/search?q={quote(JA_QUERY)}",
    "results-code": "/search?q=SCH-13208&status=resolved",
    "case": "/cases/ESC-2024-0100",
    "editor": "/cases/ESC-2024-0100/edit",
    "new": "/new",
    "stats": "/stats",
    "login": "/login",
}


def overflow(page) -> int:  # type: ignore[no-untyped-def]
    """How many pixels the document is wider than the viewport (0: no horizontal scrolling)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def box(page, selector: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    found = page.locator(selector).first.bounding_box()
    assert found is not None, selector
    return found  # type: ignore[no-any-return]


@pytest.fixture
def sized(browser, live_url, request):  # type: ignore[no-untyped-def]
    width = request.param
    context = browser.new_context(
        viewport={"width": width, "height": WIDTHS[width]}, locale="ja-JP", base_url=live_url
    )
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda exc: problems.append(str(exc)))
    tab.problems = problems
    yield tab
    context.close()


@pytest.mark.parametrize("sized", list(WIDTHS), indirect=True, ids=[f"{w}px" for w in WIDTHS])
def test_every_page_fits_the_width(sized, engineer):  # type: ignore[no-untyped-def]
    page = sized
    width = page.viewport_size["width"]
    for name, path in PAGES.items():
        page.goto(path)
        assert overflow(page) <= 0, f"{name} at {width}px scrolls sideways by {overflow(page)} px"
        brand = box(page, ".brand")
        assert brand["height"] < 48, (
            f"{name} at {width}px: the header's name wraps ({brand['height']} px high)"
        )
        switch = box(page, ".langswitch")
        assert switch["x"] >= 0 and switch["x"] + switch["width"] <= width, (
            f"{name} at {width}px: language switch off-screen"
        )
        shot(page, f"layout-{width}-{name}", full_page=False)
    assert page.problems == []


@pytest.mark.parametrize("sized", list(WIDTHS), indirect=True, ids=[f"{w}px" for w in WIDTHS])
def test_first_hit_is_above_the_fold(sized):  # type: ignore[no-untyped-def]
    page = sized
    for path in (PAGES["results"], PAGES["results-code"]):
        page.goto(path)
        title = box(page, "li.hit .hit-title")
        height = page.evaluate("window.innerHeight")
        assert title["y"] + title["height"] <= height, (
            f"first hit at {title['y']} px, the fold at {height} px ({path})"
        )


@pytest.mark.parametrize("sized", [375, 768], indirect=True, ids=["375px", "768px"])
def test_editor_actions_stay_horizontal(sized, engineer):  # type: ignore[no-untyped-def]
    page = sized
    page.goto("/cases/ESC-2024-0100/edit")
    for button in page.locator(".editor-actions .btn").all():
        found = button.bounding_box()
        assert found and found["width"] >= found["height"], (
            f"a squeezed button: {button.inner_text()!r} {found}"
        )
    fields = page.locator(
        "#case-editor input:visible, #case-editor textarea:visible, #case-editor select:visible"
    ).all()
    width = page.viewport_size["width"]
    for field in fields:
        found = field.bounding_box()
        if found:
            assert found["x"] >= 0 and found["x"] + found["width"] <= width, (
                f"a field cut off: {field.get_attribute('name')}"
            )


@pytest.mark.parametrize("sized", [375], indirect=True, ids=["375px"])
def test_filters_behind_a_button_on_a_phone(sized):  # type: ignore[no-untyped-def]
    page = sized
    page.goto(PAGES["results-code"])
    toggle = page.locator("a.filters-jump")
    assert toggle.is_visible()
    assert box(page, "li.hit")["y"] < box(page, ".filters")["y"]  # results first
    toggle.click()
    page.wait_for_timeout(50)
    facet = page.locator("fieldset.facet", has_text="状態")
    assert facet.first.is_visible()
    assert box(page, ".filters")["y"] < page.evaluate(
        "window.innerHeight"
    )  # scrolled to the filters


@pytest.mark.parametrize("sized", [375, 1280], indirect=True, ids=["375px", "1280px"])
def test_not_relevant_is_confirmed_where_the_user_looks(sized):  # type: ignore[no-untyped-def]
    page = sized
    page.goto("/search?q=mail+queue")
    hits = page.locator("li.hit")
    assert hits.count() >= 3
    third = hits.nth(2)
    case_id = third.get_attribute("id").removeprefix("hit-")
    third.locator("button[value=not_relevant]").scroll_into_view_if_needed()
    with page.expect_navigation():
        third.locator("button[value=not_relevant]").click()
    note = page.locator(f"#hit-{case_id} .flash-inline")
    assert case_id in note.inner_text()
    found = note.bounding_box()
    height = page.evaluate("window.innerHeight")
    assert found and 0 <= found["y"] and found["y"] + found["height"] <= height, (
        f"confirmation at {found}, viewport {height}"
    )
    shot(page, f"layout-{page.viewport_size['width']}-feedback-note", full_page=False)


@pytest.mark.parametrize("sized", [1280], indirect=True, ids=["1280px"])
def test_the_first_result_is_a_few_tabs_away(sized):  # type: ignore[no-untyped-def]
    page = sized
    page.goto("/search?q=mail+queue")
    page.keyboard.press("Tab")
    assert (
        page.evaluate("document.activeElement.getAttribute('href')") == "#results"
    )  # the skip link comes first
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "results"
    for _ in range(3):  # past the results' own links (the search's link) to the first hit
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('hit-link')"):
            break
    assert page.evaluate("document.activeElement.classList.contains('hit-link')")
    page.goto("/search?q=mail+queue")
    # without the skip link: the header, the search box, then the results
    for presses in range(1, 40):  # noqa: B007  (read after the loop)
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('hit-link')"):
            break
    assert presses <= 15, f"{presses} Tabs to the first result"
