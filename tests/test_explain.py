"""indexer.explain: a hit explained in the case's own words (pure functions, hand-made inputs)."""

from __future__ import annotations

from datetime import date

from indexer import explain
from kb.case import Case, Section


def test_query_words_drop_negations_function_words_and_numbers():
    assert explain.query_words("お客様がこの予定を削除できない") == ["御客様", "予定", "削除"]
    assert explain.query_words("mail not sent after 30 minutes") == ["mail", "sent", "minut"]
    assert explain.query_words("") == []


def test_surface_words_are_written_as_in_the_case():
    case_text = "Login fails: the SameSite=None cookie is dropped and the session ends. Principals are cached."
    assert explain.surface_words("samesite cookie session principal not working", [case_text]) == [
        "SameSite",
        "cookie",
        "session",
        "Principals",
    ]
    assert explain.surface_words(
        "お客様がこの予定を削除できない", ["お客様から、この予定が削除できないとの連絡"]
    ) == ["お客様", "予定", "削除"]


def test_surface_words_in_query_order_from_several_texts_and_never_stems():
    found = explain.surface_words(
        "削除 予定 タイムゾーン", ["予定の一覧", "", "タイムゾーンの設定で削除された"]
    )
    assert found == ["削除", "予定", "タイムゾーン"]
    assert explain.surface_words("notification mails", ["Notifications were late"]) == [
        "Notifications"
    ]
    assert explain.surface_words("nothing here", ["a case about mail"]) == []


def test_identifiers_match_whole_and_hide_their_parts():
    assert explain.surface_words("PRF-501 timeout", ["PRF-50120 timeouts"]) == [
        "timeouts"
    ]  # not inside a longer code
    assert explain.surface_words("PRF-501 timeout", ["see prf-501."]) == ["prf-501"]
    assert explain.surface_words("SCH-13208", ["Error SCH-13208 on save"]) == [
        "SCH-13208"
    ]  # not also "SCH"


def test_words_in_a_later_text_are_found_though_earlier_texts_lack_the_rest():
    # a long query (a paste) holds words no text has: each text is still searched for the others,
    # an English word whose stem is not its beginning ("retri" of "retry") and a Japanese word
    # written otherwise than its normalised form included
    query = "retry exhausted for mailbox sync, お客様 reports zqxjv and wvkpl"
    texts = [
        "御客様から",
        "Mailbox quota",
        "nothing of it here",
        "The job gave up after 5 retry attempts.",
    ]
    assert explain.surface_words(query, texts) == ["retry", "Mailbox", "御客様"]


def test_identifiers_are_whole_tokens_wherever_they_stand():
    texts = ["PRF-50120 and prf-501-2 and xprf-501", "end: PRF-501"]
    assert explain.surface_words("PRF-501", texts) == ["PRF-501"]
    assert explain.surface_words("PRF-501", texts[:1]) == []
    assert explain.surface_words("PRF-501", ["(PRF-501)"]) == ["PRF-501"]


def test_named_codes_are_the_listed_codes_the_query_names():
    assert explain.named_codes("error SCH-13208 again", ["SCH-13208", "ORA-01555"]) == ["SCH-13208"]
    assert explain.named_codes("ＳＣＨ－１３２０８", ["SCH-13208"]) == [
        "SCH-13208"
    ]  # full-width typed
    assert explain.named_codes(
        "SocketTimeoutException in the log", ["java.net.SocketTimeoutException"]
    ) == ["java.net.SocketTimeoutException"]
    assert explain.named_codes("the schedule is wrong", ["SCH-13208"]) == []


CASE_LOG = (
    "2024-02-13 08:51:04,227 ERROR [exec-23] RecurrenceService - Cannot apply exception to series 448213\n"
    "2024-02-13 08:51:05,001 INFO [exec-23] AuditService - request done in 31 ms"
)


def test_matching_log_lines_are_numbered_as_pasted():
    paste = (
        "this is what the customer sent:\n"
        "2025-12-24 23:59:01,999 ERROR [exec-41] RecurrenceService - Cannot apply exception to series 9\n"
        "2025-12-24 23:59:02,100 WARN [exec-41] Mailer - queue is full\n"
        "2025-12-24 23:59:03,000 INFO [exec-9] AuditService - request done in 7 ms"
    )
    assert explain.matching_log_lines(paste, CASE_LOG) == [2, 4]
    assert explain.matching_log_lines(paste, "") == []
    assert explain.matching_log_lines("ok", CASE_LOG) == []  # too short to be a signature


def test_line_ranges():
    assert explain.line_ranges([2, 3, 4]) == "2–4"
    assert explain.line_ranges([7, 2, 3, 9, 10, 3]) == "2–3, 7, 9–10"
    assert explain.line_ranges([5]) == "5"
    assert explain.line_ranges([]) == ""


def _case(cid: str, title: str, symptoms: str, codes: tuple[str, ...] = (), logs: str = "") -> Case:
    sections = [Section("symptoms", "症状", symptoms, 5)]
    if logs:
        sections.append(Section("logs", "ログ", f"```\n{logs}\n```", 9))
    return Case(
        id=cid,
        title=title,
        status="resolved",
        product="p",
        component="c",
        visibility="support",
        created=date(2025, 1, 1),
        sections=tuple(sections),
        lang="ja",
        error_codes=codes,
        path=f"{cid}.md",
    )


def test_explain_case_names_codes_words_log_lines_and_the_related_match():
    parent = _case(
        "ESC-2024-0100",
        "予定を削除すると SCH-13208",
        "祝日の回を削除できない",
        ("SCH-13208",),
        CASE_LOG,
    )
    child = _case("ESC-2024-0200", "通知が届かない", "メールの送信が遅れる")
    query = "SCH-13208 予定 削除\n2025-12-24 23:59:01,999 ERROR [exec-41] RecurrenceService - Cannot apply exception to series 9"
    own = explain.explain_case(query, parent, ["exact_code", "log", "words"], "symptoms")
    assert own["codes"] == ["SCH-13208"] and own["log_lines"] == [2]
    assert own["words"][:3] == ["SCH-13208", "予定", "削除"] and "related" not in own
    lifted = explain.explain_case(query, child, [f"related:{parent.id}"], parent=parent)
    assert lifted["related"] == {
        "id": parent.id,
        "codes": ["SCH-13208"],
        "words": ["SCH-13208", "予定", "削除", "ERROR"],
    }
    assert lifted["words"] == [] and lifted["codes"] == [] and lifted["log_lines"] == []
