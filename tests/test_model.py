"""Real-model tier: the packaged all-MiniLM-L6-v2, offline, and the quality targets on the sample set."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLE_CASES

from indexer.dense import load_encoder, resolve_model_path
from indexer.evaluate import DEFAULT_QUERIES, cases_for_eval, evaluate, load_queries
from kb.settings import PACKAGED_MODEL, load_settings

pytestmark = pytest.mark.model


def test_packaged_model_loads_offline_and_embeds():
    import os

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert resolve_model_path(PACKAGED_MODEL).endswith("model")
    encoder = load_encoder(PACKAGED_MODEL)
    vectors = encoder.encode(
        ["The mail server times out", "SMTP relay connection timed out", "A recipe for miso soup"]
    )
    assert vectors.shape == (3, 384) and encoder.dim == 384
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_a_query_is_cut_to_the_token_budget_on_a_word_piece_boundary():
    from indexer.dense import QUERY_TOKENS

    encoder = load_encoder(PACKAGED_MODEL)
    short = "SMTP relay timed out"
    assert encoder.query_text(short) == short
    log = " ".join(f"ERROR job-{i} relay refused connection" for i in range(60))
    cut = encoder.query_text(log)
    pieces = encoder._pieces.encode(cut, add_special_tokens=False).ids
    assert log.startswith(cut) and len(pieces) == QUERY_TOKENS - 2
    assert (
        encoder._pieces.encode(log[: len(cut) + 1], add_special_tokens=False).ids[: len(pieces)]
        == pieces
    )  # no piece split
    assert (
        encoder.query_text("障害発生" * 100) == "障害発生" * 31 + "障害"
    )  # one word piece per kanji here


def test_a_fresh_encoder_keeps_a_long_query_with_few_word_pieces_whole():
    from indexer.dense import QUERY_TOKENS, SentenceTransformerEncoder

    encoder = SentenceTransformerEncoder(PACKAGED_MODEL)  # not the shared one: nothing encoded yet
    text = (
        "The relay server rejected the connection after the certificate expired. " * 3
    )  # ~40 pieces
    assert len(text) > QUERY_TOKENS and encoder.query_text(text) == text


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_traced_queries_give_the_model_s_own_vectors(precision):
    from indexer.dense import SentenceTransformerEncoder
    from indexer.traced import TracedQueries

    encoder = SentenceTransformerEncoder(PACKAGED_MODEL, precision=precision)
    texts = [
        "SMTP relay timed out",
        "メール送信がタイムアウトする",
        "ERROR [job-7] SCH-13208 broker refused\nWARN retry 3 of 5",
    ]
    before = encoder.encode(texts[:2])
    assert encoder.prepare_queries() and encoder.prepare_queries()  # traced once, then reused
    traced = encoder._traced
    assert isinstance(traced, TracedQueries)
    calls: list[int] = []
    real = traced.encode
    traced.encode = lambda batch: calls.append(len(batch)) or real(batch)
    after = np.vstack([encoder.encode([t]) for t in texts[:2]])
    assert (
        calls == [1, 1] and (before * after).sum(axis=1).min() > 0.9999
    )  # queries went through the traced graph
    raw = real(texts)
    assert np.allclose(
        np.linalg.norm(raw, axis=1), 1.0, atol=1e-5
    )  # normalised by the model's own modules
    encoder.encode(["a"] * 9)
    assert calls == [1, 1]  # a batch beyond a few queries (indexing) uses the model's own encode


def test_a_failing_traced_model_is_dropped_and_the_search_still_gets_vectors(caplog):
    from indexer.dense import SentenceTransformerEncoder

    encoder = SentenceTransformerEncoder(PACKAGED_MODEL)
    assert encoder.prepare_queries()

    def broken(batch):
        raise RuntimeError("kernel fault")

    encoder._traced.encode = broken
    vectors = encoder.encode(["SMTP relay timed out"])
    assert (
        vectors.shape == (1, 384)
        and encoder._traced is None
        and "traced query model failed" in caplog.text
    )


def test_a_model_whose_traced_vectors_differ_keeps_its_own_encode(monkeypatch, caplog):
    from indexer.dense import SentenceTransformerEncoder
    from indexer.traced import TracedQueries

    encoder = SentenceTransformerEncoder(PACKAGED_MODEL)
    monkeypatch.setattr(TracedQueries, "agreement", lambda self: 0.5)
    assert encoder.prepare_queries() is False and encoder._traced is None
    assert "vectors differ" in caplog.text
    monkeypatch.setattr(TracedQueries, "_trace", classmethod(lambda cls, model: 1 / 0))
    assert TracedQueries.build(encoder._model) is None and "ZeroDivisionError" in caplog.text
    assert encoder.encode(["still answers"]).shape == (1, 384)


def test_unknown_model_is_a_clear_configuration_error(tmp_path):
    from kb.errors import ConfigError

    with pytest.raises(ConfigError, match="embed_model"):
        load_encoder(str(tmp_path / "no-such-model"))


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory):
    settings = load_settings(
        environ={}, cases_dir=SAMPLE_CASES, data_dir=tmp_path_factory.mktemp("eval")
    )
    return evaluate(
        cases_for_eval(settings),
        load_queries(DEFAULT_QUERIES),
        settings,
        load_encoder(settings.embed_model),
        baseline=True,
    )


def test_hybrid_meets_the_recall_target_and_beats_every_leg(sample_report):
    v = sample_report.variants
    assert v["hybrid"]["recall@5"] >= 0.90
    assert (
        v["hybrid"]["ndcg@10"] > v["lexical"]["ndcg@10"]
        and v["hybrid"]["ndcg@10"] > v["dense"]["ndcg@10"]
    )
    # the signature leg applies to log queries: compare on those
    assert v["hybrid"]["splits"]["kind"]["log"]["ndcg@10"] >= v["signature"]["ndcg@10"]


def test_codes_and_logs_find_their_case_at_rank_one(sample_report):
    kinds = sample_report.variants["hybrid"]["splits"]["kind"]
    assert kinds["code"]["success@1"] >= 0.95 and kinds["log"]["success@1"] >= 0.95


def test_japanese_aware_fields_beat_the_default_analyzer(sample_report):
    ja = sample_report.variants["lexical"]["splits"]["lang"]["ja"]["ndcg@10"]
    base = sample_report.variants["lexical-baseline"]["splits"]["lang"]["ja"]["ndcg@10"]
    assert ja > base + 0.2


def test_bf16_encoder_stays_close_to_float32():
    texts = [
        "The mail server times out",
        "ログイン後に画面が真っ白になる",
        "ERROR [exec-7] SMTP-421 relay refused after 30000 ms",
    ]
    full = load_encoder(PACKAGED_MODEL)
    half = load_encoder(PACKAGED_MODEL, precision="bfloat16")
    assert half.precision == "bfloat16" and half.cache_key == f"{PACKAGED_MODEL}@bfloat16"
    assert full.precision == "float32" and full.cache_key == PACKAGED_MODEL
    a, b = full.encode(texts), half.encode(texts)
    assert b.dtype == np.float32 and np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-3)
    assert (a * b).sum(axis=1).min() > 0.99


def test_cuda_loads_in_float16_where_a_gpu_exists_and_is_a_clear_error_elsewhere():
    import torch

    from indexer.dense import SentenceTransformerEncoder
    from kb.errors import ConfigError

    if not torch.cuda.is_available():
        with pytest.raises(
            ConfigError, match="device: cuda asked for, but torch .* sees no CUDA device"
        ):
            SentenceTransformerEncoder(PACKAGED_MODEL, device="cuda", precision="auto")
        return
    encoder = SentenceTransformerEncoder(PACKAGED_MODEL, device="cuda", precision="auto")
    cpu = load_encoder(PACKAGED_MODEL)
    texts = ["The mail server times out", "ログイン後に画面が真っ白になる"]
    assert (
        encoder.precision == "float16"
        and (encoder.encode(texts) * cpu.encode(texts)).sum(axis=1).min() > 0.99
    )
