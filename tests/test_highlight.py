"""Snippets and highlighting (pure): tiny hand-made inputs."""

from indexer.highlight import QueryTerms, count_matches, match_spans, snippet


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
