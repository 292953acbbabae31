"""Likely personal or secret data in a case file (pure detectors, named in a table).

Escalation write-ups are made from customer data; these checks keep e-mail addresses, phone
numbers, IP addresses, customer domains and credentials out of the shared knowledge base.
Documentation values (example.com, 192.0.2.0/24, 555 numbers...) are not flagged.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Callable, Iterable

from kb.errors import Problem

SAFE_DOMAINS = ("example.com", "example.jp", "example.org", "example.net", "localhost", "invalid", "test")


@dataclass(frozen=True)
class Finding:
    """One suspicious span on one line (1-based), with the placeholder that would replace it."""

    kind: str
    line: int
    start: int
    end: int
    text: str
    placeholder: str
    secret: bool

    def problem(self, path: str) -> Problem:
        shown = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        what = "secret" if self.secret else "personal data"
        return Problem(path, self.line, f"possible {what} ({self.kind}): '{shown}'; run 'kb redact' to replace it with {self.placeholder}",
                       "sensitive", "error" if self.secret else "warning")


_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@((?:[\w-]+\.)+[A-Za-z]{2,})(?![\w-])")
_PHONE = re.compile(r"(?<![\w+-])(?:\+?81[-\s]?|0)(?:\d{1,4}[-\s(（)）]{1,2}\d{1,4}[-\s)）]{1,2}\d{3,4}|[789]0[-\s]?\d{4}[-\s]?\d{4})(?![\w-])"
                    r"|(?<![\w+])\+\d{1,3}[-\s]\d{1,4}[-\s]\d{3,4}[-\s]\d{3,4}(?![\w-])")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]*\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}(?![\w:])")
_VERSION_BEFORE = re.compile(r"(?i)(?:\b(?:version|ver\.?|v|release|build)|バージョン|版)\s*$")
_SECRET_ASSIGN = re.compile(
    r"(?i)(?P<key>pass(?:word|wd)?|pwd|secret|api[_-]?key|access[_-]?key|client[_-]?secret|token|auth|パスワード|暗証番号)"
    r"(?P<sep>[\"']?\s*[:=：]\s*[\"']?)(?P<value>[^\s\"',;&]{4,})")
_BEARER = re.compile(r"(?i)\b(?:bearer|basic)\s+([A-Za-z0-9._~+/=-]{16,})")
_KNOWN_TOKENS = re.compile(r"\b(?:AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abpr]-[A-Za-z0-9-]{10,}|eyJ[\w-]{10,}\.[\w-]{10,}\.[\w-]{10,})\b")
_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")
_PLACEHOLDER_VALUE = re.compile(r"^(?:<[^>]*>|\*+|x+|\.{3}|\$\{?\w+\}?|%\w+%|\(?redacted\)?|\*\*\*\*|changeme|true|false|null|none|\d{1,3})$", re.IGNORECASE)


_MASKED = re.compile(r"\.\.\.|…|\*\*|^<|x{4,}|X{4,}")


def _safe_domain(domain: str) -> bool:
    domain = domain.lower()
    return any(domain == d or domain.endswith("." + d) for d in SAFE_DOMAINS)


def _safe_ip(text: str) -> bool:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return True  # not an address at all (a version number like 1.2.3.4000 fails here)
    documentation = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")]
    return ip.is_loopback or ip.is_unspecified or any(ip in net for net in documentation)


def _emails(line: str) -> Iterable[tuple[int, int, str]]:
    for m in _EMAIL.finditer(line):
        if not _safe_domain(m.group(1)):
            yield m.start(), m.end(), "<EMAIL>"


def _phones(line: str) -> Iterable[tuple[int, int, str]]:
    for m in _PHONE.finditer(line):
        digits = re.sub(r"\D", "", m.group())
        if 10 <= len(digits) <= 13 and "555" not in digits[2:6]:
            yield m.start(), m.end(), "<PHONE>"


def _ips(line: str) -> Iterable[tuple[int, int, str]]:
    for pattern in (_IPV4, _IPV6):
        for m in pattern.finditer(line):
            if _VERSION_BEFORE.search(line[max(0, m.start() - 12):m.start()]):
                continue  # "version 5.10.2.1" is a version, not an address
            if not _safe_ip(m.group()):
                yield m.start(), m.end(), "<IP>"


def _secrets(line: str) -> Iterable[tuple[int, int, str]]:
    for m in _SECRET_ASSIGN.finditer(line):
        value = m.group("value")
        if not _PLACEHOLDER_VALUE.match(value) and not _MASKED.search(value):
            yield m.start("value"), m.end("value"), "<SECRET>"
    for pattern in (_BEARER, _KNOWN_TOKENS):
        for m in pattern.finditer(line):
            group = 1 if pattern is _BEARER else 0
            yield m.start(group), m.end(group), "<SECRET>"
    for m in _PRIVATE_KEY.finditer(line):
        yield m.start(), m.end(), "<PRIVATE-KEY>"


def _domains(names: tuple[str, ...]) -> Callable[[str], Iterable[tuple[int, int, str]]]:
    if not names:
        return lambda line: ()
    pattern = re.compile(r"(?<![\w.-])(?:[\w-]+\.)*(?:" + "|".join(re.escape(n) for n in names) + r")(?![\w-])", re.IGNORECASE)

    def find(line: str) -> Iterable[tuple[int, int, str]]:
        for m in pattern.finditer(line):
            yield m.start(), m.end(), "<CUSTOMER-DOMAIN>"
    return find


DETECTORS: dict[str, tuple[Callable[[str], Iterable[tuple[int, int, str]]], bool]] = {
    "e-mail address": (_emails, False),
    "phone number": (_phones, False),
    "IP address": (_ips, False),
    "credential": (_secrets, True),
}


def scan_text(text: str, customer_domains: tuple[str, ...] = (), first_line: int = 1) -> list[Finding]:
    """Every finding in ``text``; overlapping findings keep the earliest, longest one."""
    detectors = dict(DETECTORS)
    detectors["customer domain"] = (_domains(customer_domains), False)
    findings: list[Finding] = []
    for offset, line in enumerate(text.split("\n")):
        spans: list[tuple[int, int, str, str, bool]] = []
        for kind, (detect, secret) in detectors.items():
            spans += [(s, e, p, kind, secret) for s, e, p in detect(line)]
        spans.sort(key=lambda sp: (sp[0], -(sp[1] - sp[0])))
        end = -1
        for s, e, placeholder, kind, secret in spans:
            if s >= end:
                findings.append(Finding(kind, first_line + offset, s, e, line[s:e], placeholder, secret))
                end = e
    return findings


def body_start(text: str) -> int:
    """0-based index of the first line after the front matter (0 when there is none)."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return 0
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return i + 1
    return 0


def scan_case_text(text: str, customer_domains: tuple[str, ...] = ()) -> list[Finding]:
    """Findings in the title line and the body (front-matter ids and dates are left alone)."""
    lines = text.split("\n")
    start = body_start(text)
    findings = [f for f in scan_text("\n".join(lines[:start]), customer_domains)
                if lines[f.line - 1].lstrip().startswith("title:")]
    return findings + scan_text("\n".join(lines[start:]), customer_domains, first_line=start + 1)


def redact(text: str, findings: list[Finding]) -> str:
    """Replace every finding by its placeholder (right to left on each line, so offsets hold)."""
    lines = text.split("\n")
    for finding in sorted(findings, key=lambda f: (f.line, -f.start)):
        line = lines[finding.line - 1]
        lines[finding.line - 1] = line[:finding.start] + finding.placeholder + line[finding.end:]
    return "\n".join(lines)
