"""``KB_LEXICAL_ENGINE=auto``: the engine a corpus of a given size gets (pure)."""

from __future__ import annotations

import pytest

from indexer.engines import AUTO_CROSSOVER, AUTO_HYSTERESIS, ENGINES, resolve_engine


def test_an_explicit_engine_is_kept_at_every_size():
    for name in ENGINES:
        for count in (0, 10, AUTO_CROSSOVER + 1, 100_000):
            assert resolve_engine(name, count)[0] == name
            assert (
                resolve_engine(name, count, live="tantivy" if name == "whoosh" else "whoosh")[0]
                == name
            )


@pytest.mark.parametrize(
    ("count", "engine"),
    [
        (0, "whoosh"),
        (10, "whoosh"),
        (AUTO_CROSSOVER, "whoosh"),
        (AUTO_CROSSOVER + 1, "tantivy"),
        (100_000, "tantivy"),
    ],
)
def test_auto_picks_by_size(count, engine):
    chosen, reason = resolve_engine("auto", count)
    assert chosen == engine and reason.startswith(f"auto: {count} cases")


def test_auto_goes_back_to_whoosh_only_clearly_below_the_crossover():
    band = int(AUTO_CROSSOVER * AUTO_HYSTERESIS)
    assert resolve_engine("auto", AUTO_CROSSOVER, live="tantivy")[0] == "tantivy"
    assert resolve_engine("auto", band, live="tantivy")[0] == "tantivy"
    assert "kept" in resolve_engine("auto", band, live="tantivy")[1]
    assert resolve_engine("auto", band - 1, live="tantivy")[0] == "whoosh"
    assert resolve_engine("auto", AUTO_CROSSOVER + 1, live="whoosh")[0] == "tantivy"
    assert resolve_engine("auto", band, live="whoosh")[0] == "whoosh"
