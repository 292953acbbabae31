import importlib.util
import sys
import time

import pytest
from conftest import REPO, case_text

from kb.parse import check_case_text
from kb.sensitive import redact, scan_case_text, scan_text


@pytest.mark.parametrize(
    "line,kind,text",
    [
        ("連絡先: tanaka@hanamura-logi.co.jp まで", "e-mail address", "tanaka@hanamura-logi.co.jp"),
        ("Call John at 03-1234-5678 tomorrow", "phone number", "03-1234-5678"),
        ("携帯 090-1234-5678 にお電話ください", "phone number", "090-1234-5678"),
        ("office +81 3 1234 5678", "phone number", "+81 3 1234 5678"),
        ("db at 10.20.30.40:5432", "IP address", "10.20.30.40"),
        ("from fe80::1:2:3:4", "IP address", "fe80::1:2:3:4"),
        ("password=Hunter2xyz", "credential", "Hunter2xyz"),
        ("パスワード：Sakura2026 を設定", "credential", "Sakura2026"),
        (
            "Authorization: Bearer abcdefghijklmnopqrstuvwxyz123",
            "credential",
            "abcdefghijklmnopqrstuvwxyz123",
        ),
        ("key AKIAABCDEFGHIJKLMNOP in the config", "credential", "AKIAABCDEFGHIJKLMNOP"),
        ("-----BEGIN RSA PRIVATE KEY-----", "credential", "-----BEGIN RSA PRIVATE KEY-----"),
    ],
)
def test_true_positives(line, kind, text):
    findings = scan_text(line)
    assert [(f.kind, f.text) for f in findings] == [(kind, text)]


@pytest.mark.parametrize(
    "line",
    [
        "user@example.com and 担当 sato@example.jp",
        "relay 192.0.2.5, client 198.51.100.7, proxy 203.0.113.9, 2001:db8::1, 127.0.0.1",
        "upgrade to version 5.10.2.1 (バージョン 6.0.1.2)",
        "at 2026-03-02 10:15:07,123 took 1532 ms",
        "password=<redacted> token=**** secret=${DB_SECRET} pwd: xxxx api_key=tk_7f3a...e21",
        "SCH-13208 at RecurrenceService.java:231 request 8f3a2c91",
        "電話で問い合わせがあった (番号は記載しない)",
        "timeout=30000 retries=5 port 8443",
    ],
)
def test_false_positives_are_not_flagged(line):
    assert scan_text(line) == []


def test_customer_domains_from_config():
    findings = scan_text(
        "portal.hanamura-logi.co.jp is slow; hanamura-logi.co.jp too; not hanamura-logi.co.jpx",
        ("hanamura-logi.co.jp",),
    )
    assert [f.text for f in findings] == ["portal.hanamura-logi.co.jp", "hanamura-logi.co.jp"]


def test_lint_reports_secrets_as_errors_and_personal_data_as_warnings():
    text = case_text(symptoms="Customer tanaka@hanamura-logi.co.jp sent password=Hunter2xyz")
    case, problems = check_case_text(text, "ESC-2026-0001.md")
    assert case is None
    by_severity = {(p.severity, p.line) for p in problems if p.field == "sensitive"}
    assert by_severity == {("warning", 13), ("error", 13)}


def test_redaction_replaces_only_the_findings_and_leaves_ids():
    text = case_text(
        title="Mail from sato@hanamura-logi.co.jp",
        symptoms="Server 10.1.2.3 and password: Secr3tPass!",
    )
    redacted = redact(text, scan_case_text(text))
    assert "sato@" not in redacted and "10.1.2.3" not in redacted and "Secr3tPass" not in redacted
    assert "<EMAIL>" in redacted and "<IP>" in redacted and "password: <SECRET>" in redacted
    assert "id: ESC-2026-0001" in redacted and "created: 2026-03-02" in redacted
    assert scan_case_text(redacted) == []


# --- the labelled line corpus (tests/data/sensitive/lines.tsv, scored by scripts/sensitive_report.py) ---


def _report_module():
    spec = importlib.util.spec_from_file_location(
        "sensitive_report", REPO / "scripts" / "sensitive_report.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["sensitive_report"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


report = _report_module()
# Categories of lines that hold no credential however much they look like one: a false positive
# there removes a whole case from search.
MUST_NOT_FLAG = ("masked", "placeholder", "flag", "prefix", "prose", "docs", "code", "identifier")
# Measured on the corpus (see the README table): every kind at precision and recall 1.000 except
# IP precision 0.960 (a bare version "5.10.2.1 へ" reads as an address). The floors leave a little room.
FLOORS = {
    "credential": (0.99, 0.98),
    "e-mail address": (0.95, 0.95),
    "phone number": (0.95, 0.95),
    "IP address": (0.95, 0.95),
}


@pytest.fixture(scope="module")
def corpus():
    return report.load()


def test_the_corpus_is_large_and_varied(corpus):
    expected = [r.expected for r in corpus]
    harmless = [r for r in corpus if r.expected == "none" and r.category in MUST_NOT_FLAG]
    assert len(corpus) >= 320 and expected.count("credential") >= 120 and len(harmless) >= 100
    assert len({r.category for r in corpus if r.expected == "credential"}) >= 15
    assert all(expected.count(kind) >= 20 for kind in report.KINDS)


def test_precision_and_recall_per_kind(corpus):
    measured = {kind: report.scores(corpus, kind) for kind in FLOORS}
    low = {
        k: s
        for k, s in measured.items()
        if s["precision"] < FLOORS[k][0] or s["recall"] < FLOORS[k][1]
    }
    assert not low, f"{low}\n{report.misses(corpus)}"


def test_no_credential_on_masked_values_flags_prefixes_or_prose(corpus):
    wrong = [
        r
        for r in corpus
        if r.expected == "none" and r.category in MUST_NOT_FLAG and "credential" in r.found
    ]
    assert not wrong, report.misses(wrong)


def test_every_category_is_classified_right(corpus):
    """Per category: at most one wrong line, and none in a category with a credential at stake."""
    bad = {
        key: group
        for key, group in report.by_category(corpus).items()
        if sum(r.wrong for r in group)
        > (0 if key[0] == "credential" or key[1] in MUST_NOT_FLAG else 1)
    }
    assert not bad, report.misses([r for group in bad.values() for r in group])


def test_the_report_table_lists_every_kind_and_category(corpus):
    table = report.table(corpus)
    assert all(f"| {kind} |" in table for kind in report.KINDS)
    assert all(f"| {category} |" in table for category in {r.category for r in corpus})


@pytest.mark.parametrize(
    "line",
    [
        "map $arg_session_key $masked { default session_key=REDACTED; }",
        "`auth.allowUrlToken=true`",
        "search the logs for `token=ghp_`",
        "2024-05-14 06:58:02,114 WARN c.k.t.mail.SmtpTransport - STARTTLS handshake failed: session=7f3a0c91",
    ],
)
def test_the_lines_of_the_issue_are_not_credentials(line):
    assert [f for f in scan_text(line) if f.secret] == []


def test_the_token_inside_a_url_wins_over_the_longer_value():
    line = "git clone https://x-access-token:ghs_4oWIVbZE2LFqMhKufnOnNny72N0LpnXb9QPw@github.com/tsumugi/ops.git"
    assert [(f.kind, f.text) for f in scan_text(line)] == [
        ("credential", "ghs_4oWIVbZE2LFqMhKufnOnNny72N0LpnXb9QPw")
    ]


@pytest.mark.parametrize(
    "unit", ["token:", "a.b", "mysql ", "password=", "Cookie: ", "a", "http://a:b", "0-"]
)
def test_long_pathological_lines_are_scanned_in_linear_time(unit):
    line = unit * (100_000 // len(unit))
    started = time.perf_counter()
    scan_text(line)
    assert time.perf_counter() - started < 2.0  # quadratic backtracking would take minutes
