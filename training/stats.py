"""Paired statistics for seed-matched comparisons (two arms trained from the same seeds).

    >>> from training.stats import paired
    >>> s = paired([97.5, 95.0, 100.0], [95.0, 95.0, 97.5])
    >>> round(s["mean_diff"], 3), s["n"]
    (1.667, 3)
"""

import math

import numpy as np

TEST_NAME = "paired t-test, two-sided (scipy.stats.ttest_rel)"


def describe(values):
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def mean_std(values, scale=1.0, digits=2):
    """``"mean ± std"`` of ``values * scale`` (see ``describe``)."""
    m, s = describe(np.asarray(values, dtype=float) * scale)
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def format_p(p):
    """A p-value for a table: three decimals, scientific below 0.001, ``n/a`` when undefined."""
    if p is None or math.isnan(p):
        return "n/a"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def paired(a, b, confidence=0.95):
    """Compares arm ``a`` with arm ``b``, where ``a[i]`` and ``b[i]`` come from the same seed.

    Returns the mean and standard deviation of each arm, the mean paired difference ``a - b``,
    its ``confidence`` interval from the t distribution with ``n - 1`` degrees of freedom, the t
    statistic and the two-sided p-value of the paired t-test, and how many seeds ``a`` won,
    tied and lost. With identical differences (zero spread) the interval is that difference and
    t/p are undefined (NaN); with fewer than 2 pairs only the means are given.
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(
            f"paired() needs two equally long 1-D sequences (one value per seed), got shapes "
            f"{a.shape} and {b.shape}."
        )
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}.")
    d = a - b
    n = len(d)
    out = dict(n=n, mean_a=describe(a)[0], std_a=describe(a)[1], mean_b=describe(b)[0],
               std_b=describe(b)[1], mean_diff=float(d.mean()), std_diff=describe(d)[1],
               ci_low=math.nan, ci_high=math.nan, t=math.nan, p=math.nan, confidence=confidence,
               test=TEST_NAME, wins=int((d > 0).sum()), ties=int((d == 0).sum()),
               losses=int((d < 0).sum()))
    if n < 2:
        return out
    if out["std_diff"] == 0.0:
        out["ci_low"] = out["ci_high"] = out["mean_diff"]
        return out
    result = stats.ttest_rel(a, b)
    ci = result.confidence_interval(confidence)
    out.update(t=float(result.statistic), p=float(result.pvalue), ci_low=float(ci.low),
               ci_high=float(ci.high))
    return out


def verdict(s, a="a", b="b", unit="points"):
    """One sentence on what the interval says about ``a - b``."""
    if s["n"] < 2 or math.isnan(s["ci_low"]):
        return "too few seeds for an interval"
    lo, hi = s["ci_low"], s["ci_high"]
    span = f"{s['confidence']:.0%} CI {lo:+.2f} to {hi:+.2f} {unit}"
    if lo > 0:
        return f"{a} ahead ({span} excludes 0)"
    if hi < 0:
        return f"{b} ahead ({span} excludes 0)"
    return f"no difference established ({span} includes 0)"
