import pytest

from kb.parse import check_case_text
from kb.sensitive import redact, scan_case_text, scan_text

from conftest import case_text


@pytest.mark.parametrize("line,kind,text", [
    ("連絡先: tanaka@hanamura-logi.co.jp まで", "e-mail address", "tanaka@hanamura-logi.co.jp"),
    ("Call John at 03-1234-5678 tomorrow", "phone number", "03-1234-5678"),
    ("携帯 090-1234-5678 にお電話ください", "phone number", "090-1234-5678"),
    ("office +81 3 1234 5678", "phone number", "+81 3 1234 5678"),
    ("db at 10.20.30.40:5432", "IP address", "10.20.30.40"),
    ("from fe80::1:2:3:4", "IP address", "fe80::1:2:3:4"),
    ("password=Hunter2xyz", "credential", "Hunter2xyz"),
    ("パスワード：Sakura2026 を設定", "credential", "Sakura2026"),
    ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz123", "credential", "abcdefghijklmnopqrstuvwxyz123"),
    ("key AKIAABCDEFGHIJKLMNOP in the config", "credential", "AKIAABCDEFGHIJKLMNOP"),
    ("-----BEGIN RSA PRIVATE KEY-----", "credential", "-----BEGIN RSA PRIVATE KEY-----"),
])
def test_true_positives(line, kind, text):
    findings = scan_text(line)
    assert [(f.kind, f.text) for f in findings] == [(kind, text)]


@pytest.mark.parametrize("line", [
    "user@example.com and 担当 sato@example.jp",
    "relay 192.0.2.5, client 198.51.100.7, proxy 203.0.113.9, 2001:db8::1, 127.0.0.1",
    "upgrade to version 5.10.2.1 (バージョン 6.0.1.2)",
    "at 2026-03-02 10:15:07,123 took 1532 ms",
    "password=<redacted> token=**** secret=${DB_SECRET} pwd: xxxx api_key=tk_7f3a...e21",
    "SCH-13208 at RecurrenceService.java:231 request 8f3a2c91",
    "電話で問い合わせがあった (番号は記載しない)",
    "timeout=30000 retries=5 port 8443",
])
def test_false_positives_are_not_flagged(line):
    assert scan_text(line) == []


def test_customer_domains_from_config():
    findings = scan_text("portal.hanamura-logi.co.jp is slow; hanamura-logi.co.jp too; not hanamura-logi.co.jpx",
                         ("hanamura-logi.co.jp",))
    assert [f.text for f in findings] == ["portal.hanamura-logi.co.jp", "hanamura-logi.co.jp"]


def test_lint_reports_secrets_as_errors_and_personal_data_as_warnings():
    text = case_text(symptoms="Customer tanaka@hanamura-logi.co.jp sent password=Hunter2xyz")
    case, problems = check_case_text(text, "ESC-2026-0001.md")
    assert case is None
    by_severity = {(p.severity, p.line) for p in problems if p.field == "sensitive"}
    assert by_severity == {("warning", 13), ("error", 13)}


def test_redaction_replaces_only_the_findings_and_leaves_ids():
    text = case_text(title="Mail from sato@hanamura-logi.co.jp", symptoms="Server 10.1.2.3 and password: Secr3tPass!")
    redacted = redact(text, scan_case_text(text))
    assert "sato@" not in redacted and "10.1.2.3" not in redacted and "Secr3tPass" not in redacted
    assert "<EMAIL>" in redacted and "<IP>" in redacted and "password: <SECRET>" in redacted
    assert "id: ESC-2026-0001" in redacted and "created: 2026-03-02" in redacted
    assert scan_case_text(redacted) == []
