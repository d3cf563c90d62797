"""The paper's claims, each tested by a stated rule on the pooled statistics.

Verdicts are computed here from the data, never typed in. Every rule is a
sentence in the table, so a reader can check it against the numbers.
"""

import numpy as np
import pandas as pd

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
VERDICT_COLOURS = {REPRODUCED: "#4daf4a", NOT_REPRODUCED: "#e41a1c", INCONCLUSIVE: "#bdbdbd"}  # figures and pages


def _spearman(stats, x, y, statistic="spearman"):
    rows = stats[(stats.seed == "pooled") & (stats.statistic == statistic) & (stats.x == x) & (stats.y == y)]
    return rows.sort_values("depth")


def _described(stats, statistic, x):
    rows = stats[(stats.seed == "pooled") & (stats.statistic == statistic) & (stats.x == x)]
    return rows.sort_values("depth")


def _fmt(value):
    return "nan" if pd.isna(value) else f"{value:.3g}"


def _with_ci(rows):
    return "; ".join(f"{r.layer} {_fmt(r.value)} [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]" for r in rows.itertuples())


def _majority_sign(rows, sign):
    """Verdict for 'r has this sign' (CI on that side of 0 in most layers / in none) and the
    count it rests on."""
    side = rows.ci_low > 0 if sign > 0 else rows.ci_high < 0
    count = (f"CI {'above' if sign > 0 else 'below'} 0 in {int(side.sum())} of {len(rows)} layers "
             f"({int(rows.value.notna().sum())} with a defined r)")
    if len(rows) and side.sum() > len(rows) / 2:
        return REPRODUCED, count
    return (NOT_REPRODUCED if side.sum() == 0 else INCONCLUSIVE), count


def _correlation_claim(stats, claim_id, claim, x, y, sign, statistic="spearman"):
    direction = "above" if sign > 0 else "below"
    given = " | mean_activation" if statistic == "partial_spearman" else ""
    for (dataset, model), rows in _spearman(stats, x, y, statistic).groupby(["dataset", "model"], sort=True):
        verdict, count = _majority_sign(rows, sign)
        yield {
            "claim_id": claim_id, "claim": claim, "dataset": dataset, "model": model,
            "statistic": f"{'partial ' if given else ''}Spearman r({x}, {y}{given}) per layer [95% CI], "
                         f"dead units excluded",
            "values": _with_ci(rows), "key_statistic": count, "verdict": verdict,
            "rule": f"reproduced if the 95% CI lies {direction} 0 in more than half of the layers (a layer "
                    f"where r is undefined, as a score never varies, counts against); not reproduced if in none; "
                    f"otherwise inconclusive",
        }


def fades_with_depth(stats):
    rule = ("reproduced if the first conv layer's CI lies above 0 and the last conv layer's r is below "
            "the first's; not reproduced if the first conv layer's r <= 0 or the last's r >= the first's; "
            "otherwise inconclusive; tested where at least two conv layers were analysed")
    rows = _spearman(stats, "selectivity", "rs_iam")
    for (dataset, model), group in rows[rows.layer.str.startswith("conv")].groupby(["dataset", "model"], sort=True):
        if len(group) < 2:
            continue
        first, last = group.iloc[0], group.iloc[-1]
        if first.ci_low > 0 and last.value < first.value:
            verdict = REPRODUCED
        elif not first.value > 0 or not last.value < first.value:
            verdict = NOT_REPRODUCED
        else:
            verdict = INCONCLUSIVE
        yield {"claim_id": "C2", "claim": "The RS/selectivity correlation is positive in early conv layers "
               "and fades with depth", "dataset": dataset, "model": model,
               "statistic": "Spearman r(selectivity, rs_iam) per conv layer [95% CI]",
               "values": _with_ci(group), "key_statistic": f"r {first.layer} {_fmt(first.value)}, "
                                                           f"{last.layer} {_fmt(last.value)}",
               "verdict": verdict, "rule": rule}


def fc_before_classifier(stats):
    rule = ("reproduced if over half of this layer's RS (IAM) values are 0 and its mean selectivity exceeds "
            "the mean over the model's other layers; not reproduced if neither holds; otherwise inconclusive")
    selectivity = _described(stats, "mean", "selectivity")
    zeros = _described(stats, "fraction_zero", "rs_iam")
    for (dataset, model), group in selectivity.groupby(["dataset", "model"], sort=True):
        last = group.iloc[-1]
        if not last.layer.startswith("fc") or len(group) < 2:
            continue
        zero = zeros[(zeros.dataset == dataset) & (zeros.model == model) & (zeros.layer == last.layer)]
        fraction_zero = zero.value.iloc[0] if len(zero) else np.nan
        others = group.iloc[:-1].value.mean()
        holds = [fraction_zero > 0.5, last.value > others]
        verdict = REPRODUCED if all(holds) else NOT_REPRODUCED if not any(holds) else INCONCLUSIVE
        yield {"claim_id": "C3", "claim": "In the FC layer before the classifier, selectivity is high and RS "
               "is mostly 0", "dataset": dataset, "model": model,
               "statistic": "fraction of RS (IAM) = 0; mean selectivity of the layer vs the other layers",
               "values": f"{last.layer}: fraction RS=0 {_fmt(fraction_zero)}; mean selectivity "
                         f"{_fmt(last.value)} vs {_fmt(others)} in the other layers",
               "key_statistic": f"RS=0 {_fmt(fraction_zero)}; selectivity {_fmt(last.value)} vs {_fmt(others)}",
               "verdict": verdict, "rule": rule}


def iam_below_am(stats):
    rule = ("reproduced if mean RS (IAM) < mean RS (AM) in more than half of the layers; not reproduced if "
            ">= in more than half; otherwise inconclusive")
    am, iam = _described(stats, "mean", "rs_am"), _described(stats, "mean", "rs_iam")
    both = am.merge(iam, on=["dataset", "model", "depth", "layer"], suffixes=("_am", "_iam"))
    for (dataset, model), group in both.groupby(["dataset", "model"], sort=True):
        lower = (group.value_iam < group.value_am).sum()
        verdict = (REPRODUCED if lower > len(group) / 2 else
                   NOT_REPRODUCED if len(group) - lower > len(group) / 2 else INCONCLUSIVE)
        values = "; ".join(f"{r.layer} AM {_fmt(r.value_am)} IAM {_fmt(r.value_iam)}" for r in group.itertuples())
        yield {"claim_id": "C4", "claim": "IAM gives slightly lower RS than AM", "dataset": dataset,
               "model": model, "statistic": "mean RS per layer, AM vs IAM", "values": values,
               "key_statistic": f"IAM < AM in {int(lower)} of {len(group)} layers", "verdict": verdict,
               "rule": rule}


def mlp_low_diversity(stats):
    rule = ("reproduced if the MLP's mean per-layer sd of RS (IAM) is below that of the conv layers of the "
            "conv models on the same data; not reproduced if above; inconclusive without a conv model")
    spread = _described(stats, "std", "rs_iam")
    for dataset, group in spread.groupby("dataset", sort=True):
        conv = group[(group.architecture != "mlp") & group.layer.str.startswith("conv")]
        conv_sd = conv.value.mean() if len(conv) else np.nan
        for model, mlp in group[group.architecture == "mlp"].groupby("model", sort=True):
            mlp_sd = mlp.value.mean()
            verdict = INCONCLUSIVE if np.isnan(conv_sd) else REPRODUCED if mlp_sd < conv_sd else NOT_REPRODUCED
            yield {"claim_id": "C5", "claim": "The MLP shows little RS diversity", "dataset": dataset,
                   "model": model, "statistic": "sd of RS (IAM) per layer, MLP vs conv layers of the conv models",
                   "values": f"MLP {'; '.join(f'{r.layer} {_fmt(r.value)}' for r in mlp.itertuples())}; "
                             f"conv layers mean {_fmt(conv_sd)}",
                   "key_statistic": f"sd {_fmt(mlp_sd)} vs {_fmt(conv_sd)}", "verdict": verdict, "rule": rule}


CLAIMS_COLUMNS = ["claim_id", "claim", "dataset", "model", "statistic", "values", "key_statistic", "verdict", "rule"]


def claims_table(stats: pd.DataFrame) -> pd.DataFrame:
    """Every claim, then (ids with a ``b``) the claims that read conv layers again without each
    conv model's first conv layer, whose spatial-mean unit is affine in the pixels, so that
    its AM image is a flat colour (docs/CHOICES.md): the verdicts that rest on it alone show."""
    claims = _claims(stats)
    reduced = _claims(_without_first_conv(stats))
    reduced = reduced[reduced.claim_id.isin(READS_CONV_LAYERS)]
    acronym = reduced.claim.str[1].str.isupper()  # "IAM gives ..." keeps its capital
    first = reduced.claim.str[0].where(acronym, reduced.claim.str[0].str.lower())
    reduced = reduced.assign(claim_id=reduced.claim_id + "b",
                             claim="Without the first conv layer: " + first + reduced.claim.str[1:])
    return pd.concat([claims, reduced], ignore_index=True)


READS_CONV_LAYERS = ("C1", "C2", "C4", "E1", "E2", "E3")  # the claims over several layers, conv ones among them


def _without_first_conv(stats):
    """The statistics of the models that have conv layers, less each one's first conv layer."""
    conv = stats[stats.layer.str.startswith("conv")]
    firsts = conv.loc[conv.groupby(["dataset", "model"]).depth.idxmin(), ["dataset", "model", "layer"]]
    marked = stats.merge(firsts.assign(first=True), on=["dataset", "model", "layer"], how="left")
    models = stats.merge(firsts[["dataset", "model"]].assign(conv=True), on=["dataset", "model"], how="left")
    return stats[marked["first"].isna().to_numpy() & models["conv"].notna().to_numpy()]


def _claims(stats: pd.DataFrame) -> pd.DataFrame:
    rows = [
        *_correlation_claim(stats, "C1", "High-selectivity units have high RS (AM)", "selectivity", "rs_am", +1),
        *_correlation_claim(stats, "C1", "High-selectivity units have high RS (IAM)", "selectivity", "rs_iam", +1),
        *fades_with_depth(stats),
        *fc_before_classifier(stats),
        *iam_below_am(stats),
        *mlp_low_diversity(stats),
        *_correlation_claim(stats, "E1", "Extension: high-RS units are unimportant (ablating one costs "
                            "little accuracy)", "rs_iam", "accuracy_drop", -1),
        *_correlation_claim(stats, "E2", "Extension: high-selectivity units are unimportant", "selectivity",
                            "accuracy_drop", -1),
        *_correlation_claim(stats, "E3", "Extension: RS predicts importance beyond magnitude (high-RS units are "
                            "unimportant with mean activation held fixed)", "rs_iam", "accuracy_drop", -1,
                            statistic="partial_spearman"),
    ]
    return pd.DataFrame(rows, columns=CLAIMS_COLUMNS)


def verdicts_by_step(stats: pd.DataFrame, trajectory: pd.DataFrame, claims: pd.DataFrame) -> pd.Series:
    """Each claim's verdict with RS (AM, IAM) as it stood at each recorded AM step, by the same
    rules: "0: reproduced; 1: ...; 64: not reproduced" per row of ``claims``. Step 0 is the
    starting noise, the last step the final images (so the last verdict is the claim's own)."""
    tracked = {c for c in {*trajectory.x, *trajectory.y} if str(c).startswith("rs_")}  # rs_am, rs_iam
    reads_rs = stats.x.isin(tracked) | stats.y.isin(tracked)
    keys = ["claim_id", "claim", "dataset", "model"]
    by_step = {}
    for step, rows in trajectory.groupby("step", sort=True):
        at = claims_table(pd.concat([stats[~reads_rs], rows.drop(columns="step")], ignore_index=True))
        by_step[step] = at.set_index(keys).verdict
    return pd.Series(["; ".join(f"{step}: {verdicts.get(tuple(row), 'none')}" for step, verdicts in by_step.items())
                      for row in claims[keys].itertuples(index=False)], index=claims.index, dtype=object)
