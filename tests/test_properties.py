"""Property-based tests: arbitrary text never crashes the parser, the analysis or the search."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from indexer import analysis, logsig
from indexer.lexical import build_queries, profile
from kb.parse import check_case_text

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400)


@given(TEXT)
@hsettings(max_examples=200, deadline=None)
def test_parser_reports_problems_instead_of_crashing(text):
    case, problems = check_case_text(text, "x.md")
    assert case is not None or any(p.is_error for p in problems)


@given(st.dictionaries(st.sampled_from(["id", "title", "status", "created", "versions", "tags", "related"]),
                       st.one_of(TEXT, st.integers(), st.floats(allow_nan=False), st.lists(TEXT, max_size=3), st.none()), max_size=7))
@hsettings(max_examples=150, deadline=None)
def test_any_front_matter_values_are_validated_without_crashing(fields):
    import yaml

    text = "---\n" + yaml.safe_dump(fields, allow_unicode=True) + "---\n## Symptoms\nx\n## Resolution\ny\n"
    check_case_text(text, "x.md")


@given(st.text(alphabet=st.sampled_from("aZ09 -ｱｲｳﾞﾟＡ１①ßİﬁ한글가각\u0301\u3099テスト日本語。、ー〜"), max_size=40) | TEXT)
@hsettings(max_examples=300, deadline=None)
def test_normalising_with_offsets_equals_normalising_each_character(text):
    norm, offsets = analysis.normalize_with_offsets(text)
    assert norm == "".join(analysis.normalize(c) for c in text)
    assert len(offsets) == len(norm) + 1 and offsets == sorted(offsets) and offsets[-1] == len(text)
    assert all(norm[i] in analysis.normalize(text[offsets[i]]) for i in range(len(norm)))


@given(TEXT)
@hsettings(max_examples=200, deadline=None)
def test_analysis_and_signatures_never_crash(text):
    analysis.words(text)
    analysis.bigrams(text)
    analysis.identifiers(text)
    analysis.query_identifier_candidates(text)
    logsig.signature_tokens(text)
    logsig.looks_like_log(text)
    queries = build_queries(text, profile("standard"), lambda field, terms: {t: 1 for t in terms}, 10, 32)
    assert all(q.terms for q in queries)


@pytest.fixture(scope="module")
def tiny_searcher(tmp_path_factory):
    from indexer.searcher import Searcher
    from kb.pipeline import open_store, run_index
    from kb.settings import load_settings

    from conftest import case_text

    root = tmp_path_factory.mktemp("prop")
    (root / "cases").mkdir()
    (root / "cases" / "ESC-2026-0001.md").write_text(case_text(), "utf-8")
    settings = load_settings(environ={}, cases_dir=root / "cases", data_dir=root / "data", embed_model="hash:64")
    run_index(settings)
    return Searcher(settings, open_store(settings))


@given(TEXT)
@hsettings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_search_answers_or_refuses_cleanly(tiny_searcher, text):
    from indexer.searcher import SearchRequest
    from kb.errors import QueryError

    try:
        response = tiny_searcher.search(SearchRequest(text, role="support"))
    except QueryError:
        assert not text.strip()
    else:
        assert response.total >= 0
