"""Precision and recall of the sensitive-data detectors (kb/sensitive.py) on the labelled line corpus.

Usage: python scripts/sensitive_report.py [--misses] [CORPUS]

CORPUS (default tests/data/sensitive/lines.tsv) holds one line per row: the expected kind
(credential, e-mail address, phone number, IP address, or none), a category label and the text.
A line counts as found for a kind when scan_text reports that kind anywhere on it. Prints the
table per kind and per category (Markdown, as in the README); tests/test_sensitive.py asserts
the targets with the same functions.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from kb.sensitive import scan_text

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "sensitive" / "lines.tsv"
KINDS = ("credential", "e-mail address", "phone number", "IP address")


@dataclass(frozen=True)
class Row:
    expected: str
    category: str
    text: str
    found: frozenset[str]

    @property
    def wrong(self) -> bool:
        return self.found != (
            frozenset() if self.expected == "none" else frozenset({self.expected})
        )


def load(path: Path = CORPUS) -> list[Row]:
    """The corpus, each line scanned."""
    rows = []
    for number, line in enumerate(path.read_text("utf-8").splitlines()[1:], start=2):
        expected, category, text = line.split("\t", 2)
        if expected != "none" and expected not in KINDS:
            raise ValueError(f"{path}:{number}: unknown kind {expected!r}")
        rows.append(Row(expected, category, text, frozenset(f.kind for f in scan_text(text))))
    return rows


def scores(rows: list[Row], kind: str) -> dict[str, float | int]:
    """Line-level counts, precision and recall of ``kind`` (precision 1.0 when nothing was found)."""
    tp = sum(1 for r in rows if r.expected == kind and kind in r.found)
    fp = sum(1 for r in rows if r.expected != kind and kind in r.found)
    fn = sum(1 for r in rows if r.expected == kind and kind not in r.found)
    return {
        "lines": sum(1 for r in rows if r.expected == kind),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
    }


def by_category(rows: list[Row]) -> dict[tuple[str, str], list[Row]]:
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in rows:
        groups[(r.expected, r.category)].append(r)
    return dict(sorted(groups.items()))


def table(rows: list[Row]) -> str:
    """Markdown: per kind precision / recall, then per category the lines classified right."""
    out = [
        f"{len(rows)} lines: "
        + ", ".join(f"{sum(1 for r in rows if r.expected == k)} {k}" for k in (*KINDS, "none")),
        "",
        "| kind | lines | precision | recall | false positives | misses |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for kind in KINDS:
        s = scores(rows, kind)
        out.append(
            f"| {kind} | {s['lines']} | {s['precision']:.3f} | {s['recall']:.3f} | {s['fp']} | {s['fn']} |"
        )
    out += [
        "",
        "| expected | category | lines | right | wrong |",
        "| --- | --- | --- | --- | --- |",
    ]
    for (expected, category), group in by_category(rows).items():
        wrong = sum(1 for r in group if r.wrong)
        out.append(f"| {expected} | {category} | {len(group)} | {len(group) - wrong} | {wrong} |")
    return "\n".join(out)


def misses(rows: list[Row]) -> str:
    """One line per misclassified corpus line: expected, found, category, text."""
    return "\n".join(
        f"expected {r.expected!r}, found {sorted(r.found) or 'nothing'} [{r.category}]: {r.text}"
        for r in rows
        if r.wrong
    )


def main(argv: list[str]) -> None:
    args = [a for a in argv if a != "--misses"]
    rows = load(Path(args[0]) if args else CORPUS)
    print(table(rows))
    if "--misses" in argv and any(r.wrong for r in rows):
        print("\n" + misses(rows))


if __name__ == "__main__":
    main(sys.argv[1:])
