"""Simulate search streams with injected bursts and measure kb watch's rule: recall and false alerts.

Background subjects search at steady rates (from 1 a day to dozens an hour) with a daily cycle
(busy 9:00-17:00, quiet at night); bursts of various sizes are injected within 30 minutes on
subjects with a background of 1 a day. A watch run every 5 minutes applies kb.bursts.detect (the
same rule and settings defaults as ``kb watch``) and the once-per-burst rule of kb.watch (an alert
opens only for a subject without an open burst; a burst ends after the quiet period). Reports recall
per burst size and false alerts per simulated week.

    .venv/bin/python scripts/sim_bursts.py            # 14 days warm-up, 4 simulated weeks
    .venv/bin/python scripts/sim_bursts.py --smoke    # 1 simulated week, fewer subjects (the test)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from kb.bursts import Baseline, BurstRule, detect  # noqa: E402

SIZES = (5, 8, 10, 20, 50)
MIN = 60.0


def profile(minutes: np.ndarray) -> np.ndarray:
    """The daily cycle: x2.5 from 9:00 to 17:00, x0.3 from 0:00 to 6:00, else x1 (mean about 1.3)."""
    hour = (minutes // 60) % 24
    return np.where((hour >= 9) & (hour < 17), 2.5, np.where(hour < 6, 0.3, 1.0))


def simulate(weeks: int, background: int, bursts_per_size: int, seed: int, rule: BurstRule, quiet_min: int = 30,
             every_min: int = 5) -> dict:
    rng = np.random.default_rng(seed)
    warm = rule.baseline_days * 1440
    total = warm + weeks * 7 * 1440
    t = np.arange(total)
    shape = profile(t) / profile(np.arange(1440)).mean()
    per_day = np.geomspace(1, 1000, background)  # background rates: 1 a day ... 1000 a day
    counts = {f"bg{i}": rng.poisson(rate / 1440 * shape) for i, rate in enumerate(per_day)}
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

    open_bursts: dict[str, int] = {}  # subject -> last minute the rule held
    alerts = []  # (subject, minute)
    for now in range(warm, total + 1, every_min):
        window = {("code", n): between(n, now - w, now) for n in counts}
        keys = [key for key, v in window.items() if v >= rule.min_count]
        base = {}
        for key in keys:
            n = key[1]
            span = between(n, now - w - rule.baseline_days * 1440, now - w)
            seasonal = sum(between(n, now - d * 1440 - w, now - d * 1440 + w) for d in range(1, rule.baseline_days + 1))
            base[key] = Baseline(span, seasonal)
        fired = {b.subject for b in detect(window, base, rule)}
        for n in list(open_bursts):
            if n not in fired and open_bursts[n] + quiet_min <= now:
                del open_bursts[n]
        for n in fired:
            if n in open_bursts and open_bursts[n] + quiet_min <= now:
                del open_bursts[n]
            if n not in open_bursts:
                alerts.append((n, now))
            open_bursts[n] = now
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
    return {"weeks": weeks, "background_subjects": background, "bursts_per_size": bursts_per_size,
            "recall": {str(s): found[s] / bursts_per_size for s in SIZES},
            "false_alerts": len(false), "false_alerts_per_week": len(false) / weeks,
            "median_minutes_to_alert": float(np.median(delays)) if delays else None,
            "rule": {"window_minutes": w, "p_threshold": rule.p_threshold, "min_count": rule.min_count,
                     "floor_per_day": rule.floor_per_day, "baseline_days": rule.baseline_days}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="one simulated week, fewer subjects (seconds)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--debug", action="store_true", help="list the false alerts on stderr")
    args = parser.parse_args()
    rule = BurstRule()
    figures = (simulate(1, 20, 10, args.seed, rule) if args.smoke else simulate(4, 60, 40, args.seed, rule))
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{figures['weeks']} simulated week(s), {figures['background_subjects']} background subjects "
          f"(1..1000 searches a day, daily cycle), {figures['bursts_per_size']} bursts per size")
    for size, recall in figures["recall"].items():
        print(f"  burst of {size:>2} in 30 min over 1/day: recall {recall:.2f}")
    print(f"  false alerts: {figures['false_alerts']} ({figures['false_alerts_per_week']:.2f} per week); "
          f"median minutes from burst start to alert: {figures['median_minutes_to_alert']}")


if __name__ == "__main__":
    main()
