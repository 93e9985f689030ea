#!/usr/bin/env python3
"""Reference values for the guardrails' one-sided sequential test
(src/experiments/guardrail.rs), computed offline and committed as
tests/fixtures/stats/guardrail.json, which tests/experiment_stats.rs checks
natively and in wasm32. A companion of tools/stats-reference.py (kept apart
so that regenerating these does not touch exact.json).

Not run by `make test` (CI needs no Python packages). To regenerate:

    python3 -m venv /tmp/guardvenv
    /tmp/guardvenv/bin/pip install gbstats==0.8.0
    /tmp/guardvenv/bin/python tools/guardrail-reference.py

What it computes, per case (control and variant conversions and exposures,
and the guardrail's direction):
* `p_growthbook`: the one-sided sequential p-value exactly as GrowthBook's
  engine finds it in `SequentialOneSidedTreatment{Greater,Lesser}TTest`
  (its newer Python engine and its TypeScript port; gbstats 0.8.0, the
  pinned release, has only the two-sided sequential test): the normal-mixture
  one-sided confidence sequence of Waudby-Smith et al. (2023), rho tuned at
  2 alpha, and a bisection on alpha in [1e-5, 0.4999] until the harmful-side
  bound is within 1e-6 of 0, returning the search's edges outside it. The
  point estimate and its variance are gbstats 0.8.0's own (`TTest` over
  `ProportionStatistic`), so only the one-sided step is re-implemented here.
* `p_exact`: the same bisection run to machine precision (no 1e-6 stop, no
  edges), which edgeseg's closed form must equal to 1e-9.
* `p_two_sided`: gbstats 0.8.0's `SequentialTwoSidedTTest` p-value at the
  same tuning, for the README's comparison.
"""
import json
import math
import os
from gbstats.frequentist.tests import SequentialConfig, SequentialTwoSidedTTest, TwoSidedTTest, FrequentistConfig
from gbstats.models.statistics import ProportionStatistic

ALPHA = 0.05
PLANNED = 1000  # stats::PLANNED_EXPOSURES

# (control conversions, control exposures, variant conversions, variant exposures, direction)
CASES = [
    (20, 1000, 60, 1000, "must_not_increase"),
    (60, 1000, 20, 1000, "must_not_decrease"),
    (24, 800, 45, 820, "must_not_increase"),
    (30, 600, 55, 600, "must_not_increase"),
    (5, 100, 14, 100, "must_not_increase"),
    (50, 200, 30, 200, "must_not_decrease"),
    (300, 5000, 340, 5000, "must_not_increase"),
    (1200, 20000, 1290, 20000, "must_not_increase"),
    (900, 3000, 840, 3000, "must_not_decrease"),
    (10, 400, 11, 400, "must_not_increase"),
    (40, 1000, 30, 1000, "must_not_increase"),  # the other direction: no harm
    (150, 1000, 200, 1000, "must_not_decrease"),  # the other direction: no harm
]


def rho_one_sided(alpha, tuning):
    a = 2 * alpha
    return math.sqrt((-2 * math.log(a) + math.log(-2 * math.log(a) + 1)) / tuning)


def halfwidth(s2, n, alpha, rho):
    part2 = 2 * (n * rho**2 + 1) / (n * rho) ** 2
    part3 = math.log(1 + math.sqrt(n * rho**2 + 1) / (2 * alpha))
    return math.sqrt(s2 * part2 * part3)


def bound(test, alpha, rho, lesser):
    n = test.stat_a.n + test.stat_b.n
    s2 = test.variance * n
    pe = test.point_estimate
    hw = halfwidth(s2, n, alpha, rho)
    return pe + hw if lesser else pe - hw


def growthbook_p(test, rho, lesser):
    """GrowthBook's search (computePValue of its one-sided sequential test)."""
    lo, hi = 1e-5, 0.4999
    small = bound(test, lo, rho, lesser)
    if (lesser and small < 0) or (not lesser and small > 0):
        return lo
    big = bound(test, hi, rho, lesser)
    if (lesser and big > 0) or (not lesser and big < 0):
        return hi
    this = 0.5 * (lo + hi)
    for _ in range(100):
        diff = bound(test, this, rho, lesser)
        if lesser:
            if diff > 0:
                lo = this
            else:
                hi = this
        else:
            if diff < 0:
                lo = this
            else:
                hi = this
        this = 0.5 * (lo + hi)
        if abs(diff) < 1e-6:
            break
    return this


def exact_p(test, rho, lesser):
    """The alpha at which the bound touches 0, by bisection on log alpha to
    machine precision; 1 when the estimate is not on the harmful side."""
    pe = test.point_estimate
    if (lesser and pe >= 0) or (not lesser and pe <= 0):
        return 1.0
    lo, hi = math.log(1e-300), math.log(1e6)
    for _ in range(400):
        mid = 0.5 * (lo + hi)
        b = bound(test, math.exp(mid), rho, lesser)
        # The bound crosses 0 from some alpha on (a larger alpha, a narrower sequence).
        crossed = b < 0 if lesser else b > 0
        if crossed:
            hi = mid
        else:
            lo = mid
    return min(1.0, math.exp(0.5 * (lo + hi)))


def main():
    rows = []
    rho = rho_one_sided(ALPHA, PLANNED)
    for c0, n0, c1, n1, direction in CASES:
        a = ProportionStatistic(n=n0, sum=c0)
        b = ProportionStatistic(n=n1, sum=c1)
        test = TwoSidedTTest(a, b, FrequentistConfig(alpha=ALPHA, difference_type="absolute"))
        lesser = direction == "must_not_decrease"
        two = SequentialTwoSidedTTest(a, b, SequentialConfig(alpha=ALPHA, difference_type="absolute", sequential_tuning_parameter=PLANNED))
        rows.append({
            "control": [c0, n0],
            "variant": [c1, n1],
            "guardrail": direction,
            "p_growthbook": growthbook_p(test, rho, lesser),
            "p_exact": exact_p(test, rho, lesser),
            "p_two_sided": float(two.p_value),
        })
    out = {
        "about": "tools/guardrail-reference.py (gbstats 0.8.0 variances; GrowthBook's one-sided sequential test); alpha 0.05, 1000 planned exposures",
        "rho2": rho**2,
        "cases": rows,
    }
    path = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "stats", "guardrail.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {len(rows)} cases to {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
