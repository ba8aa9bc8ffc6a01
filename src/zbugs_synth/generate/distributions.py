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
* Labels per issue: uniform over {floor(mu), ceil(mu)} with the weights that make the mean mu
  exactly (1.5 -> one or two labels, 50/50). (The original ignores LABELS_PER_ISSUE.)
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
