import numpy as np
import pytest

from zbugs_synth.generate.distributions import (
    comment_pmf,
    label_pmf,
    project_cdf,
    top_share,
)


@pytest.mark.parametrize("mean", [0.5, 1.0, 2.0, 3.0, 7.5, 20.0])
@pytest.mark.parametrize("alpha", [1.2, 2.0, 3.0])
def test_comment_law_has_the_requested_mean(mean: float, alpha: float) -> None:
    pmf = comment_pmf(mean, alpha, 500)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
    assert (pmf >= 0).all()
    assert (np.arange(len(pmf)) * pmf).sum() == pytest.approx(mean, rel=1e-9)


def test_comment_law_is_heavy_tailed() -> None:
    pmf = comment_pmf(3.0, 2.0, 500)
    assert pmf[:3].sum() > 0.6  # most issues get 0-2 comments
    assert pmf[0] > pmf[1] > pmf[2] > pmf[5] > pmf[20] > pmf[100] > 0  # decreasing, with a long tail
    assert pmf[50:].sum() > 1e-3


def test_zero_comments() -> None:
    assert comment_pmf(0.0, 2.0, 10)[0] == 1.0


def test_projects_follow_the_80_20_rule_by_default() -> None:
    for n in (50, 100, 1000):
        w = np.diff(np.concatenate(([0.0], project_cdf(n, 1.0, 42))))
        assert 0.70 <= top_share(w) <= 0.85, n


def test_project_skew_is_configurable() -> None:
    w_skew = np.diff(np.concatenate(([0.0], project_cdf(100, 0.6, 42))))
    w_flat = np.diff(np.concatenate(([0.0], project_cdf(100, 5.0, 42))))
    assert top_share(w_skew) > 0.9
    assert top_share(w_flat) < 0.4


def test_biggest_project_depends_on_seed() -> None:
    def biggest(seed: int) -> int:
        return int(np.argmax(np.diff(np.concatenate(([0.0], project_cdf(100, 1.0, seed))))))

    assert len({biggest(s) for s in range(10)}) > 3


@pytest.mark.parametrize("mean,cap", [(1.5, 40), (2.0, 40), (0.25, 40), (3.7, 8), (1.17, 40)])
def test_label_law_mean_is_exact(mean: float, cap: int) -> None:
    pmf = label_pmf(mean, cap)
    assert len(pmf) <= cap + 1 and pmf.sum() == pytest.approx(1.0)
    assert (pmf * np.arange(len(pmf))).sum() == pytest.approx(mean, abs=1e-9)


def test_label_law_edges() -> None:
    assert list(label_pmf(0.0, 40)) == [1.0]
    assert label_pmf(4.0, 4)[-1] == 1.0
