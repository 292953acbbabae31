"""Facet counts (indexer/facets.py): pure counting over hand-made rows, and the store's rows."""

from conftest import case_text

from indexer.facets import count_facets
from kb.store import FacetRow, Store
from kb.sync import sync_store


def row(cid, product="p", component="c", status="resolved", versions=(), tags=()):
    return FacetRow(cid, product, component, status, tuple(versions), tuple(tags))


def values(facets, param):
    return [
        (v.value, v.count, v.selected) for v in next(f for f in facets if f.param == param).values
    ]


def test_counts_go_most_frequent_first_and_statuses_keep_their_order():
    rows = [
        row("A", product="x", status="known-issue", versions=("1.0", "1.0", "2.0"), tags=("db",)),
        row("B", product="y", status="resolved", versions=("2.0",), tags=("db", "net")),
        row("C", product="y", status="workaround"),
    ]
    facets = count_facets(rows, {})
    assert [f.param for f in facets] == ["product", "component", "status", "tag", "version"]
    assert values(facets, "product") == [("y", 2, False), ("x", 1, False)]
    assert values(facets, "status") == [
        ("resolved", 1, False),
        ("workaround", 1, False),
        ("known-issue", 1, False),
    ]
    assert values(facets, "version") == [
        ("2.0", 2, False),
        ("1.0", 1, False),
    ]  # a case counts a version once
    assert values(facets, "tag") == [("db", 2, False), ("net", 1, False)]


def test_a_selected_value_is_listed_even_when_no_row_has_it():
    facets = count_facets([row("A", product="x")], {"product": {"x", "gone"}})
    assert values(facets, "product") == [("x", 1, True), ("gone", 0, True)]
    assert count_facets([], {})[0].values == []


def test_the_store_gives_rows_of_readable_cases_only_in_candidate_order(
    settings, write_cases, store_url
):
    write_cases(
        {
            "ESC-2026-0001.md": case_text(
                "ESC-2026-0001", tags="[db, net]", versions='["5.9", "6.0"]'
            ),
            "ESC-2026-0002.md": case_text(
                "ESC-2026-0002", visibility="restricted", product="other"
            ),
            "ESC-2026-0003.md": case_text("ESC-2026-0003", status="workaround", tags="[]"),
        }
    )
    store = Store(store_url)
    store.create_schema()
    try:
        sync_store(settings, store)
        everyone = ("support", "engineering", "restricted")
        rows = store.facet_rows(
            ["ESC-2026-0003", "NOPE", "ESC-2026-0002", "ESC-2026-0001"], ("support",)
        )
        assert rows == [
            row("ESC-2026-0003", "tsumugi-server", "schedule", "workaround", ("5.9",), ()),
            row(
                "ESC-2026-0001",
                "tsumugi-server",
                "schedule",
                "resolved",
                ("5.9", "6.0"),
                ("db", "net"),
            ),
        ]
        assert [r.id for r in store.facet_rows(["ESC-2026-0002"], everyone)] == ["ESC-2026-0002"]
        assert store.visible_ids(["ESC-2026-0003", "NOPE", "ESC-2026-0002"], ("support",)) == {
            "ESC-2026-0003"
        }
        assert store.visible_ids(["ESC-2026-0002", "ESC-2026-0001"], ()) == set()
        assert (
            store.facet_rows(["ESC-2026-0001"], ()) == [] and store.facet_rows([], everyone) == []
        )
        assert (store.case_count(), store.case_count(("support",)), store.case_count(everyone)) == (
            3,
            2,
            3,
        )
    finally:
        store.close()
