"""Learned phrasings (kb.phrasings): the pure rules on tiny hand-made votes, and the store round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from indexer.fusion import demote
from kb import phrasings as ph
from kb.phrasings import Rules, Vote

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RULES = Rules(
    half_life_days=30, min_users=2, max_per_case=3, user_daily=5, case_daily=2, floor=0.25, near=0.8
)
TEXT = "朝イチで全員はじかれる"


def vote(
    author: str,
    text: str = TEXT,
    case: str = "ESC-1",
    action: str = "solved",
    days_ago: float = 0,
    kind: str = "words",
) -> Vote:
    return Vote(
        case, ph.phrasing_key(text), text, action, author, NOW - timedelta(days=days_ago), kind
    )


def only(found: dict[str, list[ph.Phrasing]], case: str = "ESC-1") -> ph.Phrasing:
    assert len(found[case]) == 1
    return found[case][0]


def test_one_user_alone_never_counts_however_often_they_vote():
    p = only(ph.learned([vote("sato", days_ago=d) for d in range(5)], RULES, NOW))
    assert (p.users, p.active) == (1, False)
    assert ph.indexed_texts({"ESC-1": [p]}) == {}


def test_two_distinct_users_count_fully():
    p = only(ph.learned([vote("sato"), vote("kato")], RULES, NOW))
    assert (p.users, p.strength, p.active) == (2, 1.0, True)
    assert ph.indexed_texts(ph.learned([vote("sato"), vote("kato")], RULES, NOW)) == {
        "ESC-1": [TEXT]
    }


def test_the_key_ignores_width_case_and_spacing():
    assert (
        ph.phrasing_key("Mail  stuck")
        == ph.phrasing_key("ｍａｉｌ stuck")
        == ph.phrasing_key(" mail stuck ")
    )
    p = only(ph.learned([vote("sato", "Mail stuck"), vote("kato", "mail  STUCK")], RULES, NOW))
    assert p.active


def test_an_engineers_confirmation_counts_but_not_from_the_voter_himself():
    alone = [vote("sato"), vote("sato", action="confirmed")]
    assert not only(ph.learned(alone, RULES, NOW)).active
    confirmed = only(ph.learned([vote("sato"), vote("kato", action="confirmed")], RULES, NOW))
    assert (confirmed.confirmed, confirmed.active, confirmed.strength) == (True, True, 1.0)


def test_votes_decay_with_their_half_life():
    assert ph.decay(0, 30) == 1.0 and ph.decay(30, 30) == 0.5 and ph.decay(60, 30) == 0.25
    one_half_life = only(
        ph.learned([vote("sato", days_ago=30), vote("kato", days_ago=30)], RULES, NOW)
    )
    assert one_half_life.strength == pytest.approx(0.5) and one_half_life.active
    three = only(ph.learned([vote("sato", days_ago=90), vote("kato", days_ago=90)], RULES, NOW))
    assert (
        three.strength == pytest.approx(0.125) and not three.active
    )  # below the floor: stops counting


def test_a_users_latest_vote_counts_once():
    p = only(
        ph.learned(
            [vote("sato", days_ago=90), vote("sato", days_ago=0), vote("kato", days_ago=0)],
            RULES,
            NOW,
        )
    )
    assert p.users == 2 and p.strength == 1.0


def test_rate_limit_per_user_and_day():
    texts = [f"problem number {i} words" for i in range(8)]
    votes = [
        Vote(f"ESC-{i}", ph.phrasing_key(t), t, "solved", "sato", NOW + timedelta(minutes=i))
        for i, t in enumerate(texts)
    ]
    assert len(ph.admitted(votes, RULES)) == RULES.user_daily
    next_day = [Vote("ESC-9", "k", "x", "solved", "sato", NOW + timedelta(days=1))]
    assert len(ph.admitted(votes + next_day, RULES)) == RULES.user_daily + 1


def test_cap_of_new_phrasings_per_case_and_day():
    votes = [vote(f"user{i}", f"phrasing {i} here") for i in range(4)]
    kept = ph.admitted(votes, RULES)
    assert len({v.key for v in kept}) == RULES.case_daily
    # a further vote on an admitted phrasing still counts
    assert len(ph.admitted(votes + [vote("other", votes[0].text)], RULES)) == RULES.case_daily + 1


def test_each_case_keeps_a_bounded_number_most_useful_first():
    votes = [
        v
        for i in range(5)
        for v in (
            vote("a", f"text {i} x", days_ago=i * 10),
            vote("b", f"text {i} x", days_ago=i * 10),
        )
    ]
    rules = Rules(half_life_days=30, max_per_case=3, case_daily=10)
    kept = ph.learned(votes, rules, NOW)["ESC-1"]
    assert [p.text for p in kept] == ["text 0 x", "text 1 x", "text 2 x"]


def test_removed_phrasings_are_gone():
    votes = [vote("sato"), vote("kato"), vote("mori", action="removed")]
    assert ph.learned(votes, RULES, NOW) == {}


def test_near_identical_is_a_token_set_jaccard():
    a, b = (
        ph.tokens("mail queue stuck after upgrade"),
        ph.tokens("Mail queue stuck after the upgrade"),
    )
    assert ph.jaccard(a, b) == pytest.approx(5 / 6) and ph.near_identical(a, b)
    assert not ph.near_identical(a, ph.tokens("mail queue stuck"))  # 3/5
    assert ph.tokens("メール出てかない") == {"メー", "ール", "ル出", "出て", "てか", "かな", "ない"}


def test_not_relevant_lowers_only_near_identical_queries():
    found = ph.learned(
        [
            vote("sato", "mail queue stuck after upgrade", action="not_relevant"),
            vote("kato", "mail queue stuck after upgrade", action="not_relevant"),
        ],
        RULES,
        NOW,
    )
    negative = ph.negative_tokens(found)
    assert ph.indexed_texts(found) == {}
    assert ph.demoted_for("Mail queue stuck after the upgrade", negative) == {"ESC-1"}
    assert ph.demoted_for("mail queue stuck", negative) == set()
    assert ph.demoted_for("printer toner", negative) == set()


def test_one_users_not_relevant_lowers_nothing():
    found = ph.learned([vote("sato", "mail stuck", action="not_relevant")] * 3, RULES, NOW)
    assert ph.negative_tokens(found) == {}


def test_demote_moves_a_case_down_but_never_an_exact_or_signature_match():
    fused = [("A", 0.9), ("B", 0.8), ("C", 0.6), ("D", 0.3)]
    assert demote(fused, {"A"}) == [("B", 0.8), ("C", 0.6), ("A", 0.45), ("D", 0.3)]
    assert demote(fused, {"A"}, protected={"A"}) == fused
    assert demote(fused, set()) == fused
    # the exact-code tier keeps its place: a tier case after a demoted one is not re-sorted
    tier = [("X", 0.2), ("A", 0.9), ("B", 0.8)]
    assert demote(tier, {"B"}) == [("X", 0.2), ("A", 0.9), ("B", 0.4)]


def test_a_pasted_log_gives_only_its_templates_and_text_is_redacted():
    log = (
        "2026-03-02 10:15:07,123 ERROR [main] c.k.Sync - user=alice@example.co.jp failed id=4412\n"
        * 3
    )
    kind, text = ph.phrasing_of(log)
    assert kind == "log" and "alice" not in text and "4412" not in text and "10:15:07" not in text
    kind, text = ph.phrasing_of("login fails for bob@customer-corp.co.jp every morning")
    assert kind == "words" and "bob@" not in text
    assert ph.phrasing_of("x " * 400) is None and ph.phrasing_of("  ") is None


def test_digests_change_only_when_what_counts_changes():
    pending = ph.learned([vote("sato")], RULES, NOW)
    counting = ph.learned([vote("sato"), vote("kato")], RULES, NOW)
    assert ph.digests(pending) == {}
    assert set(ph.digests(counting)) == {"ESC-1"}
    assert ph.digests(counting) == ph.digests(
        ph.learned([vote("sato"), vote("kato"), vote("mori")], RULES, NOW)
    )


def test_rules_come_from_the_settings(settings):
    rules = ph.rules_from(settings.replace(learn_min_users=3, learn_half_life_days=10.0))
    assert (rules.min_users, rules.half_life_days, rules.near) == (3, 10.0, settings.learn_near)


def test_a_phrasing_is_shown_only_to_those_who_may_read_every_voters_searches(store_url):
    from kb.store import Store

    store = Store(store_url)
    store.create_schema()
    secret = "AMEFURASHI-7 pentest svg portlet"
    try:
        for author, role, text in (
            ("sato", "support", TEXT),
            ("kato", "engineer", TEXT),
            ("mori", "admin", secret),
            ("abe", "admin", secret),
        ):
            ph.record_vote(store, "solved", "ESC-2026-0001", text, author, role, now=NOW)

        def shown(viewer):
            found = ph.case_phrasings(store, "ESC-2026-0001", RULES, NOW, viewer=viewer)
            return sorted(p.text for p in found)

        assert shown("engineer") == [TEXT]  # the admins' search is not an engineer's to read
        assert shown("admin") == sorted([TEXT, secret])
        assert len(ph.case_phrasings(store, "ESC-2026-0001", RULES, NOW)) == 2  # both count
    finally:
        store.close()


def test_votes_round_trip_through_the_store(store_url):
    from kb.errors import NotFoundError, QueryError
    from kb.store import Store

    store = Store(store_url)
    store.create_schema()
    try:
        assert ph.record_vote(store, "solved", "ESC-2026-0001", TEXT, "sato", "support", now=NOW)
        assert not ph.record_vote(
            store, "solved", "ESC-2026-0001", TEXT, "", "support"
        )  # nobody signed in
        assert not ph.record_vote(store, "escalated", "ESC-2026-0001", TEXT, "sato")
        ph.record_vote(store, "solved", "ESC-2026-0001", TEXT, "kato", "engineer", now=NOW)
        assert [p.users for p in ph.case_phrasings(store, "ESC-2026-0001", RULES, NOW)] == [2]
        with pytest.raises(NotFoundError):  # no such case in the store
            ph.review(store, "removed", "ESC-2026-0001", ph.phrasing_key(TEXT), "mori", "admin")
        with pytest.raises(QueryError):
            ph.review(store, "deleted", "ESC-2026-0001", ph.phrasing_key(TEXT), "mori", "admin")
    finally:
        store.close()
