"""Rules v3 against the naive way: scipy's one-sample t tests on the seeds' Fisher z."""

import numpy as np
import pytest
from scipy.stats import ttest_1samp

from repsub.claims import CONTRADICTED, INCONCLUSIVE, REPRODUCED
from repsub.confirmatory import ABSENT, SESOI_R, layer_counts, seed_test, verdict


@pytest.mark.parametrize("r", [[0.31, 0.42, 0.25, 0.38], [-0.1, 0.05, 0.02], [0.9, 0.95, 0.99, 0.97, 0.93]])
def test_the_seed_test_is_scipys_t_test_on_fisher_z_and_its_tost(r):
    z = np.arctanh(r)
    got = seed_test(r)
    bound = np.arctanh(SESOI_R)
    assert got["p"] == pytest.approx(ttest_1samp(z, 0).pvalue)
    lower = ttest_1samp(z, -bound, alternative="greater").pvalue
    upper = ttest_1samp(z, bound, alternative="less").pvalue
    assert got["p_equivalence"] == pytest.approx(max(lower, upper))
    interval = ttest_1samp(z, 0).confidence_interval(0.95)
    assert (got["ci_low"], got["ci_high"]) == pytest.approx(tuple(np.tanh([interval.low, interval.high])))
    interval = ttest_1samp(z, 0).confidence_interval(0.90)
    assert (got["ci90_low"], got["ci90_high"]) == pytest.approx(tuple(np.tanh([interval.low, interval.high])))
    assert got["value"] == pytest.approx(np.tanh(z.mean())) and got["n_seeds"] == len(r)


def test_one_seed_or_seeds_that_agree_exactly_decide_nothing():
    assert np.isnan(seed_test([0.5])["p"]) and np.isnan(seed_test([0.5, 0.5, 0.5])["p_equivalence"])


@pytest.mark.parametrize("positive, negative, equivalent, outcome", [
    ([1, 1, 0], [0, 0, 0], [0, 0, 1], REPRODUCED),
    ([0, 0, 0], [1, 1, 0], [0, 0, 0], CONTRADICTED),
    ([0, 0, 0], [0, 0, 0], [1, 1, 0], ABSENT),
    ([0, 0, 1], [0, 0, 0], [1, 1, 0], INCONCLUSIVE),  # a layer counts for a sign: not absent
    ([1, 0, 0], [0, 1, 0], [0, 0, 1], INCONCLUSIVE),
])
def test_the_four_outcomes_and_their_precedence(positive, negative, equivalent, outcome):
    as_bool = [np.array(v, dtype=bool) for v in (positive, negative, equivalent)]
    assert verdict(*as_bool, +1) == outcome


def test_holm_runs_across_the_family_for_effects_and_equivalence_alike():
    # Holm: p 0.01, 0.02, 0.06 adjust to 0.03, 0.04, 0.06; equivalence 0.016, 0.03, 0.2 to 0.048, 0.06, 0.2
    positive, negative, equivalent = layer_counts([0.4, 0.3, -0.2], [0.01, 0.02, 0.06], [0.2, 0.03, 0.016])
    assert positive.tolist() == [True, True, False] and negative.tolist() == [False, False, False]
    assert equivalent.tolist() == [False, False, True]
