"""Snippets and highlighting (pure): tiny hand-made inputs."""

from indexer.highlight import (
    QUICK_GROUPS,
    QueryTerms,
    count_matches,
    match_spans,
    quick_count,
    readable_terms,
    snippet,
)


def test_identifiers_are_marked_every_time_they_occur():
    text = "SCH-13208 after restart; SCH-13208 again"
    terms = QueryTerms.of("SCH-13208")
    assert match_spans(text, terms) == [(0, 9), (25, 34)]
    assert snippet(text, terms).count("<mark>SCH-13208</mark>") == 2


def test_words_match_by_their_analysed_form_in_both_languages():
    assert count_matches("The relay timed out while sending", QueryTerms.of("relays timing")) == 2
    ja = "メール送信がタイムアウトする"
    spans = match_spans(ja, QueryTerms.of("タイムアウト"))
    assert [ja[s:e] for s, e in spans] == ["タイムアウト"]


def test_full_width_text_maps_back_to_the_original_characters():
    text = "ＳＣＨ－１３２０８ が出る"
    assert [text[s:e] for s, e in match_spans(text, QueryTerms.of("SCH-13208"))] == [
        "ＳＣＨ－１３２０８"
    ]


def test_an_empty_identifier_never_loops():
    assert match_spans("anything", QueryTerms(frozenset(), frozenset({""}))) == []


def test_snippet_escapes_html():
    assert "&lt;script&gt;" in snippet("<script>alert(1)</script> relay", QueryTerms.of("relay"))


def test_quick_count_finds_words_by_analysed_or_typed_form_and_identifiers():
    terms = QueryTerms.of("retries connecting SCH-13208")
    assert (
        quick_count("Connection retry x", terms) == 1
    )  # "connect" inside "connection"; "retri" is no prefix of "retry"
    assert (
        quick_count("two retries, then SCH-13208", terms) == 3
    )  # retries; the code as identifier and its letters "sch"
    assert quick_count("nothing here", terms) == 0


def test_quick_count_skips_what_is_worth_no_highlight_and_short_words_inside_others():
    ja = QueryTerms.of("送信がタイムアウトした")  # した: 為る / し, hiragana only
    assert quick_count("設定しました。再起動しましたが、解消しました。", ja) == 0
    assert quick_count("メール送信がタイムアウトした", ja) == 2
    ip = QueryTerms.of("ip log")
    assert quick_count("skip the zip description in the catalog", ip) == 0
    assert quick_count("the IP in the logs", ip) == 2


def test_a_huge_pasted_log_is_counted_by_its_first_terms_only():
    log = QueryTerms.of(
        " ".join(f"word{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}x" for i in range(500))
    )
    assert len(log.quick_groups) == QUICK_GROUPS


def test_the_snippet_window_holds_the_most_matches():
    text = "relay " + "filler " * 40 + "timeout relay timeout relay" + " filler" * 40
    out = snippet(text, QueryTerms.of("relay timeout"), width=60)
    assert out.count("<mark>") == 4 and out.startswith("…")


def test_readable_terms_keep_query_words_and_identifiers_not_fragments():
    matched = ["メー", "ル送", "メール", "送信", "為る", "sch-13208", "sch", "13208"]
    assert readable_terms(matched, "メール送信 SCH-13208") == ["メール", "送信", "sch-13208"]
    assert readable_terms(["メー", "ール"], "メール") == [
        "メー",
        "ール",
    ]  # only bigrams matched: shown rather than nothing


def _case(*sections):
    from datetime import date

    from kb.case import Case, Section

    return Case(
        id="ESC-2025-0001",
        title="t",
        status="resolved",
        product="p",
        component="c",
        visibility="internal",
        created=date(2025, 1, 1),
        sections=tuple(Section(n, n, text, i) for i, (n, text) in enumerate(sections)),
    )


def test_the_best_section_is_the_one_the_query_words_occur_in():
    from indexer.searcher import best_section

    case = _case(
        ("symptoms", "画面が固まる。"),
        ("cause", "送信がタイムアウトした。"),
        ("resolution", "設定しました。再起動しましたが、解消しました。"),
    )
    assert best_section(case, QueryTerms.of("送信がタイムアウトした"), None, False).name == "cause"
    case = _case(
        ("symptoms", "Users cannot skip the zip step."),
        ("cause", "The IP address was already in use."),
    )
    assert best_section(case, QueryTerms.of("ip address conflict"), None, False).name == "cause"


def test_without_a_match_the_dense_section_then_the_symptoms_are_shown():
    from indexer.searcher import best_section

    case = _case(("symptoms", "A"), ("cause", "B"), ("logs", "ERROR x"))
    assert best_section(case, QueryTerms.of("nothing"), "cause", False).name == "cause"
    assert best_section(case, QueryTerms.of("nothing"), None, False).name == "symptoms"
    assert (
        best_section(case, QueryTerms.of("nothing"), None, True).name == "logs"
    )  # the signature leg matched the log


def test_identifiers_are_marked_as_whole_tokens_only():
    from indexer.highlight import QueryTerms, match_spans

    text = "PRF-50120 is not PRF-501, and 18342 is not 342; see PRF-501-2 and SCH-13208."
    marked = [
        text[s:e]
        for s, e in match_spans(
            text, QueryTerms(frozenset(), frozenset({"prf-501", "342", "sch-13208"}))
        )
    ]
    assert marked == ["PRF-501", "342", "SCH-13208"]
