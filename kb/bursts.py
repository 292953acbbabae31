"""Burst detection for ``kb watch``: pure functions over counts, no store, no clock.

The rule (documented in the README, "Bursts and alerts"): for each subject (an error code or a
log signature) let ``n`` be its searches in the current window of ``W`` minutes, and ``λ`` the
number the baseline expects in such a window::

    flat     = baseline searches in the previous D days (window excluded) / (D days)
    seasonal = searches in the same clock window (the W minutes before the window's end time)
               on each of those D days / (D · W)     -- daily seasonality: busy hours expect more
    λ        = max(flat, seasonal, floor) · W

The subject bursts when ``n ≥ min_count`` and ``P(X ≥ n) < p_threshold``, where X is negative
binomial with mean λ and variance ``λ + dispersion · λ²`` (a Poisson count whose rate itself
varies from day to day with a squared coefficient of variation of ``dispersion``; 0 is Poisson).

Why these choices (``scripts/sim_bursts.py`` measures them): the seasonal slot is the window's own
clock time, so the edge of a busy period does not make the next quiet minutes look like a burst;
real search volume varies from day to day more than a Poisson count, and the dispersion term keeps
a busy day of a busy subject from alerting, while for a subject searched about once a day (λ ≪ 1)
a handful of searches stays far below the threshold (10 in 30 minutes: P ≈ 1e-22), so it still
fires at once. The
threshold is small because every run tests every subject: with thousands of subjects and a run
every 5 minutes, a p of 1e-4 would be passed by chance several times a week.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

DAY_SECONDS = 86400.0
Subject = tuple[str, str]  # (subject_type, subject)


@dataclass(frozen=True)
class BurstRule:
    """The parameters of the rule (from the ``watch_*`` settings)."""

    window_seconds: float = 1800.0
    baseline_days: int = 14
    floor_per_day: float = 1.0
    p_threshold: float = 1e-7
    min_count: int = 5
    dispersion: float = 0.1


@dataclass(frozen=True)
class Baseline:
    """What a subject's past says: searches in the baseline span and in the same clock slots."""

    total: int = 0  # searches in the D days before the window
    seasonal: int = 0  # searches in the D same-time-of-day windows, each W wide


@dataclass(frozen=True)
class Burst:
    """A subject whose window count is improbable under its baseline."""

    subject_type: str
    subject: str
    count: int
    expected: float  # λ: the searches the baseline expects in one window
    p_value: float

    @property
    def key(self) -> Subject:
        return (self.subject_type, self.subject)


def poisson_tail(n: int, lam: float) -> float:
    """P(X ≥ n) for X ~ Poisson(lam): 1 for n ≤ 0; computed in log space, no underflow to 0 for
    the sizes that matter (n up to millions of searches)."""
    if n <= 0:
        return 1.0
    if lam <= 0:
        return 0.0
    log_lam = math.log(lam)

    def log_pmf(k: int) -> float:
        return -lam + k * log_lam - math.lgamma(k + 1)

    if n <= lam:  # the tail is most of the mass: 1 - P(X < n), summed downwards from n-1
        below = sum(math.exp(log_pmf(k)) for k in range(max(0, n - 1), -1, -1))
        return min(1.0, max(0.0, 1.0 - below))
    first = log_pmf(n)  # terms fall from n on (n > lam): sum the ratio series to convergence
    total, term, k = 1.0, 1.0, n
    while term > 1e-17 * total and k < n + 100000:
        k += 1
        term *= lam / k
        total += term
    return min(1.0, math.exp(first + math.log(total)))


def negative_binomial_tail(n: int, mean: float, dispersion: float) -> float:
    """P(X ≥ n) for X negative binomial with this mean and variance ``mean + dispersion · mean²``;
    ``dispersion`` 0 is :func:`poisson_tail`. Summed in log space like it."""
    if dispersion <= 0:
        return poisson_tail(n, mean)
    if n <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    size = 1.0 / dispersion
    log_q, log_rest = (
        math.log(size / (size + mean)),
        math.log(mean / (size + mean)),
    )  # q: "success" probability

    def log_pmf(k: int) -> float:
        return (
            math.lgamma(k + size)
            - math.lgamma(size)
            - math.lgamma(k + 1)
            + size * log_q
            + k * log_rest
        )

    if n <= mean:  # the tail is most of the mass
        below = sum(math.exp(log_pmf(k)) for k in range(n))
        return min(1.0, max(0.0, 1.0 - below))
    first = log_pmf(
        n
    )  # beyond the mean the terms fall (ratio (k + size) / (k + 1) · mean / (size + mean))
    rest = mean / (size + mean)
    total, term, k = 1.0, 1.0, n
    while term > 1e-17 * total and k < n + 1_000_000:
        term *= (k + size) / (k + 1) * rest
        k += 1
        total += term
    return min(1.0, math.exp(first + math.log(total)))


def expected_count(baseline: Baseline, rule: BurstRule) -> float:
    """λ: the searches one window should hold by the baseline (flat, seasonal or floor rate, the largest)."""
    days = max(1, rule.baseline_days)
    flat = baseline.total / (days * DAY_SECONDS)
    seasonal = baseline.seasonal / (days * rule.window_seconds)
    floor = rule.floor_per_day / DAY_SECONDS
    return max(flat, seasonal, floor) * rule.window_seconds


def is_burst(count: int, expected: float, rule: BurstRule) -> tuple[bool, float]:
    """Whether ``count`` searches in a window expecting ``expected`` is a burst, and its p-value."""
    p_value = negative_binomial_tail(count, expected, rule.dispersion)
    return count >= rule.min_count and p_value < rule.p_threshold, p_value


def candidates(window_counts: Mapping[Subject, int], rule: BurstRule) -> list[Subject]:
    """The subjects worth a baseline look: those with at least ``min_count`` searches in the window."""
    return sorted(key for key, count in window_counts.items() if count >= rule.min_count)


def detect(
    window_counts: Mapping[Subject, int], baselines: Mapping[Subject, Baseline], rule: BurstRule
) -> list[Burst]:
    """The bursts among ``window_counts``, most improbable first (a subject without a baseline
    entry has never been seen: the floor rate applies)."""
    found = []
    for key in candidates(window_counts, rule):
        count = window_counts[key]
        expected = expected_count(baselines.get(key, Baseline()), rule)
        fires, p_value = is_burst(count, expected, rule)
        if fires:
            found.append(Burst(key[0], key[1], count, expected, p_value))
    return sorted(found, key=lambda b: (b.p_value, -b.count, b.key))


def seasonal_slots(window_end: float, rule: BurstRule) -> list[tuple[float, float]]:
    """The same-clock-time windows (start, end) in epoch seconds on each baseline day: the W
    seconds before the window's end time, one day back, two days back, ... D days back."""
    w = rule.window_seconds
    return [
        (window_end - d * DAY_SECONDS - w, window_end - d * DAY_SECONDS)
        for d in range(1, rule.baseline_days + 1)
    ]


def baseline_from_times(times: Iterable[float], window_end: float, rule: BurstRule) -> Baseline:
    """A :class:`Baseline` from the epoch times of a subject's past searches (those in the window
    and beyond the baseline span are ignored): the reference the store's SQL counts agree with."""
    start = window_end - rule.window_seconds
    span_start = start - rule.baseline_days * DAY_SECONDS
    slots = seasonal_slots(window_end, rule)
    total = seasonal = 0
    for t in times:
        if span_start <= t < start:
            total += 1
            seasonal += any(a <= t < b for a, b in slots)
    return Baseline(total, seasonal)
