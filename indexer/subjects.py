"""What a search was about: the error codes and log line signatures of its text (pure).

The result feeds :class:`kb.activity.SearchEvent` (``subjects``), so the store layer records
them without importing the indexer. A code is its canonical form (:func:`kb.codes.canonical_code`);
a signature is the ``l…`` digest :func:`kb.logsig.signature_tokens` gives a whole-line
template, with the masked template itself. Only lines that look like machine log output
(:func:`kb.logsig.is_log_line`) count as signatures: a sentence a person typed is not a
log signature, even though it has enough words to be a template.
"""

from __future__ import annotations

from kb import logsig
from kb.codes import canonical_code, extract_error_codes

MAX_CODES = 20
MAX_SIGNATURES = 20

Subject = tuple[str, str, "str | None"]  # (subject type, subject, template for a signature)


def line_signatures(line: str) -> list[tuple[str, str]]:
    """(signature id, masked template) of one log line; empty when it is too short to be a template."""
    ids = [token for token in logsig.signature_tokens(line) if token.startswith("l")]
    return list(zip(ids, logsig.templates(line)))


def search_subjects(
    text: str, max_codes: int = MAX_CODES, max_signatures: int = MAX_SIGNATURES
) -> list[Subject]:
    """Distinct codes (first ``max_codes``) then distinct log signatures (first ``max_signatures``)
    that ``text`` names, in order of first appearance."""
    codes = list(dict.fromkeys(canonical_code(code) for code in extract_error_codes(text)))[
        :max_codes
    ]
    found: list[Subject] = [("code", code, None) for code in codes]
    seen: set[str] = set()
    for line in text.splitlines():
        if len(seen) >= max_signatures:
            break
        if not logsig.is_log_line(line):
            continue
        for signature, template in line_signatures(line):
            if signature not in seen and len(seen) < max_signatures:
                seen.add(signature)
                found.append(("signature", signature, template))
    return found
