"""The grammar of the ``fusion_weights`` setting: which legs, query languages and kinds exist,
and how an override such as ``'ja:dense=0.5;en.code:dense=0.1'`` is read (pure).

The settings check overrides when they are loaded; :mod:`indexer.fusion` applies them.
"""

from __future__ import annotations

import math

LEGS = ("lexical", "signature", "dense", "sparse")  # the ranked lists a search may be asked for
# ... and those it fuses: the learned leg (indexer.learned_leg) runs with the dense one, on its query vector
FUSED_LEGS = (*LEGS, "learned")
LANGS = ("ja", "en")  # query languages with weights of their own
KINDS = ("words", "code", "log")  # query kinds (kb.logsig.text_kind)


def parse_weight_spec(spec: str) -> dict[str, dict[str, float]]:
    """Parse ``'ja:lexical=1,dense=0.1;en.code:dense=0.2'`` into ``{"ja": {...}, "en.code": {...}}``:
    a target is a language (every kind) or ``language.kind``."""
    result: dict[str, dict[str, float]] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        target, sep, body = part.partition(":")
        lang, _, kind = target.strip().partition(".")
        if not sep or lang not in LANGS or (kind and kind not in KINDS):
            raise ValueError(
                f"'{part}': expected LANG[.KIND]:leg=weight,... with LANG ja or en and KIND one of {', '.join(KINDS)}"
            )
        legs = result.setdefault(target.strip(), {})
        for item in filter(None, (i.strip() for i in body.split(","))):
            leg, eq, value = item.partition("=")
            if not eq or leg.strip() not in FUSED_LEGS:
                raise ValueError(
                    f"'{item}': expected leg=weight with leg one of {', '.join(FUSED_LEGS)}"
                )
            try:
                legs[leg.strip()] = float(value)
            except ValueError:
                raise ValueError(f"'{item}': weight is not a number") from None
            if not math.isfinite(legs[leg.strip()]) or legs[leg.strip()] < 0:
                raise ValueError(f"'{item}': weight must be a number >= 0")
    return result
