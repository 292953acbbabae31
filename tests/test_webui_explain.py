"""The results page explains each hit in words (indexer.reasons.hit_reasons and the hit markup)."""

from __future__ import annotations

import re

from worlds import WEB_LOG, en, page_text

from indexer import reasons
from indexer.searcher import Hit
from webui.i18n import translate


def _hit(reasons: list[str], **explained: object) -> Hit:
    return Hit(
        id="ESC-1",
        title="t",
        status="resolved",
        product="p",
        component="c",
        versions=[],
        visibility="support",
        created="2025-01-01",
        score=1.0,
        section="",
        section_heading="",
        snippet="",
        resolution="",
        why={
            "reasons": reasons,
            "lexical": 3,
            "explain": {"words": [], "codes": [], "log_lines": [], **explained},
        },
    )


def sentences(hit: Hit, lang: str = "ja") -> list[str]:
    return [translate(key, lang, **values) for key, values in reasons.hit_reasons(hit)]


def test_each_reason_is_a_sentence_in_both_languages():
    hit = _hit(
        ["exact_code", "log", "words", "meaning"],
        codes=["SCH-13208"],
        log_lines=[2, 3, 4],
        words=["予定", "削除"],
    )
    assert sentences(hit) == [
        "エラーコード SCH-13208 を含む事例",
        "ログ 2–4 行目と同じ形のログ",
        "言葉が一致: 予定, 削除",
        "意味が近い事例 (言葉が違っても、内容が検索に近いとモデルが判断)",
    ]
    assert sentences(hit, "en")[3].startswith("Close in meaning: the model finds it near")
    assert sentences(hit, "en")[1] == "Same log signature as lines 2–4 of your paste"
    assert sentences(_hit(["log"], log_lines=[5]), "en") == [
        "Same log signature as line 5 of your paste"
    ]


def test_a_related_hit_says_which_case_matched_and_by_what():
    hit = _hit(
        ["related:ESC-2024-0100"],
        related={"id": "ESC-2024-0100", "codes": ["SCH-13208"], "words": []},
    )
    assert sentences(hit) == ["ESC-2024-0100 に関連 (SCH-13208 で一致)"]
    assert sentences(hit, "en") == ["Related to ESC-2024-0100, which matched SCH-13208"]
    bare = _hit(["related:ESC-2024-0100"])  # no explanation from the searcher: the id alone
    assert sentences(bare, "en") == ["Related to ESC-2024-0100, which matched"]


def test_never_an_empty_reason():
    assert sentences(_hit([])) == [
        "はっきり一致する箇所はありません。近い候補として表示しています。"
    ]
    assert sentences(_hit(["nearest"]), "en") == ["Similar content"]
    assert sentences(_hit(["words"]), "en") == [
        "Holds most of your words"
    ]  # no surface word found: still a sentence


def test_display_terms_without_an_explanation_drop_negations():
    hit = _hit([])
    hit.why = {"matched_terms": ["not", "samesit", "無い", "cooki"], "reasons": []}
    assert reasons.display_terms(hit, "samesite cookie not") == ["samesit", "cooki"]


def _hit_block(body: str, case_id: str) -> str:
    start = body.index(f'id="hit-{case_id}"')
    return body[start : body.index("</li>", start)]


def test_results_page_explains_every_hit(client):
    response = client.get(
        "/search",
        query_string={"q": "定例会議の祝日の回が削除できない"},
        headers={"Accept-Language": "ja"},
    )
    body = response.get_data(as_text=True)
    first = _hit_block(body, "ESC-2026-0001")
    assert "言葉が一致:" in first
    terms = re.findall(r"<code>([^<]+)</code>", first[first.index('class="why"') :])
    assert {"定例", "会議", "祝日", "削除"} <= set(terms) and not {"無い", "ない", "為る"} & set(
        terms
    )
    reasons = re.findall(r'<span class="why-reason [^"]+">\s*([^<]*)', body)
    hits = len(re.findall(r'<li class="hit[ "]', body))
    assert (
        hits and len(reasons) >= hits and all(r.strip() for r in reasons)
    )  # every hit says why, never blank
    assert "キーワード #" not in page_text(response)  # engine ranks only in the tooltip


def test_code_log_and_related_reasons_on_the_page(client):
    text = " ".join(page_text(en(client).get("/search?q=SCH-13208")).split())
    assert "Lists error code SCH-13208, which your query names" in text
    assert (
        "Related to ESC-2026-0001, which matched SCH-13208" in text
    )  # ESC-2026-0003, its declared related case
    pasted = "the customer sent this:\n" + WEB_LOG
    text = " ".join(page_text(client.get("/search", query_string={"q": pasted})).split())
    assert "Same log signature as line 2 of your paste" in text
