"""Property-based tests: arbitrary text never crashes the parser, the analysis or the search."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from indexer import analysis
from indexer.lexical import build_queries, profile
from kb import logsig
from kb.parse import check_case_text

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400)


@given(TEXT)
@hsettings(max_examples=200, deadline=None)
def test_parser_reports_problems_instead_of_crashing(text):
    case, problems = check_case_text(text, "x.md")
    assert (case is None) == any(
        p.is_error for p in problems
    )  # a case exactly when no problem is an error
    assert case is not None or problems  # a refused text always says why


@given(
    st.dictionaries(
        st.sampled_from(["id", "title", "status", "created", "versions", "tags", "related"]),
        st.one_of(
            TEXT, st.integers(), st.floats(allow_nan=False), st.lists(TEXT, max_size=3), st.none()
        ),
        max_size=7,
    )
)
@hsettings(max_examples=150, deadline=None)
def test_any_front_matter_values_are_validated_without_crashing(fields):
    import yaml

    fixed = {"product": "tsumugi-server", "component": "schedule", "visibility": "support"}
    text = (
        "---\n"
        + yaml.safe_dump({**fixed, **fields}, allow_unicode=True)
        + "---\n## Symptoms\nx\n## Cause\nc\n## Resolution\ny\n"
    )
    case, problems = check_case_text(text, "x.md")
    assert (case is None) == any(
        p.is_error for p in problems
    )  # a case comes back exactly when nothing is an error
    missing = {name for name in ("id", "title", "status", "created") if fields.get(name) is None}
    assert missing <= {
        p.field for p in problems if p.code == "required_field"
    }  # each missing field is named
    if case is not None:
        assert not missing and case.id == fields["id"] and case.title == fields["title"]


@given(
    st.text(
        alphabet=st.sampled_from("aZ09 -ｱｲｳﾞﾟＡ１①ßİﬁ한글가각\u0301\u3099テスト日本語。、ー〜"),
        max_size=40,
    )
    | TEXT
)
@hsettings(max_examples=300, deadline=None)
def test_normalising_with_offsets_equals_normalising_each_character(text):
    norm, offsets = analysis.normalize_with_offsets(text)
    assert norm == "".join(analysis.normalize(c) for c in text)
    assert len(offsets) == len(norm) + 1 and offsets == sorted(offsets) and offsets[-1] == len(text)
    assert all(norm[i] in analysis.normalize(text[offsets[i]]) for i in range(len(norm)))


@given(TEXT)
@hsettings(max_examples=200, deadline=None)
def test_analysis_and_signatures_never_crash(text):
    norm = analysis.normalize(text)
    assert all(w for w in analysis.words(text))
    assert all(
        0 < len(b) <= 2 and b in norm for b in analysis.bigrams(text)
    )  # CJK bigrams (a lone character alone)
    identifiers = analysis.identifiers(text)
    assert all(i in norm for i in identifiers) and set(identifiers) <= set(
        analysis.query_identifier_candidates(text)
    )
    tokens = logsig.signature_tokens(text)
    assert tokens == logsig.signature_tokens(text) and all(
        t[:1] in ("l", "s") for t in tokens
    )  # line or shape tokens
    assert isinstance(logsig.looks_like_log(text), bool)
    queries = build_queries(
        text, profile("standard"), lambda field, terms: {t: 1 for t in terms}, 10, 32
    )
    assert all(q.terms for q in queries)


@pytest.fixture(scope="module")
def tiny_searcher(tmp_path_factory):
    from conftest import case_text

    from indexer.jobs import run_index
    from indexer.searcher import Searcher
    from kb.migrate import open_store
    from kb.settings import load_settings

    root = tmp_path_factory.mktemp("prop")
    (root / "cases").mkdir()
    (root / "cases" / "ESC-2026-0001.md").write_text(case_text(), "utf-8")
    settings = load_settings(
        environ={}, cases_dir=root / "cases", data_dir=root / "data", embed_model="hash:64"
    )
    run_index(settings)
    return Searcher(settings, open_store(settings))


@given(TEXT)
@hsettings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_search_answers_or_refuses_cleanly(tiny_searcher, text):
    from indexer.searcher import SearchRequest
    from kb.errors import QueryError

    try:
        response = tiny_searcher.search(SearchRequest(text, role="support"))
    except QueryError:
        assert not text.strip()
    else:
        assert text.strip()
        hits = [h.id for h in response.hits]
        assert set(hits) <= {"ESC-2026-0001"} and response.total == len(
            hits
        )  # the one case, counted once
        assert all(h.why["reasons"] for h in response.hits)  # every counted hit says why
        assert not set(hits) & {
            h.id for h in response.weak
        }  # weak candidates are only the ones without evidence


# -- error codes of any shape -------------------------------------------------------------------
_UP, _LOW, _DIG = "ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnopqrstuvwxyz", "0123456789"
CODE_SHAPES = st.one_of(
    st.tuples(
        st.lists(st.text(_UP, min_size=2, max_size=5), min_size=1, max_size=3),
        st.sampled_from("-_"),
        st.text(_DIG, min_size=2, max_size=6),
    ).map(lambda t: t[1].join(t[0] + [t[2]])),  # XYZ-AUTH-4012
    st.tuples(st.text(_UP, min_size=2, max_size=8), st.text(_DIG, min_size=3, max_size=8)).map(
        "".join
    ),  # AADSTS50011
    st.text("0123456789ABCDEF", min_size=8, max_size=8).map(lambda h: "0x" + h),  # 0x80070005
    st.lists(st.text(_UP, min_size=3, max_size=9), min_size=1, max_size=3).map(
        lambda p: "E_" + "_".join(p)
    ),  # E_ACCESS_DENIED
    st.tuples(
        st.text(_LOW, min_size=2, max_size=6),
        st.text(_LOW, min_size=1, max_size=4),
        st.text(_DIG, min_size=3, max_size=5),
    ).map(".".join),  # sync.e.1043
    st.tuples(
        st.lists(st.text(_LOW, min_size=2, max_size=7), max_size=3),
        st.text(_UP, min_size=1, max_size=1),
        st.text(_LOW, min_size=3, max_size=8),
        st.sampled_from(["Exception", "Error", "Fault"]),
    ).map(lambda t: ".".join(t[0] + [t[1] + t[2] + t[3]])),  # com.acme.QuotaException
    st.tuples(
        st.text(_UP + _LOW + _DIG, min_size=2, max_size=6),
        st.lists(
            st.tuples(st.sampled_from("-_."), st.text(_UP + _DIG, min_size=1, max_size=6)),
            min_size=1,
            max_size=3,
        ),
    )
    .map(lambda t: t[0] + "".join(a + b for a, b in t[1]))
    .filter(lambda c: any(ch.isdigit() for ch in c)),  # any shape
)


def _near_miss(code: str) -> str:
    """The same shape with its last letter or digit changed: a decoy that shares every part but one."""
    for i in range(len(code) - 1, -1, -1):
        if code[i].isdigit():
            return code[:i] + str((int(code[i]) + 1) % 10) + code[i + 1 :]
        if code[i].isalpha():
            return code[:i] + ("B" if code[i] != "B" else "C") + code[i + 1 :]
    return code + "9"


def _code_world(root, code: str):
    from conftest import case_text

    from indexer.jobs import run_index
    from indexer.searcher import Searcher
    from kb.migrate import open_store
    from kb.settings import load_settings

    folder = root / "cases"
    folder.mkdir()
    decoy = _near_miss(code)
    cases = {
        "ESC-2026-0001": case_text(
            "ESC-2026-0001",
            title="ログイン画面でエラーになる",
            extra=f"error_codes: [{json.dumps(decoy)}]\n",
            symptoms=f"ログイン時に {decoy} が表示されて先に進めない。",
            logs=f"2026-02-01 09:00:00 ERROR [auth] login failed code={decoy}",
        ),
        "ESC-2026-0002": case_text(
            "ESC-2026-0002",
            title="Login fails after the upgrade",
            extra=f"error_codes: [{json.dumps(code)}]\n",
            symptoms=f"After the upgrade every login fails with {code} on the portal.",
            logs=f"2026-03-01 10:00:00 ERROR [auth] login failed code={code} user=u1",
        ),
        "ESC-2026-0003": case_text(
            "ESC-2026-0003",
            title="Login page is slow",
            symptoms="Login takes 30 seconds; no error is shown.",
        ),
        "ESC-2026-0004": case_text(
            "ESC-2026-0004",
            title="画面が真っ白になる",
            symptoms=f"ログイン後に画面が白くなる。{decoy} とは別の問題。",
        ),
    }
    for cid, text in cases.items():
        (folder / f"{cid}.md").write_text(text, "utf-8")
    settings = load_settings(
        environ={}, cases_dir=folder, data_dir=root / "data", embed_model="hash:64"
    )
    run_index(settings)
    return Searcher(settings, open_store(settings))


@given(CODE_SHAPES)
@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_listed_code_of_any_shape_finds_its_case_first(tmp_path_factory, code):
    from indexer.searcher import SearchRequest

    searcher = _code_world(tmp_path_factory.mktemp("codes"), code)
    queries = [
        code,  # bare
        f"ログインすると{code}が出ます",  # inside Japanese, no spaces
        f"customers report {code} when they log in",  # inside an English sentence
        f"2026-11-30 23:59:58 ERROR [auth] login failed code={code} user=someone",  # inside a pasted log line
        f"2026-11-30 23:59:58 WARN retrying\n2026-11-30 23:59:59 ERROR [auth] login failed ({code})",  # a pasted excerpt
    ]
    for query in queries:
        hits = searcher.search(SearchRequest(query, role="support")).hits
        assert hits and hits[0].id == "ESC-2026-0002", (code, query, [h.id for h in hits])
