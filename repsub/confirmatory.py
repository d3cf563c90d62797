"""Rules v3, the registered test (docs/REGISTRATION.md): seeds are the unit of inference.

A layer's Spearman r is computed over its units once per seed; the units of one network
are not independent draws (RS ranks them against each other, and they share the network's
training), so their count never enters a standard error here. Each seed's r becomes
Fisher's z, and the seeds' z values are tested with a one-sample t test (k - 1 degrees of
freedom): for an effect (two-sided, z = 0) and for its absence (two one-sided tests against
the smallest effect size of interest, TOST; Lakens 2017). Holm's adjustment runs across the
layers of a claim's family for each. A claim is then

- reproduced where more than half of its layers count for the claimed sign,
- contradicted where more than half count for the opposite sign,
- absent where more than half are equivalent (within +-SESOI) and none counts for either sign,
- inconclusive otherwise.

The first two are exclusive; absent requires that no layer counts for a sign, so the four
outcomes are exclusive and checked in that order. Torch-free: the power analysis
(docs/registration/power.py) runs these same functions on simulated seeds.
"""

import numpy as np

from .outcomes import ABSENT, ALPHA, CONTRADICTED, INCONCLUSIVE, REPRODUCED, holm

# The smallest effect size of interest for every correlation claim (docs/REGISTRATION.md):
# the paper reads its claims off scatter plots of units, and a rank correlation below 0.3
# (Cohen's "medium"; under 9% of rank variance shared) is no trend such a plot shows or a
# description of units would rest on. Fixed by that argument, before any power was computed.
SESOI_R = 0.3
CLIP = 0.999999  # |r| = 1 from a seed has an infinite z: held just inside


def fisher_z(r):
    return np.arctanh(np.clip(np.asarray(r, dtype=float), -CLIP, CLIP))


def seed_test(r, sesoi=SESOI_R):
    """The seeds' correlations of one layer: their mean r (back from the mean z), the 95% and
    90% t intervals, the two-sided p of z = 0 and the TOST p of |z| >= atanh(sesoi).
    Undefined (NaN) below two seeds with a defined r or where the seeds agree exactly."""
    z = fisher_z(r)
    z = z[~np.isnan(z)]
    k = len(z)
    if k < 2 or np.ptp(z) == 0:
        return {"value": np.tanh(z.mean()) if k else np.nan, "ci_low": np.nan, "ci_high": np.nan,
                "ci90_low": np.nan, "ci90_high": np.nan, "p": np.nan, "p_equivalence": np.nan, "n_seeds": k}
    return {name: value.item() for name, value in seed_tests(z[None], sesoi).items()} | {"n_seeds": k}


def seed_tests(z, sesoi=SESOI_R):
    """:func:`seed_test` of many layers at once: ``z`` holds one layer's seeds' Fisher z per
    row (every row with k >= 2 defined values that are not all equal)."""
    from scipy.stats import t

    k = z.shape[-1]
    mean, se = z.mean(axis=-1), z.std(axis=-1, ddof=1) / np.sqrt(k)
    half95, half90 = t.ppf(0.975, k - 1) * se, t.ppf(0.95, k - 1) * se
    bound = np.arctanh(sesoi)
    p_equivalence = np.maximum(t.sf((mean + bound) / se, k - 1), t.cdf((mean - bound) / se, k - 1))
    return {"value": np.tanh(mean), "ci_low": np.tanh(mean - half95), "ci_high": np.tanh(mean + half95),
            "ci90_low": np.tanh(mean - half90), "ci90_high": np.tanh(mean + half90),
            "p": 2 * t.sf(np.abs(mean) / se, k - 1), "p_equivalence": p_equivalence}


def layer_counts(values, p, p_equivalence):
    """Per layer of one family: counts for r > 0, for r < 0, and is equivalent (Holm for each)."""
    values = np.asarray(values, dtype=float)
    significant = np.asarray(holm(p) < ALPHA)
    equivalent = np.asarray(holm(p_equivalence) < ALPHA)
    return significant & (values > 0), significant & (values < 0), equivalent


def holm_many(p):
    """:func:`repsub.claims.holm` of many families at once, one per row, without NaN."""
    order = np.argsort(p, axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=-1) * (p.shape[-1] - np.arange(p.shape[-1]))
    adjusted = np.minimum(1.0, np.maximum.accumulate(ranked, axis=-1))
    out = np.empty_like(adjusted)
    np.put_along_axis(out, order, adjusted, axis=-1)
    return out


def verdicts_many(values, p, p_equivalence, layers, sign):
    """:func:`verdict` of the first ``layers`` layers of many families at once (one per row of
    the arrays, every layer of the row in its Holm family): an array of outcomes."""
    significant, equivalent = holm_many(p) < ALPHA, holm_many(p_equivalence) < ALPHA
    positive, negative = (significant & (values > 0))[:, :layers], (significant & (values < 0))[:, :layers]
    equivalent = equivalent[:, :layers]
    claimed, opposite = (positive, negative) if sign > 0 else (negative, positive)
    half = layers / 2
    return np.select([claimed.sum(1) > half, opposite.sum(1) > half,
                      (equivalent.sum(1) > half) & ~(positive | negative).any(1)],
                     [REPRODUCED, CONTRADICTED, ABSENT], INCONCLUSIVE)


def verdict(positive, negative, equivalent, sign):
    """The claim's outcome from its layers' counts (``sign``: the claimed sign of r)."""
    claimed, opposite = (positive, negative) if sign > 0 else (negative, positive)
    half = len(claimed) / 2
    if len(claimed) and claimed.sum() > half:
        return REPRODUCED
    if len(claimed) and opposite.sum() > half:
        return CONTRADICTED
    if len(claimed) and equivalent.sum() > half and not (positive.any() or negative.any()):
        return ABSENT
    return INCONCLUSIVE
