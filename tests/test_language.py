"""Which language a query is written in, and whether it has one at all (pure)."""

import pytest

from kb.language import has_words


@pytest.mark.parametrize(
    "text",
    [
        "SCH-13208",
        "XYZ-AUTH-4012",
        "HTTP 503",
        "SQLSTATE 40P01",
        "E_ACCESSDENIED",
        "0x80070005",
        "java.io.IOException",
        "NullPointerException",
        "(ORA-01555)",
        "KB5021233",
    ],
)
def test_identifiers_alone_are_no_language(text):
    assert not has_words(text)


@pytest.mark.parametrize(
    "text",
    ["SCH-13208 again today", "errno 110", "Login fails", "ログイン", "予定", "PRF-501 遅い"],
)
def test_words_of_a_language(text):
    assert has_words(text)
