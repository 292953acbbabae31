"""Snippets and highlighting (pure): tiny hand-made inputs."""

from indexer.highlight import QueryTerms, count_matches, match_spans, quick_count, readable_terms, snippet


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
    assert [text[s:e] for s, e in match_spans(text, QueryTerms.of("SCH-13208"))] == ["ＳＣＨ－１３２０８"]


def test_an_empty_identifier_never_loops():
    assert match_spans("anything", QueryTerms(frozenset(), frozenset({""}))) == []


def test_snippet_escapes_html():
    assert "&lt;script&gt;" in snippet("<script>alert(1)</script> relay", QueryTerms.of("relay"))


def test_quick_count_finds_words_by_analysed_or_typed_form_and_identifiers():
    terms = QueryTerms.of("retries connecting SCH-13208 タイムアウトした")
    assert quick_count("Connection retry x", terms) == 1  # "connect" inside "connection"; "retry" is neither "retri" nor "retries"
    assert quick_count("two retries, then SCH-13208", terms) == 3  # retries, and the code as identifier and as its words
    assert quick_count("送信がタイムアウトした", terms) >= 1
    assert quick_count("nothing here", terms) == 0


def test_the_snippet_window_holds_the_most_matches():
    text = "relay " + "filler " * 40 + "timeout relay timeout relay" + " filler" * 40
    out = snippet(text, QueryTerms.of("relay timeout"), width=60)
    assert out.count("<mark>") == 4 and out.startswith("…")


def test_readable_terms_keep_query_words_and_identifiers_not_fragments():
    matched = ["メー", "ル送", "メール", "送信", "為る", "sch-13208", "sch", "13208"]
    assert readable_terms(matched, "メール送信 SCH-13208") == ["メール", "送信", "sch-13208"]
    assert readable_terms(["メー", "ール"], "メール") == ["メー", "ール"]  # only bigrams matched: shown rather than nothing
