from conftest import case_text

from kb.parse import parse_case
from kb.render import render_case_sections, render_markdown


def test_raw_html_is_escaped():
    html = render_markdown(
        "<script>alert(1)</script>\n\n<img src=x onerror=alert(1)> and <b>bold</b>"
    )
    assert "<script>" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html


def test_dangerous_links_are_dropped_and_safe_ones_kept():
    html = render_markdown(
        "[a](javascript:alert(1)) [b](JaVaScRiPt:alert(1)) [c](data:text/html;base64,xx) "
        "[d](vbscript:x) [e](https://example.com/x) [f](/cases/ESC-2026-0001) [g](mailto:a@example.com)"
    )
    hrefs = html.lower().split("href=")[1:]
    assert len(hrefs) == 3 and not any(
        h.startswith(('"javascript', '"data', '"vbscript')) for h in hrefs
    )
    assert (
        'href="https://example.com/x"' in html
        and 'href="/cases/ESC-2026-0001"' in html
        and 'href="mailto:a@example.com"' in html
    )


def test_code_blocks_and_tables_render():
    html = render_markdown("```text\n<tag> & stuff\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<pre><code" in html and "&lt;tag&gt; &amp; stuff" in html and "<table>" in html


def test_case_sections_render_in_order():
    case = parse_case(case_text(logs="2026-01-01 ERROR <boom>"), "ESC-2026-0001.md")
    sections = render_case_sections(case)
    assert [s["name"] for s in sections] == ["symptoms", "cause", "resolution", "logs"]
    assert "&lt;boom&gt;" in sections[-1]["html"]
