"""The paper's claims, each tested by a stated rule on the pooled statistics.

Verdicts are computed here from the data, never typed in. Every rule is a
sentence in the table, so a reader can check it against the numbers.
"""

from itertools import product

import numpy as np
import pandas as pd

from .confirmatory import SESOI_R, seed_test
from .nets.kinds import CONV, VECTOR
from .outcomes import ABSENT, ALPHA, CONTRADICTED, INCONCLUSIVE, REPRODUCED, holm
from .settings import METHOD_NAMES
from .stats import POOLED, per_seed

VERDICT_COLOURS = {REPRODUCED: "#4daf4a", CONTRADICTED: "#e41a1c", INCONCLUSIVE: "#bdbdbd",
                   ABSENT: "#377eb8"}  # figures and pages
RS_SOURCES = ("am", "iam", "noise", "top_image")  # C1 reads each; the other RS claims read IAM, noise, top image


FISHER_TEST = "the Fisher-z test (Fieller-Hartley-Pearson error)"
TESTS = {"class_match": "the permutation test over units (from one seed; over seeds, the t test of their mean)",
         "cumulative_auc": "Welch's t test over seeds"}  # statistic -> how its p is computed, if not by FISHER_TEST


class Rules:
    """How a claim's layers decide it, by rules v2 (the verdict): a layer counts for a sign
    where its Holm-adjusted p (across the claim's layers) is below 0.05 with r of that sign; a
    claim is reproduced where more than half of its layers count for the claimed sign,
    contradicted where more than half count for the opposite sign, else inconclusive. (Rules
    v1, the first release's, stood beside for one release and retired: docs/CHOICES.md.)"""

    version = 2

    def layer_rows(self, stats, statistic, x, y=None):
        rows = stats[(stats.seed == POOLED) & (stats.statistic == statistic) & (stats.x == x)]
        return (rows if y is None else rows[rows.y == y]).sort_values("depth")

    def sides(self, rows):
        """Per layer: does it count for r > 0, and for r < 0?"""
        significant = holm(rows.p) < ALPHA
        return significant & (rows.value > 0), significant & (rows.value < 0)

    def values(self, rows):
        return "; ".join(f"{r.layer} {_fmt(r.value)} [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}] p_holm {_fmt(p)}"
                         for r, p in zip(rows.itertuples(), holm(rows.p)))

    def majority(self, rows, sign):
        """Verdict for 'r has this sign' in most layers, and the count it rests on."""
        positive, negative = self.sides(rows)
        claimed, opposite = (positive, negative) if sign > 0 else (negative, positive)

        def named(which):
            return f"{int(which.sum())} of {len(rows)} ({' '.join(rows.layer[which]) or 'none'})"
        count = (f"Holm-adjusted p < {ALPHA} with r {'>' if sign > 0 else '<'} 0 in {named(claimed)}; "
                 f"with the opposite sign in {named(opposite)}")
        if len(rows) and claimed.sum() > len(rows) / 2:
            return REPRODUCED, count
        if len(rows) and opposite.sum() > len(rows) / 2:
            return CONTRADICTED, count
        return INCONCLUSIVE, count

    def majority_rule(self, direction, test=FISHER_TEST):
        return (f"per layer, p of {test} Holm-adjusted across the claim's layers; "
                f"reproduced if p < {ALPHA} with r {direction} 0 in more than half of the layers, contradicted if "
                f"p < {ALPHA} with r on the other side in more than half, otherwise inconclusive (a layer where r "
                f"is undefined counts for neither)")


class SeedRules(Rules):
    """Rules v3, registered (docs/REGISTRATION.md, :mod:`repsub.confirmatory`): a correlation
    claim's layers are tested over seeds, by a t test on the seeds' Fisher z for an effect and
    by two one-sided tests against |r| = SESOI for its absence, Holm across the claim's layers
    for each; the outcome "absent" joins the three of v2. The point-value claims (C3, C4, C5,
    E4, E6) keep their v2 rules: this class reads v2's pooled rows for every statistic that is
    not a correlation, and decides them as v2 does."""

    version = 3

    def layer_rows(self, stats, statistic, x, y=None):
        if statistic not in ("spearman", "partial_spearman"):
            return super().layer_rows(stats, statistic, x, y)
        rows = per_seed(stats)
        rows = rows[(rows.statistic == statistic) & (rows.x == x)]
        rows = rows if y is None else rows[rows.y == y]
        keys = ["dataset", "model", "depth", "layer", "kind"]
        tested = [{**dict(zip(keys, key)), **seed_test(group.value.to_numpy(float))}
                  for key, group in rows.groupby(keys, sort=False)]
        return pd.DataFrame(tested, columns=[*keys, "value", "ci_low", "ci_high", "ci90_low", "ci90_high", "p",
                                             "p_equivalence", "n_seeds"]).sort_values("depth")

    def equivalent(self, rows):
        """Per layer: is it equivalent (Holm-adjusted TOST p below 0.05)?"""
        return holm(rows.p_equivalence) < ALPHA

    def values(self, rows):
        if "p_equivalence" not in rows:
            return super().values(rows)
        return "; ".join(f"{r.layer} {_fmt(r.value)} [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}] p_holm {_fmt(p)} "
                         f"p_equivalence_holm {_fmt(q)} ({r.n_seeds} seeds)"
                         for r, p, q in zip(rows.itertuples(), holm(rows.p), holm(rows.p_equivalence)))

    def majority(self, rows, sign):
        verdict, count = super().majority(rows, sign)
        if "p_equivalence" not in rows:
            return verdict, count
        equivalent = self.equivalent(rows)
        count += f"; equivalent within +-{SESOI_R} in {int(equivalent.sum())} of {len(rows)}"
        positive, negative = self.sides(rows)
        if verdict == INCONCLUSIVE and equivalent.sum() > len(rows) / 2 and not (positive | negative).any():
            return ABSENT, count
        return verdict, count

    def majority_rule(self, direction, test=FISHER_TEST):
        if test != FISHER_TEST:  # a point-value claim: v2's rule
            return super().majority_rule(direction, test)
        return (f"per layer, each seed's r as Fisher z, then a one-sample t test over seeds (p of z = 0, 95% t "
                f"interval) and two one-sided tests against |r| = {SESOI_R} (p_equivalence), each Holm-adjusted "
                f"across the claim's layers; reproduced if p < {ALPHA} with r {direction} 0 in more than half of "
                f"the layers, contradicted if p < {ALPHA} with r on the other side in more than half, absent if "
                f"p_equivalence < {ALPHA} in more than half and no layer has p < {ALPHA}, otherwise inconclusive "
                f"(a layer with fewer than two seeds of defined r counts for none)")


def _fmt(value):
    return "nan" if pd.isna(value) else f"{value:.3g}"


def _correlation_claim(stats, rules, claim_id, claim, x, y, sign, statistic="spearman", layers=None):
    """``layers``: which of a model's layer rows the claim reads (all by default)."""
    direction = "above" if sign > 0 else "below"
    given = " | mean_activation" if statistic == "partial_spearman" else ""
    measured = (STATISTIC_NAMES[statistic] if statistic in STATISTIC_NAMES else
                f"{'partial ' if given else ''}Spearman r({x}, {y}{given}) per layer [95% CI], dead units excluded")
    for (dataset, model), rows in rules.layer_rows(stats, statistic, x, y).groupby(["dataset", "model"], sort=True):
        rows = layers(rows) if layers else rows
        if rows.empty:
            continue
        verdict, count = rules.majority(rows, sign)
        yield {
            "claim_id": claim_id, "claim": claim, "dataset": dataset, "model": model,
            "statistic": measured,
            "values": rules.values(rows), "key_statistic": count, "verdict": verdict,
            "rule": rules.majority_rule(direction, TESTS.get(statistic, FISHER_TEST))
            + _one_seed_caveat(stats, rules, dataset, model),
        }


ONE_SEED = ("; from one seed, so its intervals and p come from the layer's units as if they were independent "
            "draws, which they are not (they are trained together, and RS ranks them against each other): "
            "exploratory")


def _one_seed_caveat(stats, rules, dataset, model):
    """A one-seed row's interval rests on units treated as independent (docs/REGISTRATION.md):
    its rule says so. Rules v3 test over seeds and decide nothing from one."""
    if rules.version == 3:
        return ""
    seeds = per_seed(stats)
    seeds = seeds[(seeds.dataset == dataset) & (seeds.model == model)].seed
    return ONE_SEED if seeds.nunique() == 1 else ""


STATISTIC_NAMES = {"class_match": "share of units whose most-hurt class is their preferred class, less the share "
                                  "expected by chance, per layer [95% interval by permuting units], units whose "
                                  "ablation hurts no class excluded"}


def early_conv_layers(rows):
    """The first half (rounded up) of a model's conv layers; none in a model with fewer than two."""
    conv = rows[rows.kind == CONV]
    return conv.iloc[: -(-len(conv) // 2)] if len(conv) >= 2 else conv.iloc[:0]


def fades_with_depth(stats, rules, rs="rs_iam"):
    label = METHOD_NAMES[rs[3:]]
    absent = (f"absent if the first conv layer is equivalent (Holm-adjusted TOST p < {ALPHA} against |r| = "
              f"{SESOI_R}, over seeds) and no conv layer has p < {ALPHA}; " if rules.version == 3 else "")
    rule = (f"Holm-adjusted p across the model's conv layers; reproduced if the first conv layer has p < {ALPHA} "
            f"with r > 0 and the last conv layer's r is below the first's; contradicted if the first conv layer "
            f"has p < {ALPHA} with r < 0; {absent}otherwise inconclusive; tested where at least two conv layers "
            f"were analysed")
    rows = rules.layer_rows(stats, "spearman", "selectivity", rs)
    for (dataset, model), group in rows[rows.kind == CONV].groupby(["dataset", "model"], sort=True):
        if len(group) < 2:
            continue
        first, last = group.iloc[0], group.iloc[-1]
        positive, negative = rules.sides(group)
        bounded = rules.version == 3 and rules.equivalent(group).iloc[0] and not (positive | negative).any()
        verdict = (REPRODUCED if positive.iloc[0] and last.value < first.value else
                   CONTRADICTED if negative.iloc[0] else ABSENT if bounded else INCONCLUSIVE)
        yield {"claim_id": "C2", "claim": "The RS/selectivity correlation is positive in early conv layers "
               f"and fades with depth ({label})", "dataset": dataset, "model": model,
               "statistic": f"Spearman r(selectivity, {rs}) per conv layer [95% CI]",
               "values": rules.values(group), "key_statistic": _ends(group),
               "verdict": verdict, "rule": rule + _one_seed_caveat(stats, rules, dataset, model)}


def _ends(group):
    """r of the first and the last conv layer, with the first's Holm-adjusted p."""
    first, last = group.iloc[0], group.iloc[-1]
    return f"r {first.layer} {_fmt(first.value)} (p_holm {_fmt(holm(group.p).iloc[0])}), {last.layer} {_fmt(last.value)}"


def fc_before_classifier(stats, rules, cut=0.5):
    """C3; ``cut`` is the share of RS (IAM) = 0 that "mostly 0" must exceed (the registered
    sensitivity analysis reads it at 0.4 and 0.6 too)."""
    share = "half" if cut == 0.5 else f"{cut:.0%}"
    rule = (f"reproduced if over {share} of this layer's RS (IAM) values are 0 and its mean selectivity exceeds "
            f"the mean over the model's other layers; {CONTRADICTED} if neither holds; otherwise inconclusive")
    selectivity = rules.layer_rows(stats, "mean", "selectivity")
    zeros = rules.layer_rows(stats, "fraction_zero", "rs_iam")
    for (dataset, model), group in selectivity.groupby(["dataset", "model"], sort=True):
        last = group.iloc[-1]
        if last.kind != VECTOR or len(group) < 2:
            continue
        zero = zeros[(zeros.dataset == dataset) & (zeros.model == model) & (zeros.layer == last.layer)]
        fraction_zero = zero.value.iloc[0] if len(zero) else np.nan
        others = group.iloc[:-1].value.mean()
        holds = [fraction_zero > cut, last.value > others]
        verdict = REPRODUCED if all(holds) else CONTRADICTED if not any(holds) else INCONCLUSIVE
        yield {"claim_id": "C3", "claim": "In the FC layer before the classifier, selectivity is high and RS "
               "is mostly 0", "dataset": dataset, "model": model,
               "statistic": "fraction of RS (IAM) = 0; mean selectivity of the layer vs the other layers",
               "values": f"{last.layer}: fraction RS=0 {_fmt(fraction_zero)}; mean selectivity "
                         f"{_fmt(last.value)} vs {_fmt(others)} in the other layers",
               "key_statistic": f"RS=0 {_fmt(fraction_zero)}; selectivity {_fmt(last.value)} vs {_fmt(others)}",
               "verdict": verdict, "rule": rule}


def iam_below_am(stats, rules):
    rule = (f"reproduced if mean RS (IAM) < mean RS (AM) in more than half of the layers; {CONTRADICTED} if "
            ">= in more than half; otherwise inconclusive")
    am, iam = rules.layer_rows(stats, "mean", "rs_am"), rules.layer_rows(stats, "mean", "rs_iam")
    both = am.merge(iam, on=["dataset", "model", "depth", "layer"], suffixes=("_am", "_iam"))
    for (dataset, model), group in both.groupby(["dataset", "model"], sort=True):
        lower = (group.value_iam < group.value_am).sum()
        verdict = (REPRODUCED if lower > len(group) / 2 else
                   CONTRADICTED if len(group) - lower > len(group) / 2 else INCONCLUSIVE)
        values = "; ".join(f"{r.layer} AM {_fmt(r.value_am)} IAM {_fmt(r.value_iam)}" for r in group.itertuples())
        yield {"claim_id": "C4", "claim": "IAM gives slightly lower RS than AM", "dataset": dataset,
               "model": model, "statistic": "mean RS per layer, AM vs IAM", "values": values,
               "key_statistic": f"IAM < AM in {int(lower)} of {len(group)} layers", "verdict": verdict,
               "rule": rule}


def mlp_low_diversity(stats, rules):
    """C5 as fixed: the MLP's mean per-layer sd of RS (IAM) against that of the conv models'
    conv layers; C5b (registered) against every layer of the conv models, FC layers included,
    which can have as little RS diversity as the MLP's."""
    spread = rules.layer_rows(stats, "std", "rs_iam")
    for dataset, group in spread.groupby("dataset", sort=True):
        conv = group[group.kind == CONV]
        conv_models = group[group.model.isin(conv.model)]
        mlps = group[~group.model.isin(conv.model)]  # an MLP: no conv layer among those analysed
        for claim_id, others, which in (("C5", conv, "conv layers"), ("C5b", conv_models, "every layer")):
            other_sd = others.value.mean() if len(others) else np.nan
            rule = (f"reproduced if the MLP's per-layer sd of RS (IAM), averaged over its layers, is below the "
                    f"same sd averaged over the {which} of the conv models on the same data (one mean over all "
                    f"those layers); {CONTRADICTED} if above; inconclusive without a conv model")
            for model, mlp in mlps.groupby("model", sort=True):
                mlp_sd = mlp.value.mean()
                verdict = INCONCLUSIVE if np.isnan(other_sd) else REPRODUCED if mlp_sd < other_sd else CONTRADICTED
                yield {"claim_id": claim_id, "claim": "The MLP shows little RS diversity"
                       + ("" if claim_id == "C5" else " (against every layer of the conv models)"),
                       "dataset": dataset, "model": model,
                       "statistic": f"sd of RS (IAM) per layer, MLP vs {which} of the conv models",
                       "values": f"MLP {'; '.join(f'{r.layer} {_fmt(r.value)}' for r in mlp.itertuples())}; "
                                 f"{which} mean {_fmt(other_sd)}",
                       "key_statistic": f"sd {_fmt(mlp_sd)} vs {_fmt(other_sd)}", "verdict": verdict, "rule": rule}


VERSUS = " vs "  # a claim that compares two runs names both: "shallow_cnn vs shallow_cnn_nobn"


def runs_of(model: str) -> list:
    """The runs a claims row speaks of: its model, or both of a comparison's."""
    return model.split(VERSUS)


def batch_norm_reliance(stats, rules):
    """E6: per family and data set, each run with BatchNorm against each without, per layer
    both analyse: the difference of their mean ``cumulative_auc`` (random order) over seeds,
    with Welch's interval and p (undefined below two seeds each)."""
    if "batch_norm" not in stats:
        return
    areas = per_seed(stats)
    areas = areas[(areas.statistic == "cumulative_auc") & (areas.x == "random")]
    for (dataset, _), family in areas.groupby(["dataset", "architecture"], sort=True):
        flag = family.batch_norm.astype(str).str.lower()  # "true", or True where a reader parsed it
        for a, b in product(sorted(set(family.model[flag == "true"])), sorted(set(family.model[flag == "false"]))):
            rows = _differences(family[family.model == a], family[family.model == b])
            if rows.empty:
                continue
            verdict, count = rules.majority(rows, +1)
            yield {"claim_id": "E6", "claim": "Extension (Morcos et al. 2018): with BatchNorm a network relies less "
                   "on single directions, randomly ablating a share of a layer's units costing it less accuracy",
                   "dataset": dataset, "model": f"{a}{VERSUS}{b}",
                   "statistic": "area under accuracy against the fraction of units ablated in random order, relative "
                                "to the intact accuracy: with BatchNorm less without, per layer [95% Welch interval "
                                "over seeds]",
                   "values": rules.values(rows), "key_statistic": count, "verdict": verdict,
                   "rule": rules.majority_rule("above", TESTS["cumulative_auc"])}


def _differences(with_bn, without):
    """Per layer both runs analyse, in depth order: the first's mean value over seeds less the second's."""
    rows = []
    for layer, group in with_bn.groupby("layer", sort=False):
        other = without[without.layer == layer]
        if len(other):
            rows.append({"layer": layer, "depth": group.depth.iloc[0],
                         **welch(group.value.to_numpy(float), other.value.to_numpy(float))})
    return pd.DataFrame(rows, columns=["layer", "depth", "value", "ci_low", "ci_high", "p"]).sort_values("depth")


def welch(a, b):
    """Mean of ``a`` less mean of ``b`` with Welch's 95% interval and two-sided p."""
    from scipy.stats import t

    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    difference = a.mean() - b.mean() if len(a) and len(b) else np.nan
    if len(a) < 2 or len(b) < 2:
        return {"value": difference, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan}
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    if se == 0:  # seeds that agree to the last bit: no spread to test against
        return {"value": difference, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan}
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = t.ppf(0.975, df) * se
    return {"value": difference, "ci_low": difference - half, "ci_high": difference + half,
            "p": 2 * t.sf(abs(difference) / se, df)}


CLAIMS_COLUMNS = ["claim_id", "claim", "dataset", "model", "statistic", "values", "key_statistic", "verdict", "rule",
                  "verdict_v3", "rule_v3", "values_v3", "key_statistic_v3"]
BESIDE_V3 = ["verdict", "rule", "values", "key_statistic"]  # what v3 adds beside v2
KEYS = ["claim_id", "claim", "dataset", "model"]


def claims_table(stats: pd.DataFrame) -> pd.DataFrame:
    """Every claim by rules v2, with its verdict, rule, values and count by the registered v3
    beside (:class:`Rules`, :class:`SeedRules`)."""
    v3 = _all_claims(stats, SeedRules())[[*KEYS, *BESIDE_V3]]
    table = _all_claims(stats, Rules()).merge(v3.rename(columns={c: f"{c}_v3" for c in BESIDE_V3}), on=KEYS,
                                              how="left")
    return table[CLAIMS_COLUMNS]


def _all_claims(stats, rules):
    """Every claim, then (ids with a ``b``) the claims that read conv layers again without each
    conv model's first conv layer, whose spatial-mean unit is affine in the pixels, so that
    its AM image is a flat colour (docs/CHOICES.md): the verdicts that rest on it alone show."""
    claims = _claims(stats, rules)
    reduced = _claims(_without_first_conv(stats), rules)
    reduced = reduced[reduced.claim_id.isin(READS_CONV_LAYERS)]
    acronym = reduced.claim.str[1].str.isupper()  # "IAM gives ..." keeps its capital
    first = reduced.claim.str[0].where(acronym, reduced.claim.str[0].str.lower())
    reduced = reduced.assign(claim_id=reduced.claim_id + "b",
                             claim="Without the first conv layer: " + first + reduced.claim.str[1:])
    return pd.concat([claims, reduced], ignore_index=True)


READS_CONV_LAYERS = ("C1", "C2", "C4", "E1", "E2", "E3", "E4", "E5")  # the claims over several layers, conv ones among them


def _without_first_conv(stats):
    """The statistics of the models that have conv layers, less each one's first conv layer."""
    conv = stats[stats.kind == CONV]
    firsts = conv.loc[conv.groupby(["dataset", "model"]).depth.idxmin(), ["dataset", "model", "layer"]]
    marked = stats.merge(firsts.assign(first=True), on=["dataset", "model", "layer"], how="left")
    models = stats.merge(firsts[["dataset", "model"]].assign(conv=True), on=["dataset", "model"], how="left")
    return stats[marked["first"].isna().to_numpy() & models["conv"].notna().to_numpy()]


def _claims(stats: pd.DataFrame, rules) -> pd.DataFrame:
    """C1 on RS of each source (AM, IAM, noise, top image); the other RS claims on IAM, the
    paper's, and on noise and the top image, where the evidence needs no optimisation."""
    names = {rs: METHOD_NAMES[rs] for rs in RS_SOURCES}
    beyond = [m for m in RS_SOURCES if m != "am"]
    rows = [
        *(row for m in RS_SOURCES for row in _correlation_claim(
            stats, rules, "C1", f"High-selectivity units have high RS ({names[m]})", "selectivity", f"rs_{m}", +1)),
        *(row for m in RS_SOURCES for row in _correlation_claim(
            stats, rules, "C1a", f"In the early conv layers (the first half), high-selectivity units have high RS "
            f"({names[m]})", "selectivity", f"rs_{m}", +1, layers=early_conv_layers)),
        *(row for m in beyond for row in fades_with_depth(stats, rules, f"rs_{m}")),
        *fc_before_classifier(stats, rules),
        *iam_below_am(stats, rules),
        *mlp_low_diversity(stats, rules),
        *(row for m in beyond for row in _correlation_claim(
            stats, rules, "E1", f"Extension: high-RS units are unimportant, ablating one costs little accuracy "
            f"({names[m]})", f"rs_{m}", "accuracy_drop", -1)),
        *_correlation_claim(stats, rules, "E2", "Extension: high-selectivity units are unimportant", "selectivity",
                            "accuracy_drop", -1),
        *_correlation_claim(stats, rules, "E4", "Extension (Zhou et al. 2018): ablating a unit hurts its preferred "
                            "class most, more often than chance", "preferred_class", "max_drop_class", +1,
                            statistic="class_match"),
        *_correlation_claim(stats, rules, "E5", "Extension (Zhou et al. 2018): high-selectivity units cost their "
                            "most-hurt class more", "selectivity", "max_class_accuracy_drop", +1),
        *batch_norm_reliance(stats, rules),
        *(row for m in beyond for row in _correlation_claim(
            stats, rules, "E3", f"Extension: RS predicts importance beyond magnitude, high-RS units being "
            f"unimportant with mean activation held fixed ({names[m]})", f"rs_{m}", "accuracy_drop", -1,
            statistic="partial_spearman")),
    ]
    return pd.DataFrame(rows, columns=CLAIMS_COLUMNS[:9])


def verdicts_by_step(stats: pd.DataFrame, trajectory: pd.DataFrame, claims: pd.DataFrame) -> pd.Series:
    """Each claim's verdict with RS (AM, IAM) as it stood at each recorded AM step, by the same
    rules: "0: reproduced; 1: ...; 64: contradicted" per row of ``claims``. Step 0 is the
    starting noise, the last step the final images (so the last verdict is the claim's own)."""
    tracked = {c for c in {*trajectory.x, *trajectory.y} if str(c).startswith("rs_")}  # rs_am, rs_iam
    reads_rs = stats.x.isin(tracked) | stats.y.isin(tracked)
    keys = KEYS
    by_step = {}
    for step, rows in trajectory.groupby("step", sort=True):
        at = claims_table(pd.concat([stats[~reads_rs], rows.drop(columns="step")], ignore_index=True))
        by_step[step] = at.set_index(keys).verdict
    return pd.Series(["; ".join(f"{step}: {verdicts.get(tuple(row), 'none')}" for step, verdicts in by_step.items())
                      for row in claims[keys].itertuples(index=False)], index=claims.index, dtype=object)
