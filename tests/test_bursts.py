"""The burst rule of kb watch on tiny hand-written inputs (kb.bursts: pure, no store), and the
once-per-burst state step (kb.alert_state.burst_steps) that kb watch and the simulation share."""

import math

from kb.alert_state import burst_steps
from kb.bursts import (
    DAY_SECONDS,
    Baseline,
    BurstRule,
    baseline_from_times,
    detect,
    expected_count,
    negative_binomial_tail,
    poisson_tail,
    seasonal_slots,
)
from kb.settings import load_settings
from kb.watch import rule_from_settings

RULE = BurstRule(
    window_seconds=1800,
    baseline_days=14,
    floor_per_day=1.0,
    p_threshold=1e-4,
    min_count=5,
    dispersion=0.0,
)
DEFAULT = BurstRule()


def test_poisson_tail_matches_the_direct_sum():
    for n, lam in [(0, 2.0), (1, 2.0), (3, 2.0), (10, 0.5), (2, 10.0), (30, 10.0)]:
        direct = 1 - sum(math.exp(-lam) * lam**k / math.factorial(k) for k in range(n))
        assert math.isclose(poisson_tail(n, lam), direct, rel_tol=1e-9, abs_tol=1e-15), (n, lam)
    assert poisson_tail(5, 0.0) == 0.0
    assert (
        0 < poisson_tail(5000, 10.0) < 1e-300 or poisson_tail(5000, 10.0) == 0.0
    )  # far tail: tiny, never negative


def test_negative_binomial_tail_matches_the_direct_sum_and_is_poisson_at_zero_dispersion():
    def direct(n: int, mean: float, phi: float) -> float:
        r = 1 / phi
        q = r / (r + mean)
        pmf = [
            math.exp(math.lgamma(k + r) - math.lgamma(r) - math.lgamma(k + 1)) * q**r * (1 - q) ** k
            for k in range(n)
        ]
        return 1 - sum(pmf)

    for n, mean, phi in [
        (1, 2.0, 0.1),
        (3, 2.0, 0.5),
        (10, 0.5, 0.1),
        (2, 10.0, 1.0),
        (30, 10.0, 0.1),
        (60, 25.0, 0.1),
    ]:
        assert math.isclose(
            negative_binomial_tail(n, mean, phi), direct(n, mean, phi), rel_tol=1e-7, abs_tol=1e-13
        )
    assert negative_binomial_tail(7, 2.0, 0.0) == poisson_tail(7, 2.0)
    assert negative_binomial_tail(0, 2.0, 0.1) == 1.0 and negative_binomial_tail(5, 0.0, 0.1) == 0.0
    # overdispersion fattens the tail of a busy subject; for a once-a-day subject 10 searches stay absurdly improbable
    assert negative_binomial_tail(45, 25.0, 0.1) > 100 * poisson_tail(45, 25.0)
    assert poisson_tail(10, 1 / 48) < negative_binomial_tail(10, 1 / 48, 0.1) < 1e-20


def test_ten_searches_over_one_a_day_is_a_burst_at_the_default_rule():
    baseline = Baseline(total=14, seasonal=0)  # one a day for 14 days
    expected = expected_count(baseline, DEFAULT)
    assert math.isclose(expected, 1 / 48)  # one a day in a 30-minute window
    bursts = detect({("code", "E1"): 10}, {("code", "E1"): baseline}, DEFAULT)
    assert [(b.subject, b.count) for b in bursts] == [("E1", 10)]
    assert bursts[0].p_value < 1e-15
    assert detect({("code", "E1"): 5}, {("code", "E1"): baseline}, DEFAULT) != []  # 5 in 30 min too


def test_the_default_rule_is_the_settings_default():
    assert rule_from_settings(load_settings(environ={})) == DEFAULT
    assert DEFAULT.p_threshold == 1e-7 and DEFAULT.dispersion == 0.1
    tuned = rule_from_settings(
        load_settings(environ={"KB_WATCH_P_THRESHOLD": "1e-4", "KB_WATCH_DISPERSION": "0"})
    )
    assert tuned.p_threshold == 1e-4 and tuned.dispersion == 0.0


def test_a_never_seen_subject_uses_the_floor_and_the_minimum_count_holds():
    assert detect({("signature", "l0123"): 5}, {}, RULE)[0].expected == 1 / 48
    assert detect({("signature", "l0123"): 4}, {}, RULE) == []  # P is tiny, but 4 < min_count


def test_steady_traffic_and_its_busy_hour_do_not_fire():
    # 480 a day (10 per window on average); at this hour the same windows held 2.5x that rate
    steady = Baseline(total=480 * 14, seasonal=25 * 14)
    assert expected_count(steady, RULE) == 25.0  # the seasonal rate wins over the flat one
    assert detect({("code", "busy"): 35}, {("code", "busy"): steady}, RULE) == []
    flat_only = Baseline(total=480 * 14, seasonal=0)
    assert (
        detect({("code", "busy"): 35}, {("code", "busy"): flat_only}, RULE) != []
    )  # without seasonality it would


def test_dispersion_keeps_a_busy_day_of_a_busy_subject_quiet():
    steady = Baseline(total=480 * 14, seasonal=25 * 14)  # 25 expected in this window
    poisson = BurstRule(p_threshold=1e-7, dispersion=0.0)
    assert (
        detect({("code", "busy"): 60}, {("code", "busy"): steady}, poisson) != []
    )  # a day 2.4x busier: Poisson fires
    assert detect({("code", "busy"): 60}, {("code", "busy"): steady}, DEFAULT) == []
    assert (
        detect({("code", "busy"): 110}, {("code", "busy"): steady}, DEFAULT) != []
    )  # 4.4x does (the price: 100 needed)


def test_bursts_come_most_improbable_first():
    found = detect({("code", "A"): 6, ("code", "B"): 40, ("code", "C"): 2}, {}, RULE)
    assert [b.subject for b in found] == ["B", "A"]


def test_baseline_from_times_excludes_the_window_and_counts_the_same_clock_windows():
    end = 100 * DAY_SECONDS + 12 * 3600  # noon
    times = [
        end - 60,  # in the window: excluded
        end - DAY_SECONDS - 600,  # yesterday at 11:50: baseline and seasonal
        end
        - 3 * DAY_SECONDS
        + 1700,  # three days back, 12:28: after the window's clock time, baseline only
        end - 5 * DAY_SECONDS - 1800,  # five days back, 11:30: the window's first second, seasonal
        end - 2 * DAY_SECONDS - 6 * 3600,  # two days back, 6:00: baseline only
        end - 20 * DAY_SECONDS,
    ]  # before the baseline span
    assert baseline_from_times(times, end, RULE) == Baseline(total=4, seasonal=2)
    slots = seasonal_slots(end, RULE)
    assert len(slots) == 14 and slots[0] == (end - DAY_SECONDS - 1800, end - DAY_SECONDS)


A, B, C = ("code", "A"), ("code", "B"), ("signature", "lC")


def test_burst_steps_alert_once_per_burst():
    quiet = 1800.0
    first = burst_steps({}, [A], 0.0, quiet)
    assert first.opened == [A] and first.continued == first.ended == first.waiting == []
    again = burst_steps({A: 0.0}, [A, A], 300.0, quiet)  # still bursting: no second alert
    assert again.opened == [] and again.continued == [A]
    lull = burst_steps(
        {A: 300.0}, [], 600.0, quiet
    )  # not found this run, but not quiet long enough
    assert lull.waiting == [A] and lull.ended == []
    back = burst_steps({A: 300.0}, [A], 1200.0, quiet)  # back within the quiet time: the same burst
    assert back.continued == [A] and back.opened == []
    over = burst_steps(
        {A: 300.0, B: 1000.0}, [], 2100.0, quiet
    )  # A quiet exactly long enough: ends; B waits
    assert over.ended == [A] and over.waiting == [B]
    anew = burst_steps(
        {A: 0.0, C: 1900.0}, [A, C], 1800.0, quiet
    )  # A's runs were far apart: ends and opens anew
    assert anew.ended == [A] and anew.opened == [A] and anew.continued == [C]
