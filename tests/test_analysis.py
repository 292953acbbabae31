import pytest

from indexer import analysis
from indexer.analysis import bigrams, identifiers, normalize, query_identifier_candidates, words


def test_nfkc_and_case_folding():
    assert normalize("ＳＣＨ－１３２０８ ｻｰﾊﾞｰ ①") == "sch-13208 サーバー 1"
    assert normalize("Straße") == "strasse"


def test_japanese_words_use_normalized_forms_and_drop_particles():
    assert words("サーバが落ちた") == words("サーバーが落ちた")  # spelling variants meet
    tokens = words("予定の登録でエラーになる")
    assert "予定" in tokens and "登録" in tokens and "エラー" in tokens
    assert "の" not in tokens and "で" not in tokens


def test_half_width_katakana_meets_full_width():
    assert words("ｻｰﾊﾞｰ") == words("サーバー")


def test_english_stemming_and_stop_words():
    assert words("The connections were refused") == ["connect", "refus"]
    assert "cannot" in words("users cannot log in")


def test_mixed_text_is_split_by_script():
    tokens = words("SAML ログインでリダイレクトが loop する")
    assert "saml" in tokens and "ログイン" in tokens and "loop" in tokens


def test_bigrams_cover_unknown_in_house_terms():
    assert bigrams("紡ポタ") == ["紡ポ", "ポタ"]
    assert bigrams("予 x") == ["予"]
    assert bigrams("english only") == []


@pytest.mark.parametrize(
    "text,expected",
    [
        ("failed with SCH-13208 again", ["sch-13208"]),
        ("ORA-01555: snapshot too old", ["ora-01555"]),
        (
            "java.lang.OutOfMemoryError: Java heap space",
            ["java.lang.outofmemoryerror", "outofmemoryerror"],
        ),
        ("set mail.smtp.timeout to 30", ["mail.smtp.timeout"]),
        ("see tsumugi-server.log", ["tsumugi-server.log"]),
        ("HTTP 503 from the proxy", ["http-503"]),
        ("HTTP/1.1 500 Internal Server Error", ["http-500"]),
        ("the foo-bar5 flag", ["foo-bar5"]),
        ("max_pool_size = 20", ["max_pool_size"]),
        ("SQLSTATE 40P01 deadlock", ["40p01", "sqlstate-40p01"]),
        ("AADSTS50011: reply URL mismatch", ["aadsts50011"]),
        ("login fails with XYZ-AUTH-4012", ["xyz-auth-4012"]),
        ("hr=0x80070005 at 0x00007f8a3c2d1e00", ["0x80070005"]),
        ("returned E_ACCESSDENIED", ["e_accessdenied"]),
        ("an e-mail from the sign-in page", []),
    ],
)
def test_identifiers_are_kept_whole(text, expected):
    assert identifiers(text) == expected


def test_query_identifier_candidates_include_bare_codes():
    assert query_identifier_candidates("40P01 で失敗") == ["40p01"]
    assert "sch-13208" in query_identifier_candidates("ＳＣＨ－１３２０８")


def test_unknown_analyzer_lists_choices():
    with pytest.raises(ValueError, match="bigrams, idents, plain, words"):
        analysis.analyzer("nope")


def test_baseline_does_not_split_japanese():
    assert analysis.plain("予定の登録でエラー") == ["予定の登録でエラー"]


def test_normalize_with_offsets_maps_back():
    norm, offsets = analysis.normalize_with_offsets("ＡＢ①c")
    assert norm == "ab1c"
    assert offsets[:4] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "text", ["Plain ASCII Text 123", "ＡＢ①c Mixed テスト ß", "", "İstanbul ﬁle"]
)
def test_normalize_with_offsets_equals_normalising_each_character(text):
    norm, offsets = analysis.normalize_with_offsets(text)
    assert norm == "".join(normalize(c) for c in text)
    assert len(offsets) == len(norm) + 1 and offsets[-1] == len(text)
    assert all(
        normalize(text[offsets[i]]).startswith(norm[i]) or norm[i] in normalize(text[offsets[i]])
        for i in range(len(norm))
    )


def test_tokens_ending_in_a_digit_are_what_the_stemmer_would_give():
    import random
    import string

    import snowballstemmer

    stemmer = snowballstemmer.stemmer("english")
    rng = random.Random(5)
    tokens = [
        "".join(
            rng.choice(string.ascii_lowercase + string.digits) for _ in range(rng.randint(0, 12))
        )
        + rng.choice(string.digits)
        for _ in range(3000)
    ] + ["eyes2", "running1", "ies9", "0a57de16c5b25f23", "v2", "2026"]
    assert [t for t, _, _ in analysis.english_words(" ".join(tokens))] == [
        stemmer.stemWord(t) for t in tokens
    ]
    assert analysis.words("running servers 2026") == ["run", "server", "2026"]


def test_threads_can_analyse_japanese_at_the_same_time():
    import threading

    errors: list[Exception] = []
    expected = words("メール送信がタイムアウトしてログインできない")

    def work() -> None:
        try:
            for _ in range(200):
                assert words("メール送信がタイムアウトしてログインできない") == expected
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
