"""Lexical engines side by side on a synthetic corpus: build time, index size, memory, query latency.

Usage: python scripts/bench_lexical.py [--cases 2000 10000 50000] [--queries 200] [--keep DIR]
                                       [--engines whoosh tantivy bm25s] [--json FILE]
       python scripts/bench_lexical.py --smoke   # 30 cases, 5 queries per kind: seconds

Run it from the repository root (synth_cases draws its vocabulary from ./cases). Cases are
analysed once (``case_document``, the standard profile); every engine then indexes the same
pre-tokenised documents, so build times are the engine's own (the shared analysis time is printed
apart). Queries run one at a time, as ``indexer.searcher`` runs its legs for the ``support`` role:
``build_queries`` + ``search`` for the lexical leg, ``signature_query`` + ``search`` for pasted
logs (query analysis included), and ``matching_ids`` (the dense leg's filter) timed on its own.
``bm25s`` is a speed reference on the same tokens, as one field of ``field:term`` tokens: it has
no per-term boosts, so its ranking is not comparable. A benchmark, never a timed unit test;
figures go in the README.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

from bench_search import folder_size, percentile, proc_status_mb  # noqa: E402  (scripts/ is on sys.path)

from indexer.engines import lexical_engine
from indexer.filters import Filters
from indexer.lexical import LexicalDoc, build_queries, case_document, profile, signature_query
from kb.case import Case
from kb.corpus import load_cases
from kb.logsig import looks_like_log
from kb.settings import load_settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth_cases  # noqa: E402

KINDS = ("words", "code", "log")
ROLE_FILTERS = Filters().for_role("support")


def synthetic_cases(root: Path, count: int) -> list[Case]:
    """``count`` synthetic cases, generated under ``root`` unless already there."""
    settings = load_settings(environ={})
    folder = root / f"cases-{count}"
    if len(list(folder.glob("*.md"))) != count:
        shutil.rmtree(folder, ignore_errors=True)
        synth_cases.generate(folder, count)
    return load_cases([folder], settings.id_regex, settings.max_case_bytes).cases


def analyse(cases: Sequence[Case]) -> list[LexicalDoc]:
    """The standard profile's documents; tokens interned so large corpora fit in memory."""
    fields = profile("standard")
    docs = []
    for case in cases:
        doc = case_document(case, fields)
        docs.append(
            replace(
                doc, tokens={f: [sys.intern(t) for t in toks] for f, toks in doc.tokens.items()}
            )
        )
    return docs


def bench_queries(
    cases: Sequence[Case], per_kind: int, rng: random.Random
) -> list[tuple[str, str]]:
    """Short word queries, error codes and pasted logs taken from random cases, shuffled."""
    picked = rng.sample(list(cases), min(per_kind, len(cases)))
    queries = []
    for case in picked:
        queries.append(("words", case.section_text("symptoms")[:80]))
        if case.error_codes:
            queries.append(("code", case.error_codes[0]))
        logs = "\n".join(
            line for line in case.section_text("logs").splitlines() if not line.startswith("```")
        )
        if logs.strip():
            queries.append(("log", logs))
    rng.shuffle(queries)
    return queries


class EngineRunner:
    """One of our engines, queried exactly as the searcher's lexical and signature legs do."""

    def __init__(self, name: str, folder: Path, long_query_terms: int, candidates: int):
        self.name, self.folder = name, folder
        self.fields = profile("standard")
        self.long_query_terms, self.candidates = long_query_terms, candidates
        self.engine: Any = None

    def build(self, docs: Sequence[LexicalDoc]) -> None:
        engine = lexical_engine(self.name, self.folder, self.fields, create=True)
        engine.add(docs)
        engine.commit()
        engine.close()

    def open(self) -> None:
        self.engine = lexical_engine(self.name, self.folder, self.fields)
        self.doc_count = self.engine.doc_count()

    def query(self, text: str) -> int:
        engine = self.engine
        queries = build_queries(
            text, self.fields, engine.doc_frequencies, self.doc_count, self.long_query_terms
        )
        found = len(engine.search(queries, ROLE_FILTERS, self.candidates))
        if looks_like_log(text):
            sig = signature_query(
                text, engine.doc_frequencies, self.doc_count, self.long_query_terms
            )
            found += len(engine.search(sig, ROLE_FILTERS, self.candidates))
        return found

    def filter_ids(self) -> int:
        return len(self.engine.matching_ids(ROLE_FILTERS))

    def size(self) -> int:
        return folder_size(self.folder)

    def close(self) -> None:
        self.engine.close()


class Bm25sRunner:
    """bm25s on the same tokens, one field of ``field:term`` tokens; the role filter as a weight mask."""

    name = "bm25s"

    def __init__(self, folder: Path, long_query_terms: int, candidates: int):
        self.folder, self.long_query_terms, self.candidates = folder, long_query_terms, candidates
        self.fields = profile("standard")

    def build(self, docs: Sequence[LexicalDoc]) -> None:
        import bm25s
        import numpy as np

        corpus = [[f"{field}:{t}" for field, toks in d.tokens.items() for t in toks] for d in docs]
        self.df: Counter[str] = Counter(t for tokens in corpus for t in set(tokens))
        self.n_docs = len(docs)
        self.retriever = bm25s.BM25(k1=1.2, b=0.75)
        self.retriever.index(corpus, show_progress=False)
        self.retriever.save(str(self.folder), show_progress=False)
        self.mask = np.array([d.visibility == "support" for d in docs], dtype=np.float32)

    def open(self) -> None:
        pass

    def _doc_freq(self, field: str, terms: Iterable[str]) -> Mapping[str, int]:
        return {t: self.df.get(f"{field}:{t}", 0) for t in terms}

    def _retrieve(self, queries: Sequence[Any]) -> int:
        tokens = list(
            dict.fromkeys(
                f"{q.field}:{t}" for q in queries for t, _ in q.terms if f"{q.field}:{t}" in self.df
            )
        )
        if not tokens:
            return 0
        _, scores = self.retriever.retrieve(
            [tokens],
            k=min(self.candidates, self.n_docs),
            show_progress=False,
            weight_mask=self.mask,
            n_threads=1,
        )
        return int((scores[0] > 0).sum())

    def query(self, text: str) -> int:
        found = self._retrieve(
            build_queries(text, self.fields, self._doc_freq, self.n_docs, self.long_query_terms)
        )
        if looks_like_log(text):
            found += self._retrieve(
                signature_query(text, self._doc_freq, self.n_docs, self.long_query_terms)
            )
        return found

    def filter_ids(self) -> int:
        return int(self.mask.sum())

    def size(self) -> int:
        return folder_size(self.folder)

    def close(self) -> None:
        pass


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def latency(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 2),
        "p95": round(percentile(values, 0.95), 2),
        "n": len(values),
    }


def _reset_peak() -> None:
    """Start a new peak-memory (VmHWM) measurement (Linux: ``5`` in clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def bench_engine(
    runner: Any, docs: Sequence[LexicalDoc], queries: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    base = proc_status_mb("VmRSS")
    _reset_peak()
    build_ms = timed(lambda: runner.build(docs))
    peak = proc_status_mb("VmHWM")
    before_open = proc_status_mb("VmRSS")
    runner.open()
    for _, text in queries[:10]:  # warm-up: files mapped, caches filled
        runner.query(text)
    per_kind: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for kind, text in queries:
        per_kind[kind].append(timed(lambda text=text: runner.query(text)))
    filters = [timed(runner.filter_ids) for _ in range(20)]
    after_queries = proc_status_mb("VmRSS")
    memory = (
        {"build_peak_mb": round(peak - base), "serving_mb": round(after_queries - before_open)}
        if None not in (base, peak, before_open, after_queries)
        else {}
    )  # growth over the analysed documents held in memory
    result = {
        "build_s": round(build_ms / 1000, 2),
        "docs_per_s": round(len(docs) / (build_ms / 1000)),
        "index_mb": round(runner.size() / 2**20, 1),
        "memory": memory,
        "query_ms": {kind: latency(values) for kind, values in per_kind.items() if values}
        | {"all": latency([v for values in per_kind.values() for v in values])},
        "filter_ids_ms": latency(filters),
    }
    runner.close()
    return result


def run(count: int, engines: Sequence[str], per_kind: int, root: Path) -> dict[str, Any]:
    """Benchmark every engine on ``count`` synthetic cases; returns the figures as a dict."""
    settings = load_settings(environ={})
    started = time.perf_counter()
    cases = synthetic_cases(root, count)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    docs = analyse(cases)
    analyse_s = time.perf_counter() - started
    queries = bench_queries(cases, per_kind, random.Random(11))
    result: dict[str, Any] = {
        "cases": len(docs),
        "load_s": round(load_s, 1),
        "analyse_s": round(analyse_s, 1),
        "queries": dict(Counter(kind for kind, _ in queries)),
        "settings": {
            "long_query_terms": settings.long_query_terms,
            "candidates": settings.candidates,
        },
        "versions": {name: _version(name) for name in ("whoosh-reloaded", "tantivy", "bm25s")},
        "engines": {},
    }
    print(f"{len(docs)} cases: loaded in {load_s:.1f}s, analysed in {analyse_s:.1f}s", flush=True)
    for name in engines:
        folder = root / f"index-{count}-{name}"
        shutil.rmtree(folder, ignore_errors=True)
        runner: Any = (
            Bm25sRunner(folder, settings.long_query_terms, settings.candidates)
            if name == "bm25s"
            else EngineRunner(name, folder, settings.long_query_terms, settings.candidates)
        )
        result["engines"][name] = bench_engine(runner, docs, queries)
        print(f"  {name}: {json.dumps(result['engines'][name])}", flush=True)
        shutil.rmtree(folder, ignore_errors=True)
    return result


def table(results: Sequence[dict[str, Any]]) -> str:
    """One row per (corpus size, engine): build, size, p50/p95 per query kind and the filter."""
    head = (
        f"{'cases':>7} {'engine':<8} {'build s':>8} {'MB':>7}"
        + "".join(f" {k + ' p50/p95 ms':>22}" for k in KINDS + ("all",))
        + f" {'filter p50/p95':>16} {'mem build/serve MB':>19}"
    )
    lines = [head, "-" * len(head)]
    for result in results:
        for name, r in result["engines"].items():
            cells = "".join(f" {_pair(r['query_ms'].get(k)):>22}" for k in KINDS + ("all",))
            mem = r.get("memory") or {}
            memory = f"{mem.get('build_peak_mb', '-')} / {mem.get('serving_mb', '-')}"
            lines.append(
                f"{result['cases']:>7} {name:<8} {r['build_s']:>8} {r['index_mb']:>7}{cells} "
                f"{_pair(r['filter_ids_ms']):>16} {memory:>19}"
            )
    return "\n".join(lines)


def ratios(
    results: Sequence[dict[str, Any]], engine: str = "tantivy", reference: str = "bm25s"
) -> list[str]:
    """``engine``'s p50 and p95 over the reference's, per corpus size, measured in the same run."""
    lines = []
    for result in results:
        ours, ref = result["engines"].get(engine), result["engines"].get(reference)
        if ours and ref:
            a, b = ours["query_ms"]["all"], ref["query_ms"]["all"]
            lines.append(
                f"{result['cases']} cases: {engine} / {reference} all kinds p50 "
                f"{a['p50'] / b['p50']:.2f}x, p95 {a['p95'] / b['p95']:.2f}x"
            )
    return lines


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _pair(stats: dict[str, float] | None) -> str:
    return f"{stats['p50']:.1f} / {stats['p95']:.1f}" if stats else "-"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cases",
        type=int,
        nargs="+",
        default=[10000],
        help="corpus sizes, e.g. 2000 10000 50000 100000",
    )
    parser.add_argument(
        "--queries", type=int, default=200, help="queries per kind (words, code, log)"
    )
    parser.add_argument("--engines", nargs="+", default=["whoosh", "tantivy", "bm25s"])
    parser.add_argument(
        "--keep", type=Path, help="keep the generated corpora here (reused when present)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="30 cases, 5 queries per kind: only that it runs and prints its figures",
    )
    args = parser.parse_args()
    if args.smoke:
        args.cases, args.queries = [30], 5
    if "bm25s" in args.engines and _version("bm25s") is None:
        print("bm25s is not installed (the 'bench' extra): left out", file=sys.stderr)
        args.engines = [e for e in args.engines if e != "bm25s"]
    root = args.keep or Path(tempfile.mkdtemp(prefix="kb-bench-lexical-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        results = [run(count, args.engines, args.queries, root) for count in args.cases]
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(table(results))
    for line in ratios(results):
        print(line)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), "utf-8")


if __name__ == "__main__":
    main()
