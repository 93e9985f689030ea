#!/usr/bin/env python3
"""Reference values for the exact statistics of src/experiments/stats.rs,
computed offline and committed as tests/fixtures/stats/exact.json, which
tests/experiment_stats.rs checks natively and in wasm32.

Not run by `make test` (CI needs no Python packages). To regenerate:

    python3 -m venv /tmp/statsvenv
    /tmp/statsvenv/bin/pip install gbstats==0.8.0 scipy==1.17.1 mpmath==1.4.1 statsmodels==0.15.0
    /tmp/statsvenv/bin/python tools/stats-reference.py

Sources, each the well-kept library for its part:
* mpmath (30 significant digits): the regularized incomplete beta function
  (parameters up to 10,000; beyond, mpmath's series is too slow and scipy's
  `betainc`, Boost's `ibeta`, is the reference, the two checked against
  each other to 1e-14 where both run) and the exact chance to beat control (Evan Miller's closed form for
  Beta(a, b) against Beta(c, d) with integer parameters, summed term by
  term), cross-checked here against scipy's quadrature to 1e-9;
* scipy: the normal distribution for fixed-horizon z-test p-values;
* statsmodels: Wilson score intervals;
* gbstats 0.8.0 (GrowthBook's stats engine): its sequential p-value
  (`SequentialTwoSidedTTest`, absolute difference), which edgeseg's tuned
  mSPRT equals; and, for the README's comparison only, its Welch t-test
  p-value and its Bayesian chance to win (a normal approximation with a flat
  prior), which edgeseg deliberately does not follow;
* gbstats 0.8.0 again for CUPED (`RegressionAdjustedStatistic` in a
  `TwoSidedTTest`, pooled theta as its `compute_theta`): on simulated
  visitors whose history predicts conversion (numpy, fixed seeds), the
  adjusted uplift, its standard error, theta, and the raw standard error,
  written to tests/fixtures/stats/cuped.json. `tools/stats-reference.py cuped`
  writes only that file.
"""
import json
import math
import os
import sys

import gbstats
import mpmath
import scipy
import statsmodels
from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig
from gbstats.frequentist.tests import (
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import (
    ProportionStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)
from scipy import integrate, special, stats
from statsmodels.stats.proportion import proportion_confint

mpmath.mp.dps = 30
ALPHA = 0.05

# (control conversions, control exposures, variant conversions, variant exposures)
CHANCE = [
    (0, 20, 1000, 1_000_000),  # the issue's extreme imbalance: 0.0208
    (1000, 1_000_000, 0, 20),
    (0, 0, 0, 0),
    (0, 100, 0, 1000),
    (1, 1, 0, 1),
    (5, 10, 7, 10),
    (100, 100, 99, 100),
    (30, 100, 60, 100),
    (120, 1200, 210, 1180),
    (6000, 200_000, 6300, 201_000),
    (3, 50_000, 9, 50_000),
    (25_000, 500_000, 25_400, 500_000),  # smallest parameter past the exact-sum limit
    (100_000, 2_000_000, 100_900, 2_000_000),
    (400_000, 1_000_000, 400_500, 1_000_000),
    (2_000_000, 5_000_000, 2_000_000, 5_000_000),
]

# Regularized incomplete beta I_x(a, b): small, skewed and huge parameters,
# points in the tails and at the mean (where a truncated continued fraction
# is least accurate).
BETA_CDF = []
for a, b in [(1, 1), (1, 21), (0.5, 0.5), (2.5, 7), (101, 1), (1001, 999_001),
             (50_001, 950_001), (400_001, 600_001), (2_000_001, 3_000_001)]:
    mean = a / (a + b)
    sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    for k in (-6, -2, -0.5, 0, 0.5, 2, 6):
        x = mean + k * sd
        if 0 < x < 1:
            BETA_CDF.append((a, b, x))
    BETA_CDF.append((a, b, min(0.999, mean * 3)))

# Sequential and fixed-horizon p-values: (c0, n0, c1, n1, planned exposures).
SEQUENTIAL = [
    (30, 100, 60, 100, 1000),
    (30, 100, 60, 100, 5000),
    (30, 100, 36, 100, 1000),
    (120, 1200, 210, 1180, 1000),
    (400, 5000, 330, 5100, 1000),
    (6000, 200_000, 6300, 201_000, 1000),
    (6000, 200_000, 6300, 201_000, 100_000),
    (100, 1000, 100, 1000, 1000),
    (0, 150, 7, 140, 1000),
]

WILSON = [(0, 20), (20, 20), (0, 1), (1, 1), (7, 140), (300, 1000), (0, 1_000_000)]


def mp_betainc(a, b, x):
    return mpmath.betainc(a, b, 0, x, regularized=True)


def exact_chance(c0, n0, c1, n1):
    """P(p1 > p0), p0 ~ Beta(1 + c0, 1 + n0 - c0), p1 ~ Beta(1 + c1, 1 + n1 - c1):
    Evan Miller's sum over i < a1 of B(a0 + i, b0 + b1) / ((b1 + i) B(1 + i, b1) B(a0, b0)),
    in 30-digit arithmetic, each term from the previous one by its ratio."""
    a0, b0, a1, b1 = 1 + c0, 1 + n0 - c0, 1 + c1, 1 + n1 - c1
    # Sum over the smallest parameter, by the symmetries P(p1 > p0) = 1 - P(p0 > p1)
    # and p > q <=> 1 - p < 1 - q (1 - p ~ Beta(b, a)).
    options = [
        (a1, lambda: miller(a0, b0, a1, b1)),
        (a0, lambda: 1 - miller(a1, b1, a0, b0)),
        (b0, lambda: miller(b1, a1, b0, a0)),
        (b1, lambda: 1 - miller(b0, a0, b1, a1)),
    ]
    return min(options, key=lambda o: o[0])[1]()


def miller(aa, ba, ab, bb):
    """P(pB > pA), pA ~ Beta(aa, ba), pB ~ Beta(ab, bb), ab an integer."""
    aa, ba, ab, bb = (mpmath.mpf(v) for v in (aa, ba, ab, bb))
    term = mpmath.exp(mpmath.loggamma(ba + bb) + mpmath.loggamma(aa + ba)
                      - mpmath.loggamma(aa + ba + bb) - mpmath.loggamma(ba))
    total = mpmath.mpf(0)
    i = 0
    while i < ab:
        total += term
        term *= (aa + i) * (bb + i) / ((aa + ba + bb + i) * (i + 1))
        i += 1
    return total


def quad_chance(c0, n0, c1, n1):
    """The same by quadrature, integrating over the narrower posterior."""
    a0, b0, a1, b1 = 1 + c0, 1 + n0 - c0, 1 + c1, 1 + n1 - c1

    def sd(a, b):
        return math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))

    flip = sd(a0, b0) < sd(a1, b1)
    (ad, bd), (ac, bc) = ((a0, b0), (a1, b1)) if flip else ((a1, b1), (a0, b0))
    lo, hi = stats.beta.ppf(1e-17, ad, bd), stats.beta.isf(1e-17, ad, bd)
    val, _ = integrate.quad(
        lambda x: stats.beta.pdf(x, ad, bd) * special.betainc(ac, bc, x),
        lo, hi, limit=2000, epsabs=1e-14, epsrel=1e-12,
    )
    return 1 - val if flip else val


def gb(c, n):
    return ProportionStatistic(n=n, sum=c)


def main():
    out = {
        "generated_by": (
            f"tools/stats-reference.py with mpmath {mpmath.__version__}, scipy {scipy.__version__}, "
            f"statsmodels {statsmodels.__version__}, gbstats {gbstats.__version__ if hasattr(gbstats, '__version__') else '0.8.0'}"
        ),
        "alpha": ALPHA,
        "beta_cdf": [],
        "chance_to_beat": [],
        "sequential": [],
        "wilson": [],
    }
    for a, b, x in BETA_CDF:
        boost = float(special.betainc(a, b, x))
        if max(a, b) <= 10_000:
            # mpmath's hypergeometric series is exact but slow past this.
            value = float(mp_betainc(a, b, x))
            assert abs(value - boost) < 1e-14, (a, b, x, value, boost)
            source = "mpmath"
        else:
            value, source = boost, "scipy"
        out["beta_cdf"].append({"a": a, "b": b, "x": x, "cdf": value, "source": source})
        print("beta", a, b, x, value, source, flush=True)
    for c0, n0, c1, n1 in CHANCE:
        exact = float(exact_chance(c0, n0, c1, n1))
        quad = quad_chance(c0, n0, c1, n1)
        assert abs(exact - quad) < 1e-9, (c0, n0, c1, n1, exact, quad)
        row = {"control": [c0, n0], "variant": [c1, n1], "p": exact}
        if 0 < c0 < n0 and 0 < c1 < n1:
            cfg = EffectBayesianConfig(difference_type="absolute", prior_type="absolute")
            row["gbstats_chance_to_win"] = float(
                EffectBayesianABTest(gb(c0, n0), gb(c1, n1), cfg).compute_result().chance_to_win
            )
        out["chance_to_beat"].append(row)
        print("chance", c0, n0, c1, n1, exact, flush=True)
    for c0, n0, c1, n1, planned in SEQUENTIAL:
        p0, p1 = c0 / n0, c1 / n1
        v = p0 * (1 - p0) / n0 + p1 * (1 - p1) / n1
        z_p = float(2 * stats.norm.sf(abs(p1 - p0) / math.sqrt(v)))
        seq = SequentialTwoSidedTTest(
            gb(c0, n0), gb(c1, n1),
            SequentialConfig(difference_type="absolute", alpha=ALPHA, sequential_tuning_parameter=planned),
        ).compute_result()
        t = TwoSidedTTest(gb(c0, n0), gb(c1, n1), FrequentistConfig(difference_type="absolute"))
        row = {
            "control": [c0, n0],
            "variant": [c1, n1],
            "planned": planned,
            "p_sequential": float(seq.p_value),
            "p_fixed_horizon": z_p,
            "gbstats_t_p": float(t.compute_result().p_value),
        }
        if c0 == 0:
            # gbstats gives up when the control's rate is 0 (an uninformative p of 1);
            # the mixture test itself is still defined: record it from its formula.
            rho2 = (-2 * math.log(ALPHA) + math.log(-2 * math.log(ALPHA) + 1)) / planned
            big_n = n0 + n1
            st2 = (p1 - p0) ** 2 * big_n / v
            tr = big_n * rho2 + 1
            row["p_sequential"] = min(1.0, math.sqrt(tr) * math.exp(-rho2 * st2 / (2 * tr)))
            row["gbstats_gives_up"] = True
        out["sequential"].append(row)
    for c, n in WILSON:
        lo, hi = proportion_confint(c, n, alpha=ALPHA, method="wilson")
        out["wilson"].append({"c": c, "n": n, "low": float(lo), "high": float(hi)})
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "tests", "fixtures", "stats", "exact.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(path))


# CUPED cases: (name, seed, visitors per arm, kind, effect), simulated below.
CUPED = [
    ("history predicts conversion", 19, 3000, "conversion", 0.01),
    ("history predicts revenue", 20, 3000, "value", 1.5),
    ("history unrelated to conversion", 21, 3000, "unrelated", 0.01),
    ("small experiment", 22, 150, "conversion", 0.02),
    ("no visitor has history", 23, 2000, "no_history", 0.01),
]


def simulate_arm(rng, n, kind, effect):
    """Per visitor (x, y): x the visitor's goal events (or value) in the 14
    days before exposure, y the conversion (or value) after it."""
    import numpy as np

    if kind == "no_history":
        x = np.zeros(n)
    else:
        x = rng.poisson(0.5, n).astype(float)
    if kind == "value":
        x = x * rng.gamma(2.0, 20.0, n)
        x = np.round(x, 2)
        buys = rng.random(n) < np.clip(0.08 + 0.004 * x, 0, 0.9)
        y = np.where(buys, np.round(rng.gamma(2.0, 20.0, n) + 0.3 * x + effect, 2), 0.0)
        return x, y
    base = 0.05 if kind in ("unrelated", "no_history") else 0.02 + 0.2 * np.minimum(x, 4)
    if kind == "unrelated":
        base = np.full(n, 0.08)
    y = (rng.random(n) < np.clip(base + effect, 0, 0.95)).astype(float)
    return x, y


def ra_statistic(x, y, proportion):
    n = len(x)
    post = (
        ProportionStatistic(n=n, sum=float(y.sum()))
        if proportion
        else SampleMeanStatistic(n=n, sum=float(y.sum()), sum_squares=float((y * y).sum()))
    )
    pre = SampleMeanStatistic(n=n, sum=float(x.sum()), sum_squares=float((x * x).sum()))
    return post, RegressionAdjustedStatistic(
        n=n, post_statistic=post, pre_statistic=pre,
        post_pre_sum_of_products=float((x * y).sum()), theta=0,
    )


def cuped_reference():
    import numpy as np

    out = {
        "generated_by": "tools/stats-reference.py cuped, gbstats 0.8.0 (RegressionAdjustedStatistic, TwoSidedTTest), numpy %s" % np.__version__,
        "cases": [],
    }
    for name, seed, n, kind, effect in CUPED:
        rng = np.random.default_rng(seed)
        (xa, ya), (xb, yb) = simulate_arm(rng, n, kind, 0.0), simulate_arm(rng, n, kind, effect)
        proportion = kind != "value"
        arms = []
        for x, y in ((xa, ya), (xb, yb)):
            arms.append({
                "n": n, "y_sum": float(y.sum()), "y_sq": float((y * y).sum()),
                "x_sum": float(x.sum()), "x_sq": float((x * x).sum()), "xy": float((x * y).sum()),
            })
        row = {"name": name, "proportion": proportion, "control": arms[0], "variant": arms[1]}
        raw_a, ra_a = ra_statistic(xa, ya, proportion)
        raw_b, ra_b = ra_statistic(xb, yb, proportion)
        raw = TwoSidedTTest(raw_a, raw_b, FrequentistConfig(difference_type="absolute")).compute_result()
        row["raw"] = {"estimate": float(raw.expected), "se": float(raw.uplift.stddev)}
        for difference in ("absolute", "relative"):
            _, a = ra_statistic(xa, ya, proportion)
            _, b = ra_statistic(xb, yb, proportion)
            test = TwoSidedTTest(a, b, FrequentistConfig(difference_type=difference))
            result = test.compute_result()
            # gbstats falls back to the raw statistics when theta is 0 (no
            # covariate variance): edgeseg says "not adjusted" there instead.
            adjusted = isinstance(test.stat_a, RegressionAdjustedStatistic)
            row[difference] = {
                "adjusted": adjusted,
                "theta": float(test.stat_a.theta) if adjusted else 0.0,
                "estimate": float(result.expected),
                "se": float(result.uplift.stddev),
                "gbstats_ci_t": [float(result.ci[0]), float(result.ci[1])],
            }
        if row["absolute"]["adjusted"]:
            row["variance_reduction"] = 1 - (row["absolute"]["se"] / row["raw"]["se"]) ** 2
        out["cases"].append(row)
        print("cuped", name, row["absolute"], row.get("variance_reduction"), flush=True)
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "tests", "fixtures", "stats", "cuped.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    if sys.argv[1:] != ["cuped"]:
        main()
    cuped_reference()
