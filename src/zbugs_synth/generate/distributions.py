"""The laws the data follows, computed once per run as small tables the kernel samples from.

* Issues across projects: Pareto. Project ranks get weights from the Pareto quantile function,
  w(rank) = ((rank + 0.5) / N) ** (-1 / alpha). The default alpha = 1 puts ~75 % of issues in the
  top 20 % of 100 projects and ~82 % for 1000 (roughly the 80/20 rule; the midpoint quantiles of a
  finite N hold less than the continuous law's 0.2 ** (1 - 1/alpha)). Which project gets which rank
  is a seeded shuffle, so project 0 is not always the biggest.
* Comments per issue: a capped discrete Lomax (Pareto type II) law,
  P(K >= k) = (1 + k / lam) ** (-a) for 1 <= k <= cap. Most issues get 0-2 comments, a few get
  hundreds. `lam` is solved so the law's mean equals COMMENTS_PER_ISSUE exactly (to 1e-12), so
  the sample mean is off only by sampling noise (the original averages 2.53 for 3.0).
* Labels per issue: the shape of zbugs' own issues (0: 20 %, 1: 53 %, 2: 19 %, 3: 7 %, 4: 1 %;
  mean 1.17), extended by a geometric tail (ratio 1/4) up to the labels a category has, and
  exponentially tilted, P(K = k) ~ ref(k) * exp(theta * k), with theta solved so the mean is
  LABELS_PER_ISSUE exactly (1.17 gives the reference itself; 1.5 gives 0-4 labels, mostly 1-2;
  2.0 mostly 1-3, as the guide puts it). (The original ignores LABELS_PER_ISSUE.)
* Reply times: the first comment comes a heavy-tailed wait after its issue, with the quantiles of
  zbugs' own data (p10 12 minutes, p50 180 hours, p90 3,100 hours), interpolated log-linearly
  between fixed points; later comments wait the same law scaled by REPLY_SCALE. The kernel draws
  each wait conditioned on fitting in what is left of the time window.
* Emoji per subject and browsing viewers per issue: the capped discrete Lomax law above, with
  the mean the settings ask for (most subjects none, a few many).
"""

from __future__ import annotations

import math

import numpy as np

from zbugs_synth.generate.rng import S_PROJECT_RANK, py_draw, py_key


def project_cdf(num_projects: int, alpha: float, seed: int) -> np.ndarray:
    """Cumulative issue weights in project order, normalised so the last entry is 1.0."""
    ranks = np.arange(num_projects, dtype=np.float64)
    weights_by_rank = ((ranks + 0.5) / num_projects) ** (-1.0 / alpha)
    k = py_key(seed, S_PROJECT_RANK)
    # Seeded shuffle: sort projects by a hash; the i-th in that order gets rank i.
    order = sorted(range(num_projects), key=lambda p: py_draw(k, p))
    weights = np.empty(num_projects, dtype=np.float64)
    weights[np.array(order, dtype=np.int64)] = weights_by_rank
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    cdf[-1] = 1.0
    return cdf


def top_share(weights: np.ndarray, fraction: float = 0.2) -> float:
    """Share of the total held by the top `fraction` of entries."""
    w = np.sort(np.asarray(weights, dtype=np.float64))[::-1]
    n = max(1, round(len(w) * fraction))
    return float(w[:n].sum() / w.sum())


def _lomax_survival(lam: float, a: float, cap: int) -> np.ndarray:
    k = np.arange(1, cap + 1, dtype=np.float64)
    return (1.0 + k / lam) ** (-a)


def comment_pmf(mean: float, a: float, cap: int) -> np.ndarray:
    """P(K = k) for k = 0..cap with E[K] == mean."""
    if mean <= 0:
        pmf = np.zeros(cap + 1)
        pmf[0] = 1.0
        return pmf
    if mean >= cap:
        raise ValueError(f"mean {mean} needs a cap above {cap}")
    lo, hi = 1e-12, 1e15
    for _ in range(200):  # bisection: the mean grows monotonically with lam
        mid = math.sqrt(lo * hi) if hi / lo > 4 else (lo + hi) / 2
        if _lomax_survival(mid, a, cap).sum() < mean:
            lo = mid
        else:
            hi = mid
    surv = np.concatenate(([1.0], _lomax_survival((lo + hi) / 2, a, cap), [0.0]))
    return surv[:-1] - surv[1:]


def cdf_table(pmf: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(pmf)
    cdf /= cdf[-1]
    cdf[-1] = 1.0
    return cdf


def label_count_law(mean: float) -> tuple[int, int, float]:
    """(low, high, P(high)): K = high with probability p else low, E[K] = mean."""
    low = math.floor(mean)
    p = mean - low
    return low, (low + 1 if p > 0 else low), p


LABEL_REFERENCE = (0.20, 0.53, 0.19, 0.07, 0.01)  # zbugs' github dataset: share of issues with k labels
LABEL_TAIL_RATIO = 0.25


def label_pmf(mean: float, cap: int) -> np.ndarray:
    """P(K = k), k = 0..cap, for labels per issue: the reference shape tilted to `mean`."""
    if mean <= 0 or cap == 0:
        return np.array([1.0])
    if mean >= cap:
        pmf = np.zeros(cap + 1)
        pmf[cap] = 1.0
        return pmf
    base = np.array([LABEL_REFERENCE[k] if k < len(LABEL_REFERENCE)
                     else LABEL_REFERENCE[-1] * LABEL_TAIL_RATIO ** (k - len(LABEL_REFERENCE) + 1)
                     for k in range(cap + 1)], dtype=np.float64)
    k = np.arange(cap + 1, dtype=np.float64)

    def tilted(theta: float) -> np.ndarray:
        w = np.log(base) + theta * k
        w = np.exp(w - w.max())
        return w / w.sum()

    lo, hi = -60.0, 60.0
    for _ in range(200):  # the tilted mean grows monotonically with theta
        mid = (lo + hi) / 2
        if float((tilted(mid) * k).sum()) < mean:
            lo = mid
        else:
            hi = mid
    pmf = tilted((lo + hi) / 2)
    # Drop the far tail that would never be drawn (keeps the kernel's label scratch small).
    last = int(np.nonzero(pmf > 1e-12)[0].max())
    return pmf[: last + 1]


HOUR_MS = 3_600_000.0
# (quantile, hours): zbugs' first-reply times at p10/p50/p90, with a floor and a far tail.
REPLY_KNOTS = ((0.0, 0.01), (0.10, 0.25), (0.50, 260.0), (0.90, 4500.0), (0.99, 20000.0), (1.0, 40000.0))
REPLY_POINTS = 4096


def reply_quantiles() -> np.ndarray:
    """The first-reply wait's quantile function at REPLY_POINTS + 1 evenly spaced points, in ms."""
    u = np.linspace(0.0, 1.0, REPLY_POINTS + 1)
    qs = np.array([q for q, _ in REPLY_KNOTS])
    logs = np.log(np.array([h for _, h in REPLY_KNOTS]))
    return np.exp(np.interp(u, qs, logs)) * HOUR_MS
