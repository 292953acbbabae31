"""Likely personal or secret data in a case file (pure detectors, named in tables).

Escalation write-ups are made from customer data; these checks keep e-mail addresses, phone
numbers, IP addresses, customer domains and credentials out of the shared knowledge base.
A credential blocks indexing, so its detectors must be precise as well as safe: a value that is
already masked (``REDACTED``, ``****``, ``tk_7f3a...e21``), a placeholder or reference
(``<token>``, ``${VAR}``, ``{{ secret }}``, ``changeme``), a config flag or number
(``auth.allowUrlToken=true``, ``token_expiry=3600``) or a bare token prefix named in prose
(``token=ghp_``, "keys start with AKIA") is not a credential. Documentation values
(example.com, 192.0.2.0/24, 555 numbers, AWS's ``...EXAMPLE`` keys) are not flagged either.
The labelled line corpus in ``tests/data/sensitive/lines.tsv`` measures all of this.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kb.errors import Problem

SAFE_DOMAINS = (
    "example.com",
    "example.jp",
    "example.org",
    "example.net",
    "localhost",
    "localdomain",
    "invalid",
    "test",
    "example",
)

Span = tuple[int, int, str]
Detector = Callable[[str], Iterable[Span]]


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
        return Problem(
            path,
            self.line,
            "secret" if self.secret else "personal_data",
            {"kind": self.kind, "text": shown, "placeholder": self.placeholder},
            "sensitive",
            "error" if self.secret else "warning",
        )


# --- personal data --------------------------------------------------------------------------

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@((?:[\w-]+\.)+[A-Za-z]{2,})(?![\w-])")
_RETINA_FILE = re.compile(r"\d(?:\.\d)?x\.[a-z]+", re.IGNORECASE)  # icon@2x.png
_SEP = r"[-\s(（)）－‐−]"
_PHONE = re.compile(
    rf"(?<![\w+-])(?:\+?81[-\s]?|[0０])(?:\d{{1,4}}{_SEP}{{1,2}}\d{{1,4}}[-\s)）－‐−]{{1,2}}\d{{3,4}}|[789７８９][0０][-\s－]?\d{{4}}[-\s－]?\d{{4}})(?![\w-])"
    r"|(?<![\w+])\+\d{1,3}(?:\s?\(0\)\s?\d{1,4})?(?:[-\s.]{1,2}\(?\d{1,8}\)?){1,5}(?![\w-])"
    r"|(?<![\w+.-])(?:\([2-9]\d\d\)\s?|[2-9]\d\d[-.])[2-9]\d\d[-.]\d{4}(?![\w-]|\.\d)"
)  # North American: (415) 867-5309
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]*\d)")
_IPV6 = re.compile(
    r"(?<![\w:])(?:[0-9a-fA-F]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F]{0,4})(?![\w:]|\.\d)"
)
_VERSION_BEFORE = re.compile(
    r"(?i)(?:\b(?:version|ver\.?|v|release|build)|バージョン|版|[a-z][\w.]*[-_])\s*$"
)
_FILE_AFTER = re.compile(r"\.[A-Za-z]")  # tsumugi-server-5.10.2.1.jar
_DOCUMENTATION_NETS = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


def _safe_domain(domain: str) -> bool:
    domain = domain.lower()
    return any(domain == d or domain.endswith("." + d) for d in SAFE_DOMAINS)


def _safe_ip(text: str) -> bool:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return True  # not an address at all (a version number like 1.2.3.4000 fails here)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is judged as 127.0.0.1
    return ip.is_loopback or ip.is_unspecified or any(ip in net for net in _DOCUMENTATION_NETS)


def _emails(line: str) -> Iterable[Span]:
    for m in _EMAIL.finditer(line):
        if _safe_domain(m.group(1)) or _RETINA_FILE.fullmatch(m.group(1)):
            continue
        if line[m.end() : m.end() + 1] == ":" and line[m.end() + 1 : m.end() + 2].strip():
            continue  # git@github.com:org/repo.git, ops@host:/path: an ssh/scp target, not an address
        yield m.start(), m.end(), "<EMAIL>"


def _fictional_phone(digits: str) -> bool:
    """555 numbers (Japanese drama style in digits 3-6, North American 555-01xx after +1)."""
    return "555" in digits[2:6] or (
        digits.startswith("1") and len(digits) == 11 and digits[4:7] == "555"
    )


def _phones(line: str) -> Iterable[Span]:
    for m in _PHONE.finditer(line):
        digits = re.sub(r"\D", "", m.group())
        if 10 <= len(digits) <= 13 and not _fictional_phone(digits):
            yield m.start(), m.end(), "<PHONE>"


def _ips(line: str) -> Iterable[Span]:
    for pattern in (_IPV4, _IPV6):
        for m in pattern.finditer(line):
            if _VERSION_BEFORE.search(
                line[max(0, m.start() - 12) : m.start()]
            ) or _FILE_AFTER.match(line, m.end()):
                continue  # "version 5.10.2.1", "server-5.10.2.1.jar" are versions, not addresses
            if not _safe_ip(m.group()):
                yield m.start(), m.end(), "<IP>"


# --- credentials: what a value looks like ---------------------------------------------------
#
# Decided (and measured on the corpus): masked values, placeholders (including well-known
# defaults such as changeme / changeit), references to a variable, file or vault, config flags,
# booleans and numbers, and bare token prefixes are NOT credentials. Anything else after a
# password-like key IS one, even a plain word (``password: sunshine``).

_MASK_ONLY = re.compile(r"[*xX#●•＊・.…_\-]+")
_MASKED_PART = re.compile(r"\.\.\.|…|\*\*|x{4,}|X{4,}|●●|＊＊")
_MASK_WORDS = re.compile(
    r"[^A-Za-z0-9]*(?:redacted|masked|filtered|removed|hidden|omitted|censored|sanitized|scrubbed|"
    r"truncated|protected|elided)[^A-Za-z0-9]*",
    re.IGNORECASE,
)
_PLACEHOLDER_WORDS = frozenset(
    """changeme change_me change-me changeit placeholder dummy example sample password passwd
    secret token apikey api_key api-key xxx hoge fuga piyo foo bar foobar baz replaceme replace_me todo tbd fixme
    yourpassword yourtoken yoursecret""".split()
)
_PLACEHOLDER_SHAPE = re.compile(
    r"(?i:(?:your|my)[-_]?(?:[a-z]+[-_]?){0,3}?(?:key|token|secret|password|pass|pw)(?:[-_]?here)?)|[A-Z]+(?:_[A-Z]+)+|<[^>]*>|\[[^\]]*\]|\{[^}]*\}|\([^)]*\)"
    r"|_?[a-z]+(?:_[a-z]+)+"  # a snake_case name in code: password=db_password
    r"|(?:[a-z]+[-_])*(?:test|dummy|fake|example|sample|placeholder|demo)(?:[-_][a-z]+)*"
)
_TYPE_NAMES = frozenset(
    "str string bool boolean int integer number float double bytes object any char text varchar secretstr".split()
)
_REFERENCE = re.compile(
    r"\$\{|\$\(|\$[A-Za-z_]\w*$|%\w+%|%\(\w+\)s|\{\{|#\{|@Microsoft\.KeyVault|(?:env|vault|file|secret|ref):|![a-z]+$|"
    r"(?:/[a-z0-9_.-]+){2,}/?$|[a-z_][a-z0-9_]*\.(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:[\[(].*)?$|\w+[\[(]"
)
_PATTERN = re.compile(r"\[\^|\.\*|\.\+|\\[SswdD]|\(\?")  # a regular expression in a masking rule
_FLAG = re.compile(
    r"(?i)true|false|yes|no|on|off|enabled?|disabled?|null|nil|none|empty|n/?a|-+|"
    r"\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w|y|sec|secs|seconds?|min|mins|minutes?|hours?|days?|weeks?|[kmg]i?b?)?"
)
_DESCRIPTIVE = frozenset(
    """required optional expired invalid incorrect wrong reset changed unchanged set unset missing
    unknown same encrypted hashed plaintext plain random generated rotated revoked locked unlocked ok ng failed error
    valid weak strong sent supplied provided given configured default auto see ask prompt prompted stored blank
    forgotten lost leaked shared mismatch denied rejected accepted files compat""".split()
)  # passwd: files (nsswitch.conf)
_TOKEN_PREFIXES = ("AKIA", "ASIA", "AIza", "eyJ", "SG.", "hvs.")
_ERROR_CODE = re.compile(r"[A-Z]{2,8}-\d{3,6}")
_DOCUMENTATION_SECRET = re.compile(
    r"EXAMPLE(?:KEY)?$"
)  # AWS's documented AKIAIOSFODNN7EXAMPLE / ...EXAMPLEKEY


def _masked(value: str) -> bool:
    bare = re.sub(r"\$\d", "", value)  # REDACTED$2 in a rewrite rule
    return bool(
        _MASK_ONLY.fullmatch(value) or _MASKED_PART.search(value) or _MASK_WORDS.fullmatch(bare)
    )


def _placeholder(value: str) -> bool:
    return (
        value.lower() in _PLACEHOLDER_WORDS
        or value.lower() in _TYPE_NAMES
        or bool(_PLACEHOLDER_SHAPE.fullmatch(value))
    )


def _reference(value: str) -> bool:
    return bool(_REFERENCE.match(value) or _PATTERN.search(value))


def _prefix_only(value: str) -> bool:
    return value in _TOKEN_PREFIXES or (len(value) <= 12 and value[-1] in "_-.")


def _not_a_secret(value: str) -> bool:
    """Masked, placeholder, reference, flag or number, documentation value, or a bare token prefix."""
    return bool(
        _masked(value)
        or _placeholder(value)
        or _reference(value)
        or _FLAG.fullmatch(value)
        or _prefix_only(value)
        or _DOCUMENTATION_SECRET.search(value)
    )


def _random_looking(value: str) -> bool:
    """Letters and digits mixed (8+ characters), or a long run of mixed case: a generated token."""
    if _ERROR_CODE.fullmatch(value):
        return False
    letters, digits = sum(c.isalpha() for c in value), sum(c.isdigit() for c in value)
    if len(value) >= 8 and letters and digits:
        return True
    switches = sum(1 for a, b in zip(value, value[1:]) if a.isupper() != b.isupper())
    return len(value) >= 16 and switches >= len(value) / 4


def _strong_random(value: str) -> bool:
    """Random-looking with a symbol or mixed case too: a password even without a key before it."""
    return _random_looking(value) and (
        not value.isalnum() or (not value.islower() and not value.isupper())
    )


def _secret_value(value: str, strength: str) -> bool:
    """Whether ``value`` given for a key of ``strength`` ('password', 'secret' or 'token') is a credential."""
    value = value.strip().rstrip(".。")
    while (
        value
        and value[-1] in ")]}"
        and value.count(value[-1]) > value.count({")": "(", "]": "[", "}": "{"}[value[-1]])
    ):
        value = value[:-1]  # password: PASSWORD}) — the closing brackets of the code around it
    if strength == "password" and re.fullmatch(r"\d{4,}", value):
        return True  # a PIN or a numeric password
    if len(value) < 4 or _not_a_secret(value):
        return False
    if " " in value:  # a quoted phrase: prose unless it holds a digit or a token
        return any(c.isdigit() for c in value) or any(_random_looking(w) for w in value.split())
    if strength == "token":
        return _random_looking(value)
    return value.lower() not in _DESCRIPTIVE


# --- credentials: which keys hold secrets ---------------------------------------------------

_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+|[^\W\d_A-Za-z]+")
_PASSWORD_WORDS = frozenset(
    "password passwd pwd pw passphrase passcode storepass keypass srcstorepass deststorepass".split()
)
_SECRET_WORDS = frozenset("secret apikey secretkey accesskey privatekey sessionkey".split())
_TOKEN_WORDS = frozenset(
    "token auth pass credential credentials sessionid jsessionid authtoken sig".split()
)
_KEY_QUALIFIERS = frozenset(
    "api access secret private session client master signing encryption license subscription app account".split()
)
_JA_PASSWORD = ("パスワード", "暗証番号", "パスフレーズ")
_JA_SECRET = ("シークレット", "秘密鍵")


def _key_strength(name: str) -> str | None:
    """'password', 'secret', 'token' or None for the key left of ``=`` / ``:`` (its last word decides)."""
    words = [w.lower() for w in _WORDS.findall(name)]
    if not words:
        return None
    last, prev = words[-1], words[-2] if len(words) > 1 else ""
    if (
        last in _PASSWORD_WORDS
        or last.endswith(("password", "passwd", "passphrase"))
        or last.endswith(_JA_PASSWORD)
    ):
        return "password"
    if (
        last in _SECRET_WORDS
        or last.endswith(("secret", "apikey"))
        or last.endswith(_JA_SECRET)
        or (last in ("key", "キー") and prev in _KEY_QUALIFIERS)
    ):
        return "secret"
    if last in _TOKEN_WORDS or last.endswith("token") or last.endswith("トークン"):
        return "token"
    return None


# --- credential detectors -------------------------------------------------------------------

# A key ends with one of these words (a cheap first pass; _key_strength decides on the whole key).
_KEY_WORD = re.compile(
    r"(?i:pass(?:word|wd|phrase|code)?|pwd|pw|secret|key|token|auth|credentials?|sessionid|sig)"
    r"(?:パスワード|暗証番号|パスフレーズ|シークレット|秘密鍵|キー|トークン)?"
    r"|(?:パスワード|暗証番号|パスフレーズ|シークレット|秘密鍵|キー|トークン)"
)
_KEY_TAIL = re.compile(r"(?:\s?[(（][^()（）]{1,20}[)）])?\\?[\"']?\s*(?:=>|:=|[:=：＝])\s*")
_KEY_HEAD = re.compile(
    r"[\w.\-]{0,64}(?: [A-Za-z]{1,32}(?![\w.\-]))?"
)  # read backwards: the rest of the key, one word before it
_VALUE = re.compile(
    r"\\\"(?P<eq>[^\s\"\\]+)\\\"|\"(?P<dq>[^\s\"](?:[^\"]{0,998}[^\s\"])?)\"|'(?P<sq>[^\s'](?:[^']{0,998}[^\s'])?)'"
    r"|(?P<bare>\{\{.*?\}\}|<[^>]*>|\[[^\]]*\]|\$\{[^}]*\}|\$\([^)]*\)|(?:(?![\s\"'`,;&<>])[\x21-\x7e])+)"
)
_XML_ELEMENT = re.compile(r"<(?P<key>[\w.:-]{1,64})>(?P<value>[^<\s][^<]*)</(?P=key)>")
_XML_ATTRIBUTES = re.compile(
    r"(?i)\b(?:key|name)\s*=\s*\"(?P<key>[^\"]{1,64})\"\s+value\s*=\s*\"(?P<value>[^\"]*)\""
)
_URL_USERINFO = re.compile(
    r"(?i)\b[a-z][a-z0-9+.-]{0,30}://(?P<user>[^\s:/@?#]*):(?P<value>[^\s@/?#]+)@"
)
_CLI_OPTION = re.compile(
    r"(?<!\S)--?(?P<key>password|passwd|pass|storepass|keypass|srcstorepass|deststorepass|token|api-key|apikey|"
    r"secret|client-secret|access-token|auth-token)(?:=|\s+)(?:\"(?P<dq>[^\"]+)\"|'(?P<sq>[^']+)'|(?P<bare>[^\s\"'-]\S*))"
)
_CLI_ARGUMENT = r"(?:'(?P<sq>[^']+)'|\"(?P<dq>[^\"]+)\"|(?P<bare>[^\s\"'-]\S*))"
_CLI_SHORT_PASSWORD = re.compile(
    r"\b(?:(?:mysql\w*|sshpass|(?:docker|podman|helm)\s+(?:registry\s+)?login)\b.{0,200}?\s-p\s?|redis-cli\b.{0,200}?\s-a\s+"
    r"|ldap\w+\b.{0,200}?\s-w\s+|(?:sqlcmd|bcp|osql)\b.{0,200}?\s-P\s*"
    r"|htpasswd\s+(?:-\w+\s+){0,5}-\w*b\w*\s+\S+\s+\S+\s+)" + _CLI_ARGUMENT
)
_CLI_CONFIG_SET = re.compile(
    r"\bconfig(?:ure)?\s+set\s+(?:--\S+\s+){0,5}(?P<key>[\w.:/@\-]{1,100})\s+" + _CLI_ARGUMENT
)
_CLI_USER = re.compile(r"(?<!\S)(?:-u|--user)\s+[\"']?[^\s:\"']+:(?P<value>[^\s\"']+)")
_AUTH_SCHEME = re.compile(
    r"(?i)(?:\b(?P<scheme>bearer|basic)|\bauthorization[\"']?\s*[:=]\s*[\"']?(?P<word>token))\s+(?P<value>[A-Za-z0-9._~+/=-]{8,})"
)
_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_PEM_ALONE = re.compile(r"[\s>|\"'`]*")
_PEM_BODY = re.compile(r"\\n|\s*MII|\s*[A-Za-z0-9+/]{20,}")
_PROSE_EN = re.compile(
    r"(?i)\b(?:password|passphrase|passcode|api[ -]?key|token|secret)s?\s+(?:(?:is|was|were|has been|had been)\s+)?"
    r"(?:(?:set|reset|changed|updated)\s+)?(?:is|was|to)\s+[`\"'“‘]?(?P<value>(?:(?![\s`\"'”’])[\x21-\x7e])+)"
)
_PROSE_EN_FOR = re.compile(
    r"(?i)\b(?:password|passphrase)\s+(?:for|of)\s+[^:=\n]{1,40}?[:=]\s*(?P<value>(?:(?![\s`\"'])[\x21-\x7e])+)"
)
_COOKIE_HEADER = re.compile(r"(?i)\b(?:set-)?cookie\s*:\s*(?P<pairs>.+)")
_COOKIE_PAIR = re.compile(r"(?P<name>[^\s=;,]+)=(?P<value>[^\s;,]+)")
_SESSION_COOKIE = re.compile(
    r"(?i)sess|sid$|auth|token"
)  # JSESSIONID, PHPSESSID, connect.sid, tsumugi_session
_PGPASS = re.compile(
    r"^\s*[\w.*-]+:(?:\d{1,5}|\*):[\w.*-]+:[\w.*-]+:(?P<value>\S+)\s*$"
)  # .pgpass: host:port:db:user:password
_PROSE_EN_DIRECT = re.compile(
    r"(?i)\b(?:password|passphrase)\s+(?:(?P<q>[`\"'“‘])(?P<quoted>[^`\"'”’]{4,})[`\"'”’]"
    r"|(?P<value>(?:(?![\s`\"'])[\x21-\x7e]){8,}))"
)
_PROSE_JA = re.compile(
    r"(?P<key>パスワード|暗証番号|パスフレーズ|トークン|API ?キー)"
    r"(?:は|を|が|も|に|欄に|として)?\s*(?P<q>[「『\"'`（(“])?"
    r"(?P<value>[A-Za-z0-9!#$%&*+\-.@^~](?:(?![\s\"'`()])[\x21-\x7e]){3,})"
)
_TOKEN_FORMATS = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    "GitHub fine-grained token": re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}"),
    "GitLab token": re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "Slack webhook": re.compile(
        r"hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,}"
    ),
    "Stripe secret key": re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}"),
    "JWT": re.compile(r"\beyJ[\w-]{10,}\.[\w-]{10,}\.[\w-]{10,}"),
    "npm token": re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"),
    "OpenAI key": re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{32,}"),
    "SendGrid key": re.compile(r"\bSG\.[\w-]{22}\.[\w-]{43}"),
    "Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{34,}\b"),
    "Vault token": re.compile(r"\bhvs\.[\w-]{24,}"),
    "Escalation KB API token": re.compile(r"\bkbt_[\w-]{40,}"),
}
_ANY_TOKEN_FORMAT = re.compile(
    r"AKIA|ASIA|gh[pousr]_|github_pat_|glpat-|xox[abposr]-|hooks\.slack|[rs]k_|AIza|eyJ|npm_|sk-|SG\.|hf_|hvs\.|kbt_"
)


def _value_span(m: re.Match[str]) -> tuple[int, int, str] | None:
    for group in ("eq", "dq", "sq", "bare", "value", "quoted"):
        if group in m.re.groupindex and m.group(group) is not None:
            return m.start(group), m.end(group), m.group(group)
    return None


def _assignments(line: str) -> Iterable[Span]:
    """``password=…``, ``"client_secret": "…"``, ``X-API-Key: …``, ``パスワード：…``, ``Pwd=…;`` in a
    connection string."""
    pos = 0
    while (word := _KEY_WORD.search(line, pos)) is not None:
        pos = word.end()
        tail = _KEY_TAIL.match(line, word.end())
        if tail is None:
            continue  # password_min_length, tokens, passwordPolicy: the word goes on, or no separator follows
        before = line[max(0, word.start() - 98) : word.start()][::-1]
        head = _KEY_HEAD.match(before)
        key = (head.group()[::-1] if head else "") + word.group()
        strength = _key_strength(key)
        value = _VALUE.match(line, tail.end()) if strength else None
        if value is None or strength is None:
            continue
        span = _value_span(value)
        if span is None:
            continue
        start, end, text = span
        pos = max(pos, end)  # token:token:token... is read once, not once per colon
        if _secret_value(text, strength):
            yield start, end, "<SECRET>"


def _xml_values(line: str) -> Iterable[Span]:
    """``<password>…</password>`` and ``<add key="ClientSecret" value="…"/>``."""
    for pattern in (_XML_ELEMENT, _XML_ATTRIBUTES):
        for m in pattern.finditer(line):
            strength = _key_strength(m.group("key"))
            if strength and _secret_value(m.group("value"), strength):
                yield m.start("value"), m.end("value"), "<SECRET>"


def _url_passwords(line: str) -> Iterable[Span]:
    """The password of ``scheme://user:password@host`` (database URLs, git remotes, ftp...) and of a
    ``.pgpass`` line."""
    for pattern in (_URL_USERINFO, _PGPASS):
        for m in pattern.finditer(line):
            if _secret_value(m.group("value"), "password"):
                yield m.start("value"), m.end("value"), "<SECRET>"


def _session_cookies(line: str) -> Iterable[Span]:
    """The value of a session or auth cookie in a ``Cookie:`` / ``Set-Cookie:`` header (a plain
    ``session=7f3a0c91`` in a log is a correlation id, not a credential)."""
    for header in _COOKIE_HEADER.finditer(line):
        for m in _COOKIE_PAIR.finditer(line, header.start("pairs")):
            if _SESSION_COOKIE.search(m.group("name")) and _secret_value(m.group("value"), "token"):
                yield m.start("value"), m.end("value"), "<SECRET>"


def _cli_options(line: str) -> Iterable[Span]:
    """``--password …``, ``-storepass …``, ``mysql -p…``, ``redis-cli -a …``, ``htpasswd -b f user …``,
    ``curl -u user:…``, ``aws configure set aws_secret_access_key …``."""
    for pattern, strength in (
        (_CLI_OPTION, "password"),
        (_CLI_SHORT_PASSWORD, "token"),
        (_CLI_USER, "password"),
        (_CLI_CONFIG_SET, None),
    ):
        for m in pattern.finditer(line):
            span = _value_span(m)
            key_strength = strength or _key_strength(m.group("key"))
            if span and key_strength and _secret_value(span[2], key_strength):
                yield span[0], span[1], "<SECRET>"


def _basic_credentials(value: str) -> bool:
    """A Basic header value that decodes to ``user:password``."""
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    return ":" in decoded and decoded.isprintable()


def _authorization_headers(line: str) -> Iterable[Span]:
    """``Bearer …``, ``Basic …`` (when it decodes to user:password) and ``Authorization: Token …``."""
    for m in _AUTH_SCHEME.finditer(line):
        value = m.group("value")
        if _masked(value):
            continue
        basic = (m.group("scheme") or "").lower() == "basic"
        if _basic_credentials(value) if basic else (_random_looking(value) or len(value) >= 32):
            yield m.start("value"), m.end("value"), "<SECRET>"


def _token_formats(line: str) -> Iterable[Span]:
    """Tokens recognisable by their shape alone (AWS, GitHub, Slack, Stripe, Google, JWT...)."""
    if not _ANY_TOKEN_FORMAT.search(line):
        return
    for pattern in _TOKEN_FORMATS.values():
        for m in pattern.finditer(line):
            if not _masked(m.group()) and not _DOCUMENTATION_SECRET.search(m.group()):
                yield m.start(), m.end(), "<SECRET>"


def _private_keys(line: str) -> Iterable[Span]:
    """A PEM private-key header that starts a key (alone on its line, or followed by the key itself)."""
    for m in _PRIVATE_KEY.finditer(line):
        alone = _PEM_ALONE.fullmatch(line[: m.start()]) and _PEM_ALONE.fullmatch(line[m.end() :])
        if alone or _PEM_BODY.match(line, m.end()):
            yield m.start(), m.end(), "<PRIVATE-KEY>"


def _prose_passwords(line: str) -> Iterable[Span]:
    """A password given in a sentence: ``the password is Hunter2xyz``, ``password "Tmp-4821"``,
    ``password for the service account: …``, ``パスワードは「Kari#5521」です``."""
    for m in (*_PROSE_EN.finditer(line), *_PROSE_EN_FOR.finditer(line)):
        value = m.group("value").rstrip(".,;:?)")
        if _random_looking(value) and _secret_value(value, "token"):
            yield m.start("value"), m.start("value") + len(value), "<SECRET>"
    for m in _PROSE_EN_DIRECT.finditer(line):
        span = _value_span(m)
        if span is None:
            continue
        start, end, value = span
        value = value.rstrip(".,;:?)") if m.group("value") else value
        if (m.group("quoted") or _strong_random(value)) and _secret_value(value, "password"):
            yield start, start + len(value), "<SECRET>"
    for m in _PROSE_JA.finditer(line):
        value = m.group("value").rstrip(".,;:?)")
        pin = m.group("key") == "暗証番号" and value.isdigit()
        if (m.group("q") or pin or _random_looking(value)) and _secret_value(value, "password"):
            yield m.start("value"), m.start("value") + len(value), "<SECRET>"


_KEY_NEEDLES = (
    "pass",
    "pw",
    "secret",
    "key",
    "token",
    "auth",
    "credential",
    "sessionid",
    "sig",
    "パスワード",
    "暗証番号",
    "パスフレーズ",
    "シークレット",
    "秘密鍵",
    "キー",
    "トークン",
)

# name: (detector, words one of which a line must hold, lower-cased, for the detector to run at all)
CREDENTIAL_DETECTORS: dict[str, tuple[Detector, tuple[str, ...]]] = {
    "private key": (_private_keys, ("private key",)),
    "token format": (_token_formats, ()),
    "authorization header": (_authorization_headers, ("bearer", "basic", "authorization")),
    "URL password": (_url_passwords, (":",)),
    "key = value": (_assignments, _KEY_NEEDLES),
    "XML value": (_xml_values, ("</", "value")),
    "session cookie": (_session_cookies, ("cookie",)),
    "command-line option": (_cli_options, (" -", "\t-", "config")),
    "prose": (
        _prose_passwords,
        (
            "pass",
            "token",
            "secret",
            "key",
            "パスワード",
            "暗証番号",
            "パスフレーズ",
            "トークン",
            "キー",
        ),
    ),
}


def _credentials(line: str) -> Iterable[Span]:
    """Every credential detector in table order; a span overlapping an earlier one is dropped (the
    token inside ``x-access-token:ghs_…@github.com`` wins over the longer key = value span)."""
    lower = " " + line.lower()  # a needle " -" also finds an option at the start of the line
    kept: list[Span] = []
    for detect, needles in CREDENTIAL_DETECTORS.values():
        if needles and not any(n in lower for n in needles):
            continue
        for span in detect(line):
            if all(span[1] <= k[0] or span[0] >= k[1] for k in kept):
                kept.append(span)
    return kept


def _domains(names: tuple[str, ...]) -> Detector:
    if not names:
        return lambda line: ()
    pattern = re.compile(
        r"(?<![\w.-])(?:[\w-]+\.)*(?:" + "|".join(re.escape(n) for n in names) + r")(?![\w-])",
        re.IGNORECASE,
    )

    def find(line: str) -> Iterable[Span]:
        for m in pattern.finditer(line):
            yield m.start(), m.end(), "<CUSTOMER-DOMAIN>"

    return find


DETECTORS: dict[str, tuple[Detector, bool]] = {
    "e-mail address": (_emails, False),
    "phone number": (_phones, False),
    "IP address": (_ips, False),
    "credential": (_credentials, True),
}


def scan_text(
    text: str, customer_domains: tuple[str, ...] = (), first_line: int = 1
) -> list[Finding]:
    """Every finding in ``text``. Overlapping findings keep a secret over personal data, then the
    earliest, longest one (``postgres://app:Xk9m2Lq@db.internal`` is a password, not an address)."""
    detectors = dict(DETECTORS)
    detectors["customer domain"] = (_domains(customer_domains), False)
    findings: list[Finding] = []
    for offset, line in enumerate(text.split("\n")):
        spans: list[tuple[int, int, str, str, bool]] = []
        for kind, (detect, secret) in detectors.items():
            spans += [(s, e, p, kind, secret) for s, e, p in detect(line)]
        kept: list[tuple[int, int, str, str, bool]] = []
        for span in sorted(spans, key=lambda sp: (not sp[4], sp[0], -(sp[1] - sp[0]))):
            if all(span[1] <= k[0] or span[0] >= k[1] for k in kept):
                kept.append(span)
        for s, e, placeholder, kind, secret in sorted(kept):
            findings.append(
                Finding(kind, first_line + offset, s, e, line[s:e], placeholder, secret)
            )
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
    findings = [
        f
        for f in scan_text("\n".join(lines[:start]), customer_domains)
        if lines[f.line - 1].lstrip().startswith("title:")
    ]
    return findings + scan_text("\n".join(lines[start:]), customer_domains, first_line=start + 1)


def redact(text: str, findings: list[Finding]) -> str:
    """Replace every finding by its placeholder (right to left on each line, so offsets hold)."""
    lines = text.split("\n")
    for finding in sorted(findings, key=lambda f: (f.line, -f.start)):
        line = lines[finding.line - 1]
        lines[finding.line - 1] = line[: finding.start] + finding.placeholder + line[finding.end :]
    return "\n".join(lines)
