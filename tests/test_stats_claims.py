import numpy as np
import pandas as pd
import pytest

from repsub.claims import NOT_REPRODUCED, REPRODUCED, claims_table
from repsub.stats import layer_statistics, partial_spearman, pool_seeds, spearman


def test_spearman_reports_n_r_ci_and_p():
    x = np.arange(20.0)
    result = spearman(x, x ** 3)
    assert result["n"] == 20 and result["r"] == pytest.approx(1.0)
    result = spearman(x, np.r_[x[:10], x[:10]])
    assert result["ci_low"] < result["r"] < result["ci_high"] and 0 < result["p"] < 1
    assert np.isnan(spearman(x, np.ones(20))["r"])  # constant input: undefined, not an error


def test_partial_spearman_equals_the_correlation_of_rank_residuals():
    """By hand: rank x, y and z, take the residuals of x's and y's ranks regressed on z's,
    and correlate the residuals."""
    from scipy.stats import rankdata

    rng = np.random.default_rng(3)
    z = rng.normal(size=40)
    x, y = z + rng.normal(size=40), z ** 3 + rng.normal(size=40)
    rx, ry, rz = rankdata(x), rankdata(y), rankdata(z)
    design = np.column_stack([np.ones(40), rz])
    residual = [r - design @ np.linalg.lstsq(design, r, rcond=None)[0] for r in (rx, ry)]
    expected = np.corrcoef(*residual)[0, 1]
    result = partial_spearman(x, y, z)
    assert result["r"] == pytest.approx(expected, abs=1e-12) and result["n"] == 40
    assert result["ci_low"] < result["r"] < result["ci_high"]
    assert abs(result["r"]) < abs(spearman(x, y)["r"])  # much of the plain correlation came through z


def synthetic_units(r_sign, seeds=(0,), n=60):
    rng = np.random.default_rng(0)
    rows = []
    for seed in seeds:
        for depth, layer in enumerate(["conv1", "conv2", "fc1"], start=1):
            selectivity = rng.uniform(0, 1, n)
            noise = rng.normal(0, 0.05, n)
            rs = np.clip(0.5 + r_sign * (selectivity - 0.5) / depth + noise, 0, 1)
            rows.append(pd.DataFrame({
                "dataset": "d", "model": "shallow_cnn", "architecture": "shallow_cnn", "seed": seed, "depth": depth, "layer": layer,
                "unit": np.arange(n), "selectivity": selectivity, "dead": np.arange(n) < 2,
                "rs_am": rs, "rs_iam": rs * 0.9, "accuracy_drop": -r_sign * rs + noise,
                "mean_activation": rng.uniform(0, 1, n),
            }))
    return pd.concat(rows, ignore_index=True)


def test_dead_units_are_excluded_and_counted():
    stats = layer_statistics(synthetic_units(+1))
    row = stats[(stats.statistic == "spearman") & (stats.x == "selectivity") & (stats.y == "rs_iam")].iloc[0]
    assert row.n == 58 and row.n_excluded == 2


def test_pooling_over_seeds_gives_mean_and_spread():
    stats = pool_seeds(layer_statistics(synthetic_units(+1, seeds=(0, 1, 2))))
    pooled = stats[(stats.seed == "pooled") & (stats.statistic == "spearman") & (stats.y == "rs_iam")
                   & (stats.x == "selectivity") & (stats.layer == "conv1")].iloc[0]
    per_seed = stats[(stats.seed.isin(["0", "1", "2"])) & (stats.statistic == "spearman") & (stats.y == "rs_iam")
                     & (stats.x == "selectivity") & (stats.layer == "conv1")]
    assert pooled.value == pytest.approx(per_seed.value.mean())
    assert pooled.n_seeds == 3 and pooled.seed_sd > 0 and pooled.ci_low < pooled.value < pooled.ci_high


def verdicts(units):
    claims = claims_table(pool_seeds(layer_statistics(units)))
    return claims.set_index(["claim_id", "claim"]).verdict


def test_claims_follow_the_data_both_ways():
    positive = verdicts(synthetic_units(+1))
    negative = verdicts(synthetic_units(-1))
    c1 = "High-selectivity units have high RS (IAM)"
    assert positive[("C1", c1)] == REPRODUCED and negative[("C1", c1)] == NOT_REPRODUCED
    fades = [k for k in positive.index if k[0] == "C2"][0]
    assert positive[fades] == REPRODUCED and negative[fades] == NOT_REPRODUCED
    iam_below = [k for k in positive.index if k[0] == "C4"][0]
    assert positive[iam_below] == REPRODUCED
    e1 = [k for k in positive.index if k[0] == "E1"][0]
    assert positive[e1] == REPRODUCED and negative[e1] == NOT_REPRODUCED
    e3 = [k for k in positive.index if k[0] == "E3"][0]  # magnitude is noise here: E3 follows E1
    assert positive[e3] == REPRODUCED and negative[e3] == NOT_REPRODUCED


def test_e3_fails_when_magnitude_explains_the_rs_effect():
    """Both RS and the accuracy drop follow mean activation alone: E1 looks reproduced, but
    with mean activation held fixed nothing is left, and E3 says so."""
    units = synthetic_units(+1)
    rng = np.random.default_rng(1)
    units["mean_activation"] = rng.normal(0, 1, len(units))
    units["rs_iam"] = -units.mean_activation + rng.normal(0, 0.5, len(units))
    units["accuracy_drop"] = units.mean_activation + rng.normal(0, 0.5, len(units))
    claims = verdicts(units)
    assert claims[[k for k in claims.index if k[0] == "E1"][0]] == REPRODUCED
    assert claims[[k for k in claims.index if k[0] == "E3"][0]] == NOT_REPRODUCED


def test_partial_rows_name_their_covariate_and_pool_over_seeds():
    stats = pool_seeds(layer_statistics(synthetic_units(+1, seeds=(0, 1))))
    partial = stats[stats.statistic == "partial_spearman"]
    assert set(zip(partial.x, partial.y)) == {("selectivity", "rs_am"), ("selectivity", "rs_iam"),
                                              ("rs_am", "accuracy_drop"), ("rs_iam", "accuracy_drop")}
    assert set(partial.covariate) == {"mean_activation"} and set(partial.seed) == {"0", "1", "pooled"}


def test_every_claim_row_states_its_rule_and_values():
    claims = claims_table(pool_seeds(layer_statistics(synthetic_units(+1))))
    assert {"C1", "C2", "C3", "C4", "E1", "E2", "E3"} <= set(claims.claim_id)
    assert claims.rule.str.len().min() > 40 and claims["values"].str.len().min() > 5
    assert set(claims.verdict) <= {"reproduced", "not reproduced", "inconclusive"}


def test_a_score_that_never_varies_counts_against_the_claim_and_is_reported():
    """RS = 0 for every unit of one layer (as in the MLP's first layer): r is undefined there,
    the layer counts against the claim (the rule fixed before any result was seen), and the
    key statistic says how many layers had a defined r."""
    units = synthetic_units(+1)
    units.loc[units.layer == "conv1", "rs_iam"] = 0.0
    claims = claims_table(pool_seeds(layer_statistics(units))).set_index("claim")
    row = claims.loc["High-selectivity units have high RS (IAM)"]
    assert row.key_statistic == "CI above 0 in 2 of 3 layers (2 with a defined r)"
    assert row.verdict == REPRODUCED  # 2 of 3 is more than half
    units.loc[units.layer == "conv2", "rs_iam"] = 0.0
    row = claims_table(pool_seeds(layer_statistics(units))).set_index("claim").loc[
        "High-selectivity units have high RS (IAM)"]
    assert row.verdict == "inconclusive" and row.key_statistic.endswith("(1 with a defined r)")


def test_depth_claim_needs_two_conv_layers():
    one_conv = synthetic_units(+1).query("layer != 'conv2'")
    assert "C2" not in set(claims_table(pool_seeds(layer_statistics(one_conv))).claim_id)


def test_robustness_lines_up_each_claim_across_variants_with_its_layers():
    from repsub.robustness import robustness_table

    base = claims_table(pool_seeds(layer_statistics(synthetic_units(+1))))
    fc_only = claims_table(pool_seeds(layer_statistics(synthetic_units(-1).query("layer == 'fc1'"))))
    coverage = {"base": {"shallow_cnn": {"layers": ["conv1", "conv2", "fc1"], "seeds": [0]}},
                "fc_only": {"shallow_cnn": {"layers": ["fc1"], "seeds": [0]}}}
    table = robustness_table({"base": base, "fc_only": fc_only}, coverage)
    assert list(dict.fromkeys(table.variant)) == ["base", "fc_only"]
    assert len(table) == len(base) + len(fc_only)
    assert {"C1 AM", "C1 IAM", "C2", "E1"} <= set(table.label)
    rows = table.set_index(["variant", "label"])
    assert rows.loc[("base", "C1 IAM"), "verdict"] == REPRODUCED
    assert rows.loc[("fc_only", "C1 IAM"), "verdict"] == NOT_REPRODUCED
    assert rows.loc[("fc_only", "C1 IAM"), "layers"] == "fc1" and not rows.loc[("fc_only", "C1 IAM"), "all_layers"]
    assert rows.loc[("base", "C1 IAM"), "all_layers"]


def test_claims_over_conv_layers_are_also_made_without_the_first_conv_layer():
    """conv1's unit is affine in the pixels: C1, C2, C4 and E1-E3 come again (ids with b) from
    conv2 on (C2b only where two conv layers are left: not here); an MLP gets no b claims."""
    units = synthetic_units(+1)
    mlp = units[units.layer == "fc1"].assign(model="mlp", architecture="mlp")
    claims = claims_table(pool_seeds(layer_statistics(pd.concat([units, mlp], ignore_index=True))))
    cnn = claims[claims.model == "shallow_cnn"].set_index("claim_id")
    assert set(cnn.index) >= {"C1b", "C4b", "E1b", "E2b", "E3b"} and not {"C2b", "C3b"} & set(cnn.index)
    assert "conv1" in cnn.loc["E2", "values"] and "conv1" not in cnn.loc["E2b", "values"]
    assert cnn.loc["E2b", "claim"].startswith("Without the first conv layer: extension")
    assert not claims[claims.model == "mlp"].claim_id.str.endswith("b").any()
