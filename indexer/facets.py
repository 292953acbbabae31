"""Facet counts of a result set: how many of the top candidates have each product, component,
status, tag and version (counting is pure; :func:`facets_for` reads the values from the store)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from indexer.filters import Filters
from kb.case import STATUSES
from kb.roles import visibilities_for
from kb.store import FacetRow, Store

FACET_CANDIDATES = 200  # the top fused candidates the counts describe
FACETS = {
    "product": "products",
    "component": "components",
    "status": "statuses",
    "tag": "tags",
    "version": "versions",
}


@dataclass(frozen=True)
class FacetValue:
    value: str
    count: int
    selected: bool


@dataclass(frozen=True)
class Facet:
    param: str
    values: list[FacetValue]


def count_facets(rows: Sequence[FacetRow], selected: Mapping[str, set[str]]) -> list[Facet]:
    """Counts per facet over ``rows``; a selected value is listed even when no row has it. Statuses
    keep their declared order, other values go most frequent first, then by name."""
    counters: dict[str, Counter[str]] = {param: Counter() for param in FACETS}
    for row in rows:
        counters["product"][row.product] += 1
        counters["component"][row.component] += 1
        counters["status"][row.status] += 1
        counters["version"].update(set(row.versions))
        counters["tag"].update(set(row.tags))
    facets = []
    for param, counts in counters.items():
        chosen = selected.get(param, set())
        if param == "status":
            order = sorted(
                set(counts) | chosen,
                key=lambda v: (STATUSES.index(v) if v in STATUSES else len(STATUSES), v),
            )
        else:
            order = sorted(set(counts) | chosen, key=lambda v: (-counts[v], v))
        facets.append(Facet(param, [FacetValue(v, counts[v], v in chosen) for v in order]))
    return facets


def facets_for(
    store: Store,
    filters: Filters,
    role: str,
    candidates: Sequence[str],
    limit: int = FACET_CANDIDATES,
) -> list[Facet]:
    """The facets of a search's top ``limit`` candidates that ``role`` may see now."""
    rows = store.facet_rows(list(candidates[:limit]), visibilities_for(role))
    return count_facets(
        rows, {param: set(getattr(filters, attr)) for param, attr in FACETS.items()}
    )
