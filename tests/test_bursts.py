"""The burst rule of kb watch on tiny hand-written inputs (kb.bursts: pure, no store)."""

import math

from kb.bursts import (DAY_SECONDS, Baseline, BurstRule, baseline_from_times, detect, expected_count, poisson_tail,
                       seasonal_slots)

RULE = BurstRule(window_seconds=1800, baseline_days=14, floor_per_day=1.0, p_threshold=1e-4, min_count=5)


def test_poisson_tail_matches_the_direct_sum():
    for n, lam in [(0, 2.0), (1, 2.0), (3, 2.0), (10, 0.5), (2, 10.0), (30, 10.0)]:
        direct = 1 - sum(math.exp(-lam) * lam**k / math.factorial(k) for k in range(n))
        assert math.isclose(poisson_tail(n, lam), direct, rel_tol=1e-9, abs_tol=1e-15), (n, lam)
    assert poisson_tail(5, 0.0) == 0.0
    assert 0 < poisson_tail(5000, 10.0) < 1e-300 or poisson_tail(5000, 10.0) == 0.0  # far tail: tiny, never negative


def test_ten_searches_over_one_a_day_is_a_burst():
    baseline = Baseline(total=14, seasonal=0)  # one a day for 14 days
    expected = expected_count(baseline, RULE)
    assert math.isclose(expected, 1 / 48)  # one a day in a 30-minute window
    bursts = detect({("code", "E1"): 10}, {("code", "E1"): baseline}, RULE)
    assert [(b.subject, b.count) for b in bursts] == [("E1", 10)]
    assert bursts[0].p_value < 1e-15


def test_a_never_seen_subject_uses_the_floor_and_the_minimum_count_holds():
    assert detect({("signature", "l0123"): 5}, {}, RULE)[0].expected == 1 / 48
    assert detect({("signature", "l0123"): 4}, {}, RULE) == []  # P is tiny, but 4 < min_count


def test_steady_traffic_and_its_busy_hour_do_not_fire():
    # 480 a day (10 per window on average); at this hour the same slots held 2.5x that rate
    steady = Baseline(total=480 * 14, seasonal=25 * 2 * 14)
    assert expected_count(steady, RULE) == 25.0  # the seasonal rate wins over the flat one
    assert detect({("code", "busy"): 35}, {("code", "busy"): steady}, RULE) == []
    flat_only = Baseline(total=480 * 14, seasonal=0)
    assert detect({("code", "busy"): 35}, {("code", "busy"): flat_only}, RULE) != []  # without seasonality it would


def test_bursts_come_most_improbable_first():
    found = detect({("code", "A"): 6, ("code", "B"): 40, ("code", "C"): 2}, {}, RULE)
    assert [b.subject for b in found] == ["B", "A"]


def test_baseline_from_times_excludes_the_window_and_counts_the_same_clock_slots():
    end = 100 * DAY_SECONDS + 12 * 3600  # noon
    times = [end - 60,  # in the window: excluded
             end - DAY_SECONDS - 600,  # yesterday at 11:50: baseline and seasonal
             end - 3 * DAY_SECONDS + 1700,  # three days back, 12:28: seasonal (slot reaches W after)
             end - 2 * DAY_SECONDS - 6 * 3600,  # two days back, 6:00: baseline only
             end - 20 * DAY_SECONDS]  # before the baseline span
    assert baseline_from_times(times, end, RULE) == Baseline(total=3, seasonal=2)
    assert len(seasonal_slots(end, RULE)) == 14
