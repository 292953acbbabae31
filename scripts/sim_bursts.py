"""Simulate search streams with injected bursts and measure kb watch's rule: recall and false alerts.

Background subjects search at steady rates (from 1 a day to 1,000 a day) with a daily cycle
(busy 9:00-17:00, quiet at night); bursts of various sizes are injected within 30 minutes on
subjects with a background of 1 a day. Two kinds of traffic: ``steady`` (a Poisson stream at the
cycle's rate) and ``overdispersed`` (each subject's rate also varies from day to day, a gamma
factor with mean 1 and coefficient of variation ``--day-spread``, as real search volume does).
A watch run every 5 minutes applies kb.bursts.detect (the same rule and settings defaults as
``kb watch``) and the once-per-burst rule kb watch steps its state with
(kb.alert_state.burst_steps). Reports recall per burst size and false alerts per simulated week.

    .venv/bin/python scripts/sim_bursts.py            # 14 days warm-up, 4 simulated weeks, both kinds
    .venv/bin/python scripts/sim_bursts.py --p-threshold 1e-4 --dispersion 0   # another rule
    .venv/bin/python scripts/sim_bursts.py --smoke    # 1 simulated week, fewer subjects (the test)
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from kb.alert_state import burst_steps  # noqa: E402
from kb.bursts import Baseline, BurstRule, detect, seasonal_slots  # noqa: E402

SIZES = (5, 8, 10, 20, 50)
MIN = 60.0


def profile(minutes: np.ndarray) -> np.ndarray:
    """The daily cycle: x2.5 from 9:00 to 17:00, x0.3 from 0:00 to 6:00, else x1 (mean about 1.3)."""
    hour = (minutes // 60) % 24
    return np.where((hour >= 9) & (hour < 17), 2.5, np.where(hour < 6, 0.3, 1.0))


def day_factors(rng: np.random.Generator, total: int, spread: float) -> np.ndarray:
    """Per minute, the factor of that minute's day: gamma with mean 1 and coefficient of variation ``spread``."""
    days = -(-total // 1440)
    factors = rng.gamma(1 / spread**2, spread**2, days) if spread > 0 else np.ones(days)
    return np.repeat(factors, 1440)[:total]


def simulate(
    weeks: int,
    background: int,
    bursts_per_size: int,
    seed: int,
    rule: BurstRule,
    quiet_min: int = 30,
    every_min: int = 5,
    day_spread: float = 0.0,
) -> dict:
    rng = np.random.default_rng(seed)
    warm = rule.baseline_days * 1440
    total = warm + weeks * 7 * 1440
    t = np.arange(total)
    shape = profile(t) / profile(np.arange(1440)).mean()
    per_day = np.geomspace(1, 1000, background)  # background rates: 1 a day ... 1000 a day
    counts = {
        f"bg{i}": rng.poisson(rate / 1440 * shape * day_factors(rng, total, day_spread))
        for i, rate in enumerate(per_day)
    }
    injected = []  # (subject, size, start minute)
    k = 0
    for size in SIZES:
        for _ in range(bursts_per_size):
            name = f"b{k}"
            k += 1
            series = rng.poisson(1 / 1440 * shape)  # a background of 1 a day
            start = int(rng.integers(warm, total - 60))
            for m in rng.integers(start, start + 30, size):
                series[m] += 1
            counts[name] = series
            injected.append((name, size, start))
    cums = {name: np.concatenate([[0], np.cumsum(c)]) for name, c in counts.items()}
    w = int(rule.window_seconds // 60)

    def between(name: str, a: int, b: int) -> int:
        c = cums[name]
        return int(c[max(0, min(b, total))] - c[max(0, min(a, total))])

    open_bursts: dict[tuple[str, str], float] = {}  # subject -> last minute the rule held
    alerts = []  # (subject, minute)
    for now in range(warm, total + 1, every_min):
        window = {("code", n): between(n, now - w, now) for n in counts}
        keys = [key for key, v in window.items() if v >= rule.min_count]
        base = {}
        for key in keys:
            n = key[1]
            span = between(n, now - w - rule.baseline_days * 1440, now - w)
            seasonal = sum(
                between(n, int(a // 60), int(b // 60)) for a, b in seasonal_slots(now * 60.0, rule)
            )
            base[key] = Baseline(span, seasonal)
        fired = [b.key for b in detect(window, base, rule)]
        steps = burst_steps(open_bursts, fired, float(now), float(quiet_min))
        for key in steps.ended:
            del open_bursts[key]
        alerts.extend((key[1], now) for key in steps.opened)
        open_bursts.update({key: float(now) for key in fired})
    found = {size: 0 for size in SIZES}
    delays: list[int] = []
    matched = set()
    for name, size, start in injected:
        hits = [(n, m) for n, m in alerts if n == name and start < m <= start + 30 + every_min]
        if hits:
            found[size] += 1
            delays.append(hits[0][1] - start)
            matched.add(hits[0])
    false = [a for a in alerts if a not in matched]
    if "--debug" in sys.argv:
        print(false, [i for i in injected if i[0] in {f[0] for f in false}], file=sys.stderr)
    return {
        "weeks": weeks,
        "background_subjects": background,
        "bursts_per_size": bursts_per_size,
        "recall": {str(s): found[s] / bursts_per_size for s in SIZES},
        "false_alerts": len(false),
        "false_alerts_per_week": len(false) / weeks,
        "median_minutes_to_alert": float(np.median(delays)) if delays else None,
        "day_spread": day_spread,
        "rule": {
            "window_minutes": w,
            "p_threshold": rule.p_threshold,
            "min_count": rule.min_count,
            "floor_per_day": rule.floor_per_day,
            "baseline_days": rule.baseline_days,
            "dispersion": getattr(rule, "dispersion", 0.0),
        },
    }


def main() -> None:
    defaults = BurstRule()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--smoke", action="store_true", help="one simulated week, fewer subjects (seconds)"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the figures as JSON (one object per kind of traffic)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--traffic", choices=("both", "steady", "overdispersed"), default="both")
    parser.add_argument(
        "--day-spread",
        type=float,
        default=0.3,
        help="overdispersed traffic: the day-to-day coefficient of variation of each rate",
    )
    parser.add_argument("--p-threshold", type=float, default=defaults.p_threshold)
    parser.add_argument("--min-count", type=int, default=defaults.min_count)
    parser.add_argument("--dispersion", type=float, default=getattr(defaults, "dispersion", 0.0))
    parser.add_argument("--debug", action="store_true", help="list the false alerts on stderr")
    args = parser.parse_args()
    overrides = {"p_threshold": args.p_threshold, "min_count": args.min_count}
    if hasattr(defaults, "dispersion"):
        overrides["dispersion"] = args.dispersion
    rule = replace(defaults, **overrides)
    kinds = ("steady", "overdispersed") if args.traffic == "both" else (args.traffic,)
    results = {}
    for kind in kinds:
        spread = args.day_spread if kind == "overdispersed" else 0.0
        size = (1, 20, 10) if args.smoke else (4, 60, 40)
        results[kind] = simulate(*size, seed=args.seed, rule=rule, day_spread=spread)
    if args.json:
        print(json.dumps(results))
        return
    for kind, figures in results.items():
        print(
            f"{kind} traffic: {figures['weeks']} simulated week(s), "
            f"{figures['background_subjects']} background subjects "
            f"(1..1000 searches a day, daily cycle, day-to-day spread {figures['day_spread']}), "
            f"{figures['bursts_per_size']} bursts per size; rule {figures['rule']}"
        )
        for size, recall in figures["recall"].items():
            print(f"  burst of {size:>2} in 30 min over 1/day: recall {recall:.2f}")
        print(
            f"  false alerts: {figures['false_alerts']} ({figures['false_alerts_per_week']:.2f} per week); "
            f"median minutes from burst start to alert: {figures['median_minutes_to_alert']}"
        )


if __name__ == "__main__":
    main()
