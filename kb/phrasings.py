"""Learned phrasings: how support searched for a case, once that search solved it (issue 20).

When a signed-in user marks a case ``solved`` for a search they made, the search's text becomes a
*vote* for a phrasing of that case: the text redacted by :mod:`kb.sensitive` (a pasted log gives
only its masked line templates, never its raw lines). ``not_relevant`` is a vote against the case
for that phrasing. Engineers may ``confirm`` or ``remove`` a phrasing on the case page. Votes are
stored as they come (:class:`PhrasingVote`); what they amount to is decided by pure rules
(:func:`admitted`, :func:`learned`), so the same votes always give the same phrasings:

* **Distinct users.** A phrasing counts once at least :attr:`Rules.min_users` distinct users voted
  for it, or an engineer other than its voters confirmed it. One user alone never moves a ranking,
  however often they vote (each user's latest vote counts once).
* **Decay.** Each user's vote weighs ``0.5 ** (age / half_life_days)``; a phrasing's strength is
  the sum over its users divided by :attr:`Rules.min_users` (at most 1; a confirmed one is 1). A
  phrasing whose strength fell below :attr:`Rules.floor` no longer counts (two users' votes, after
  two half-lives).
* **Bounds.** Each user's votes are admitted up to :attr:`Rules.user_daily` a day, each case gets
  at most :attr:`Rules.case_daily` new phrasings a day, and keeps its :attr:`Rules.max_per_case`
  most useful (counting first, then strength, users, recency).
* **Negative evidence** (``not_relevant``, the same distinct-user rule) lowers the case only for
  *near-identical* queries: the same analysed token set up to a Jaccard similarity of
  :attr:`Rules.near` (words; CJK runs as character bigrams). The search side never lowers a case
  below an exact-code or signature match (:func:`indexer.fusion.demote`).
* **Visibility.** A phrasing is indexed inside its own case's document, so it can only help a
  search that may see that case; its text is shown to engineers and admins on the case page of a
  case they may read, and nowhere else (not in hits, explanations or the API).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from kb import logsig
from kb.errors import NotFoundError, QueryError
from kb.roles import ROLE_VISIBILITY, can_read_case, least_reader, roles_within
from kb.sensitive import redact, scan_text
from kb.store import Base, Store

SOLVED, NOT_RELEVANT, CONFIRMED, REMOVED = "solved", "not_relevant", "confirmed", "removed"
ACTIONS = (SOLVED, NOT_RELEVANT, CONFIRMED, REMOVED)
VOTES = (SOLVED, NOT_RELEVANT)
MAX_PHRASING_CHARS = 300  # a longer worded query (a pasted ticket) is not a phrasing
LEARNED_SECTION = "learned"  # the section name of a phrasing's vector chunk
VECTORS = False  # learned phrasings as dense vectors of their case: measured worse (docs "Learning from support")


def _now() -> datetime:
    return datetime.now(UTC)


class PhrasingVote(Base):
    """One vote on a phrasing of a case: ``solved`` / ``not_relevant`` from a search, or an
    engineer's ``confirmed`` / ``removed``."""

    __tablename__ = "phrasing_votes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    key: Mapped[str] = mapped_column(String(16), index=True)  # digest of the normalised text
    kind: Mapped[str] = mapped_column(
        String(8), default="words"
    )  # "words" or "log" (templates only)
    text: Mapped[str] = mapped_column(Text)  # redacted
    action: Mapped[str] = mapped_column(String(16))
    author: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32), default="")
    lang: Mapped[str] = mapped_column(String(8), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)


# -- pure rules --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    """The learning rules (their settings: ``learn_*`` in :mod:`kb.settings`)."""

    half_life_days: float = 90.0
    min_users: int = 2
    max_per_case: int = 20
    user_daily: int = 20
    case_daily: int = 5
    floor: float = 0.25
    near: float = 0.8


def rules_from(settings: Any) -> Rules:
    """The rules of a :class:`kb.settings.Settings` (defaults for settings it lacks)."""
    base = Rules()
    return Rules(
        **{
            name: getattr(settings, f"learn_{name}", getattr(base, name))
            for name in base.__dataclass_fields__
        }
    )


@dataclass(frozen=True)
class Vote:
    case_id: str
    key: str
    text: str
    action: str
    author: str
    created_at: datetime
    kind: str = "words"
    role: str = ""


@dataclass(frozen=True)
class Phrasing:
    """What a case's votes on one phrasing amount to."""

    case_id: str
    key: str
    text: str
    kind: str
    negative: bool  # not_relevant votes
    users: int
    strength: float
    confirmed: bool
    active: bool  # counts: indexed (positive) or lowering (negative)
    first_seen: datetime
    last_seen: datetime
    authors: tuple[str, ...] = field(default=(), compare=False)
    roles: tuple[str, ...] = field(default=(), compare=False)  # the voters' roles


def normalise(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed: the form a phrasing's key is taken of."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def phrasing_key(text: str) -> str:
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()[:16]


_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
_RUNS = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+")


def tokens(text: str) -> frozenset[str]:
    """The token set two queries are compared by: words, and CJK runs as character bigrams."""
    out: set[str] = set()
    for run in _RUNS.findall(unicodedata.normalize("NFKC", text).casefold()):
        if re.match(rf"[{_CJK}]", run) and len(run) > 1:
            out.update(run[i : i + 2] for i in range(len(run) - 1))
        else:
            out.add(run)
    return frozenset(out)


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    sa, sb = set(a), set(b)
    union = sa | sb
    return len(sa & sb) / len(union) if union else 0.0


def near_identical(a: Iterable[str], b: Iterable[str], threshold: float = Rules.near) -> bool:
    """Whether two token sets (:func:`tokens`) are the same query, give or take a word."""
    return jaccard(a, b) >= threshold


def decay(age_days: float, half_life_days: float) -> float:
    """A vote's weight after ``age_days`` (1 when new, 1/2 after one half-life)."""
    return 0.5 ** (max(0.0, age_days) / half_life_days) if half_life_days > 0 else 1.0


def admitted(votes: Iterable[Vote], rules: Rules) -> list[Vote]:
    """The votes the rate limits let through, oldest first: at most ``user_daily`` votes per user
    and UTC day, at most ``case_daily`` new phrasings per case and day. Confirmations and removals
    (engineers' acts, audited) are always admitted."""
    out: list[Vote] = []
    per_user: Counter[tuple[str, Any]] = Counter()
    fresh: dict[tuple[str, Any], set[tuple[str, str]]] = {}
    known: set[tuple[str, str, str]] = set()
    for v in sorted(votes, key=lambda v: (v.created_at, v.case_id, v.key, v.author, v.action)):
        if v.action not in VOTES:
            out.append(v)
            continue
        day = v.created_at.date()
        if per_user[(v.author, day)] >= rules.user_daily:
            continue
        ident = (v.case_id, v.key, v.action)
        if ident not in known:
            new = fresh.setdefault((v.case_id, day), set())
            if len(new) >= rules.case_daily:
                continue
            new.add((v.key, v.action))
            known.add(ident)
        per_user[(v.author, day)] += 1
        out.append(v)
    return out


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _age_days(now: datetime, then: datetime) -> float:
    then = then if then.tzinfo else then.replace(tzinfo=UTC)
    return (now - then).total_seconds() / 86400


def learned(
    votes: Iterable[Vote], rules: Rules, now: datetime | None = None
) -> dict[str, list[Phrasing]]:
    """Case id -> its phrasings (positive and negative), most useful first, at most
    ``max_per_case`` of each; removed phrasings are gone."""
    now = now or _now()
    kept = admitted(votes, rules)
    removed = {(v.case_id, v.key) for v in kept if v.action == REMOVED}
    confirmers: dict[tuple[str, str], set[str]] = {}
    groups: dict[tuple[str, str, bool], list[Vote]] = {}
    for v in kept:
        if v.action == CONFIRMED:
            confirmers.setdefault((v.case_id, v.key), set()).add(v.author)
        elif v.action in VOTES and (v.case_id, v.key) not in removed:
            groups.setdefault((v.case_id, v.key, v.action == NOT_RELEVANT), []).append(v)
    found: dict[str, list[Phrasing]] = {}
    for (case_id, key, negative), group in groups.items():
        latest: dict[str, datetime] = {}
        for v in group:
            latest[v.author] = max(latest.get(v.author, v.created_at), v.created_at)
        count = sum(decay(_age_days(now, t), rules.half_life_days) for t in latest.values())
        # a confirmation counts only from someone who did not vote for it: never one user alone
        confirmed = not negative and bool(confirmers.get((case_id, key), set()) - set(latest))
        strength = 1.0 if confirmed else min(1.0, count / max(1, rules.min_users))
        active = (confirmed or len(latest) >= rules.min_users) and strength >= rules.floor
        last = max(group, key=lambda v: v.created_at)
        found.setdefault(case_id, []).append(
            Phrasing(
                case_id,
                key,
                last.text,
                last.kind,
                negative,
                len(latest),
                round(strength, 6),
                confirmed,
                active,
                min(v.created_at for v in group),
                last.created_at,
                tuple(sorted(latest)),
                tuple(sorted({v.role for v in group})),
            )
        )
    for case_id, items in found.items():
        items.sort(
            key=lambda p: (not p.active, -p.strength, -p.users, -p.last_seen.timestamp(), p.key)
        )
        pos = [p for p in items if not p.negative][: rules.max_per_case]
        neg = [p for p in items if p.negative][: rules.max_per_case]
        found[case_id] = pos + neg
    return found


def indexed_texts(found: Mapping[str, Sequence[Phrasing]]) -> dict[str, list[str]]:
    """Case id -> the texts of its counting worded phrasings (what its ``learned`` field holds).
    A log's phrasing (its templates) is kept for engineers, not indexed: the signature leg finds logs."""
    out: dict[str, list[str]] = {}
    for case_id, items in found.items():
        texts = [p.text for p in items if p.active and not p.negative and p.kind == "words"]
        if texts:
            out[case_id] = texts
    return out


def negative_tokens(found: Mapping[str, Sequence[Phrasing]]) -> dict[str, list[list[str]]]:
    """Case id -> the token sets of its counting negative phrasings (sorted, for the manifest)."""
    out: dict[str, list[list[str]]] = {}
    for case_id, items in found.items():
        sets = [
            sorted(tokens(p.text)) for p in items if p.active and p.negative and p.kind == "words"
        ]
        if sets:
            out[case_id] = sets
    return out


def digests(found: Mapping[str, Sequence[Phrasing]]) -> dict[str, str]:
    """Case id -> a digest of what is indexed for it (counting phrasings, both signs): a change
    means the case's document must be written again."""
    out: dict[str, str] = {}
    for case_id, items in found.items():
        keys = sorted(f"{'-' if p.negative else '+'}{p.key}" for p in items if p.active)
        if keys:
            out[case_id] = hashlib.sha256(json.dumps(keys).encode()).hexdigest()[:16]
    return out


def demoted_for(
    query: str, negative: Mapping[str, Sequence[Iterable[str]]], threshold: float = Rules.near
) -> set[str]:
    """The cases whose negative phrasings are near-identical to ``query``."""
    if not negative:
        return set()
    wanted = tokens(query)
    return {
        cid
        for cid, sets in negative.items()
        if any(near_identical(wanted, s, threshold) for s in sets)
    }


def phrasing_of(
    text: str, kind: str = "", customer_domains: tuple[str, ...] = ()
) -> tuple[str, str] | None:
    """(kind, text) a search's text gives as a phrasing, redacted; None when it gives none (empty,
    or a worded text longer than :data:`MAX_PHRASING_CHARS`). A pasted log gives its masked line
    templates only."""
    if not text.strip():
        return None
    if kind == "log" or logsig.text_kind(text) == "log":
        lines = list(dict.fromkeys(logsig.templates(text)))[:10]
        phrasing, kind = "\n".join(lines), "log"
    else:
        phrasing, kind = " ".join(text.split()), "words"
        if len(phrasing) > MAX_PHRASING_CHARS:
            return None
    findings = scan_text(phrasing, customer_domains)
    phrasing = redact(phrasing, findings) if findings else phrasing
    return (kind, phrasing) if phrasing.strip() else None


# -- the store ---------------------------------------------------------------------------------


def record_vote(
    store: Store,
    action: str,
    case_id: str,
    text: str,
    author: str,
    role: str = "",
    kind: str = "",
    lang: str = "",
    now: datetime | None = None,
    customer_domains: tuple[str, ...] = (),
) -> bool:
    """Store a ``solved`` / ``not_relevant`` vote of ``author`` for ``case_id`` on a search's text;
    False (nothing stored) without an author or a usable phrasing. Permission checks are the caller's."""
    if action not in VOTES or not author:
        return False
    found = phrasing_of(text, kind, customer_domains)
    if found is None:
        return False
    kind, phrasing = found
    with store.session() as session:
        session.add(
            PhrasingVote(
                case_id=case_id[:64],
                key=phrasing_key(phrasing),
                kind=kind,
                text=phrasing,
                action=action,
                author=author[:64],
                role=role[:32],
                lang=lang[:8],
                created_at=now or _now(),
            )
        )
    return True


def review(
    store: Store,
    action: str,
    case_id: str,
    key: str,
    author: str,
    role: str,
    now: datetime | None = None,
) -> None:
    """An engineer's ``confirmed`` or ``removed`` for a phrasing of a case ``role`` may read (that
    ``role`` may edit is the caller's check). Raises :class:`QueryError` for another action,
    :class:`NotFoundError` for a case ``role`` may not read or a phrasing the case does not have."""
    if action not in (CONFIRMED, REMOVED):
        raise QueryError(f"action: expected '{CONFIRMED}' or '{REMOVED}'", "action")
    if not can_read_case(store.get_case(case_id) if len(case_id) <= 64 else None, role):
        raise NotFoundError(f"no case '{case_id[:64]}'")
    with store.session() as session:
        first = session.scalars(
            select(PhrasingVote)
            .where(
                PhrasingVote.case_id == case_id,
                PhrasingVote.key == key[:16],
                PhrasingVote.action.in_(VOTES),
            )
            .limit(1)
        ).first()
        if first is None:
            raise NotFoundError(f"case '{case_id}' has no learned phrasing '{key[:16]}'")
        session.add(
            PhrasingVote(
                case_id=case_id,
                key=key,
                kind=first.kind,
                text=first.text,
                action=action,
                author=author[:64],
                role=role[:32],
                created_at=now or _now(),
            )
        )


def load_votes(store: Store, case_ids: Iterable[str] | None = None) -> list[Vote]:
    query = select(PhrasingVote)
    if case_ids is not None:
        query = query.where(PhrasingVote.case_id.in_(list(case_ids)))
    with store.session() as session:
        return [
            Vote(r.case_id, r.key, r.text, r.action, r.author, _aware(r.created_at), r.kind, r.role)
            for r in session.scalars(query.order_by(PhrasingVote.id))
        ]


def case_phrasings(
    store: Store,
    case_id: str,
    rules: Rules,
    now: datetime | None = None,
    viewer: str | None = None,
) -> list[Phrasing]:
    """One case's phrasings (for the case page: the caller shows them to engineers only). With
    ``viewer`` (a role), only those whose every voter sees no more than the viewer: a search is
    shown to no one who may not read its author's searches (an admin's words about a restricted
    case are not an engineer's to read, on whatever case they were marked solved)."""
    found = learned(load_votes(store, [case_id]), rules, now).get(case_id, [])
    if viewer is None:
        return found
    within = set(roles_within(viewer))
    if within >= set(ROLE_VISIBILITY):  # sees everything: an unrecorded role too
        within.add("")
    return _voted_within(found, within)


@dataclass(frozen=True)
class IndexState:
    """What a build writes of the learned phrasings: texts per case, chunks, the manifest entry."""

    texts: dict[str, list[str]]
    negative: dict[str, list[list[str]]]
    digests: dict[str, str]

    def chunks(self) -> list[tuple[str, str, str, str]]:
        """One vector chunk per counting phrasing: (case id, ``learned``, text, text hash); none
        unless :data:`VECTORS` (measured: docs "Learning from support")."""
        if not VECTORS:
            return []
        return [
            (cid, LEARNED_SECTION, text, hashlib.sha256(text.encode("utf-8")).hexdigest())
            for cid in sorted(self.texts)
            for text in self.texts[cid]
        ]

    def manifest_entry(self) -> dict[str, Any]:
        return {"digests": self.digests, "negative": self.negative}


def index_state(store: Store, settings: Any, now: datetime | None = None) -> IndexState:
    """The learned phrasings as the next generation indexes them: only those whose every voter
    sees no more than the case's least privileged reader (:func:`readable_by_all`)."""
    known = set(store.case_hashes())
    found = {
        cid: items
        for cid, items in learned(load_votes(store), rules_from(settings), now).items()
        if cid in known
    }
    levels = store.visibilities(found)
    found = {
        cid: readable_by_all(items, levels.get(cid, "restricted")) for cid, items in found.items()
    }
    return IndexState(indexed_texts(found), negative_tokens(found), digests(found))


def readable_by_all(items: Sequence[Phrasing], visibility: str) -> list[Phrasing]:
    """The phrasings everyone who reads a case at ``visibility`` may read the searches of: an
    admin's search words (a restricted case's code name, say) marked "solved" on a case support
    reads would otherwise make that case a match for them in support's searches. A vote without a
    recorded role counts as the least privileged reader's."""
    return _voted_within(items, set(roles_within(least_reader(visibility))) | {""})


def _voted_within(items: Sequence[Phrasing], roles: set[str]) -> list[Phrasing]:
    """The phrasings whose every voter has one of ``roles``."""
    return [p for p in items if set(p.roles) <= roles]


def changed_cases(
    store: Store, settings: Any, recorded: Mapping[str, Any] | None, known: Iterable[str]
) -> set[str]:
    """The cases (among ``known``) whose learned phrasings changed since the generation whose
    manifest recorded ``recorded`` (its ``extra["learned"]``)."""
    now_digests = index_state(store, settings).digests
    before = dict((recorded or {}).get("digests") or {})
    changed = {
        cid for cid in set(now_digests) | set(before) if now_digests.get(cid) != before.get(cid)
    }
    return changed & set(known)


def new_since(
    store: Store, since: datetime, rules: Rules, now: datetime | None = None
) -> list[Phrasing]:
    """The counting phrasings first seen since ``since`` (the nightly report), newest first."""
    found = learned(load_votes(store), rules, now)
    items = [p for ps in found.values() for p in ps if p.active and p.first_seen >= since]
    return sorted(items, key=lambda p: (p.first_seen, p.case_id), reverse=True)


def nightly_entries(
    store: Store, settings: Any, since: datetime, now: datetime | None = None
) -> list[dict[str, Any]]:
    """The nightly report's list of phrasings that started counting since ``since`` (first seen
    then): case, sign, users, confirmed, and the text except for restricted cases (the report is
    read by operators, who may not read those)."""
    items = new_since(store, since, rules_from(settings), now)
    cases = store.get_cases(sorted({p.case_id for p in items})) if items else {}
    out = []
    for p in items:
        case = cases.get(p.case_id)
        shown = case is not None and case.visibility != "restricted"
        out.append(
            {
                "case": p.case_id,
                "negative": p.negative,
                "kind": p.kind,
                "users": p.users,
                "confirmed": p.confirmed,
                "first_seen": p.first_seen.isoformat(timespec="seconds"),
                "text": p.text if shown else None,
            }
        )
    return out


def accepted_text(store: Store, case_id: str, key: str, role: str) -> str | None:
    """The text of the worded phrasing ``key`` of a case ``role`` may read ("add to symptoms" on the
    case page opens the editor with it), or None."""
    if not can_read_case(store.get_case(case_id) if len(case_id) <= 64 else None, role):
        return None
    with store.session() as session:
        row = session.scalars(
            select(PhrasingVote)
            .where(
                PhrasingVote.case_id == case_id,
                PhrasingVote.key == key[:16],
                PhrasingVote.kind == "words",
                PhrasingVote.action == SOLVED,
            )
            .limit(1)
        ).first()
        return row.text if row is not None else None


def with_symptom(sections: Mapping[str, str], text: str) -> dict[str, str]:
    """``sections`` with ``text`` appended to the symptoms as a paragraph of its own (once)."""
    symptoms = sections.get("symptoms", "").rstrip()
    if text in symptoms:
        return dict(sections)
    return {**sections, "symptoms": f"{symptoms}\n\n{text}\n" if symptoms else f"{text}\n"}
