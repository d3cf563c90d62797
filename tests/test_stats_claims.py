import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from repsub.claims import CONTRADICTED, INCONCLUSIVE, REPRODUCED, claims_table, holm
from repsub.errors import UserError
from repsub.stats import (fisher_interval, layer_statistics, mean_over_seeds, paule_mandel, partial_spearman, pool_seeds,
                          spearman)


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
                "kind": "vector" if layer == "fc1" else "conv",
                "unit": np.arange(n), "selectivity": selectivity, "dead": np.arange(n) < 2,
                "rs_am": rs, "rs_iam": rs * 0.9, "rs_noise": rs[::-1].copy(), "rs_top_image": rs ** 2,
                "accuracy_drop": -r_sign * rs + noise,
                "mean_activation": rng.uniform(0, 1, n),
            }))
    return pd.concat(rows, ignore_index=True)


def test_dead_units_are_excluded_and_counted():
    stats = layer_statistics(synthetic_units(+1))
    row = stats[(stats.statistic == "spearman") & (stats.x == "selectivity") & (stats.y == "rs_iam")].iloc[0]
    assert row.n == 58 and row.n_excluded == 2


def _conv1_rows(stats):
    rows = stats[(stats.statistic == "spearman") & (stats.y == "rs_iam") & (stats.x == "selectivity")
                 & (stats.layer == "conv1")]
    return rows.set_index("seed")


def test_pooling_over_seeds_by_random_effects():
    stats = pool_seeds(layer_statistics(synthetic_units(+1, seeds=(0, 1, 2))))
    rows = _conv1_rows(stats)
    per_seed, pooled = rows.loc[["0", "1", "2"]], rows.loc["pooled"]
    assert set(rows.index) == {"0", "1", "2", "pooled"}
    assert pooled.n_seeds == 3 and pooled.seed_sd > 0 and pooled.ci_low < pooled.value < pooled.ci_high
    assert per_seed.value.min() <= pooled.value <= per_seed.value.max()


def test_a_table_written_before_rules_v1_retired_reads_as_the_current_one():
    """Tables of earlier releases hold rules v1's pooled rows (seed ``pooled_v1``): they are
    never taken for a seed, so the restatement and the claims are those of the table without them."""
    from repsub.stats import RETIRED_POOLED, restate

    stats = pool_seeds(layer_statistics(synthetic_units(+1, seeds=(0, 1, 2))))
    older = pd.concat([stats, stats[stats.seed == "pooled"].assign(seed=RETIRED_POOLED, value=0.99)],
                      ignore_index=True)
    pd.testing.assert_frame_equal(restate(older), restate(stats))
    pd.testing.assert_frame_equal(claims_table(restate(older)), claims_table(stats))


def _seeds_agreeing(r, n, seeds=3):
    return pd.DataFrame({"dataset": "d", "model": "m", "architecture": "m", "depth": 1, "layer": "conv1", "kind": "conv",
                         "statistic": "spearman", "x": "selectivity", "y": "rs_iam", "covariate": "",
                         "seed": range(seeds), "n": n, "n_excluded": 0, "value": r, "ci_low": np.nan,
                         "ci_high": np.nan, "p": np.nan})


def test_seeds_that_happen_to_agree_cannot_narrow_the_interval_below_what_their_units_allow():
    """Three seeds of 60 units with r = 0.3 each: a t interval over the seeds' r (the first
    release's rule) has width 0; the random-effects interval is no narrower than the fixed-effect
    interval of all 180 units' information, and wider by the t quantile of 2 degrees of freedom."""
    from scipy.stats import norm, t

    naive = mean_over_seeds(pd.Series([0.3] * 3))
    assert naive["ci_high"] - naive["ci_low"] == pytest.approx(0)
    pooled = pool_seeds(_seeds_agreeing(0.3, 60)).set_index("seed")
    assert pooled.loc["pooled", "tau2"] == 0 and pooled.loc["pooled", "value"] == pytest.approx(0.3)
    within = 1.06 / (60 - 3)
    fixed_half = norm.ppf(0.975) * np.sqrt(within / 3)
    half = np.arctanh(pooled.loc["pooled", "ci_high"]) - np.arctanh(0.3)
    assert half == pytest.approx(t.ppf(0.975, 2) * np.sqrt(within / 3)) and half > fixed_half


def test_paule_mandel_sets_the_weighted_deviations_to_their_degrees_of_freedom():
    z, within = np.array([0.1, 0.5, 0.9]), np.array([0.01, 0.02, 0.015])
    tau2 = paule_mandel(z, within)
    weights = 1 / (within + tau2)
    mean = np.sum(weights * z) / weights.sum()
    assert tau2 > 0 and np.sum(weights * (z - mean) ** 2) == pytest.approx(2, abs=1e-9)
    assert paule_mandel(np.array([0.3, 0.31, 0.29]), within) == 0  # seeds closer than their units allow


def test_holm_adjusts_step_down_and_keeps_order():
    adjusted = holm([0.01, 0.04, 0.03, np.nan])
    # family of 4 (the undefined layer counts): 0.01*4, then max(0.04, 0.03*3), then max(0.09, 0.04*2)
    assert adjusted.tolist()[:3] == pytest.approx([0.04, 0.09, 0.09]) and np.isnan(adjusted.iloc[3])


def _tied(values, levels):
    """Values cut into ``levels`` equally likely steps in [0, 1], tied like RS."""
    from scipy.stats import norm

    return np.floor(norm.cdf(values) * levels).clip(max=levels - 1) / (levels - 1)


def _spearman_rows(x, y):
    from scipy.stats import rankdata

    rx, ry = rankdata(x, axis=-1), rankdata(y, axis=-1)
    rx, ry = rx - rx.mean(-1, keepdims=True), ry - ry.mean(-1, keepdims=True)
    return (rx * ry).sum(-1) / np.sqrt((rx ** 2).sum(-1) * (ry ** 2).sum(-1))


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("n", [30, 200])
@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_spearman_interval_covers_the_true_value_about_95_percent_of_the_time(rho, n, tied):
    """2,000 samples of n units from a bivariate normal whose Spearman correlation is rho
    (Pearson 2 sin(pi rho / 6)); tied: y cut into 5 values, as RS takes few values, whose
    Spearman correlation is found from one sample of a million. Coverage within 92-97%."""
    rng = np.random.default_rng(int(rho * 10) * 1000 + n + tied)
    pearson = 2 * np.sin(np.pi * rho / 6)

    def sample(size, count):
        x = rng.normal(size=(count, size))
        y = pearson * x + np.sqrt(1 - pearson ** 2) * rng.normal(size=(count, size))
        return x, (_tied(y, 5) if tied else y)

    truth = _spearman_rows(*sample(1_000_000, 1))[0] if tied else rho
    r = _spearman_rows(*sample(n, 2000))
    interval = fisher_interval(r, n)
    coverage = np.mean((interval["ci_low"] <= truth) & (truth <= interval["ci_high"]))
    assert 0.92 <= coverage <= 0.97, coverage
    assert np.array_equal(interval["p"] < 0.05, (interval["ci_low"] > 0) | (interval["ci_high"] < 0))


def verdicts(units):
    claims = claims_table(pool_seeds(layer_statistics(units)))
    return claims.set_index(["claim_id", "claim"]).verdict


def test_claims_follow_the_data_both_ways():
    positive = verdicts(synthetic_units(+1))
    negative = verdicts(synthetic_units(-1))
    c1 = "High-selectivity units have high RS (IAM)"
    assert positive[("C1", c1)] == REPRODUCED and negative[("C1", c1)] == CONTRADICTED
    fades = [k for k in positive.index if k[0] == "C2"][0]
    assert positive[fades] == REPRODUCED and negative[fades] == CONTRADICTED
    iam_below = [k for k in positive.index if k[0] == "C4"][0]
    assert positive[iam_below] == REPRODUCED
    e1 = [k for k in positive.index if k[0] == "E1"][0]
    assert positive[e1] == REPRODUCED and negative[e1] == CONTRADICTED
    e3 = [k for k in positive.index if k[0] == "E3"][0]  # magnitude is noise here: E3 follows E1
    assert positive[e3] == REPRODUCED and negative[e3] == CONTRADICTED


def test_e3_fails_when_magnitude_explains_the_rs_effect():
    """Both RS and the accuracy drop follow mean activation alone: E1 looks reproduced, but
    with mean activation held fixed nothing is left, and E3 says so."""
    units = synthetic_units(+1)
    rng = np.random.default_rng(1)
    units["mean_activation"] = rng.normal(0, 1, len(units))
    units["rs_iam"] = -units.mean_activation + rng.normal(0, 0.5, len(units))
    units["accuracy_drop"] = units.mean_activation + rng.normal(0, 0.5, len(units))
    claims = verdicts(units)
    assert claims[("E1", "Extension: high-RS units are unimportant, ablating one costs little accuracy (IAM)")] \
        == REPRODUCED
    e3 = ("E3", "Extension: RS predicts importance beyond magnitude, high-RS units being unimportant with mean "
                "activation held fixed (IAM)")
    assert claims[e3] == INCONCLUSIVE  # no evidence either way once magnitude is held fixed


def test_partial_rows_name_their_covariate_and_pool_over_seeds():
    stats = pool_seeds(layer_statistics(synthetic_units(+1, seeds=(0, 1))))
    partial = stats[stats.statistic == "partial_spearman"]
    assert set(zip(partial.x, partial.y)) == {(x, y) for m in ("am", "iam", "noise", "top_image")
                                              for x, y in (("selectivity", f"rs_{m}"), (f"rs_{m}", "accuracy_drop"))}
    assert set(partial.covariate) == {"mean_activation"} and set(partial.seed) == {"0", "1", "pooled"}


def test_every_claim_row_states_its_rule_and_values():
    claims = claims_table(pool_seeds(layer_statistics(synthetic_units(+1))))
    assert {"C1", "C2", "C3", "C4", "E1", "E2", "E3"} <= set(claims.claim_id)
    assert claims.rule.str.len().min() > 40 and claims["values"].str.len().min() > 5
    assert set(claims.verdict) <= {"reproduced", "contradicted", "inconclusive"}
    assert set(claims.verdict_v3) <= {"reproduced", "contradicted", "inconclusive", "absent"}
    assert claims.rule_v3.str.len().min() > 40 and not [c for c in claims if c.endswith("_v1")]  # v1 retired


def test_a_score_that_never_varies_counts_against_the_claim_and_is_reported():
    """RS = 0 for every unit of one layer (as in the MLP's first layer): r is undefined there,
    the layer counts against the claim (the rule fixed before any result was seen), and the
    key statistic says how many layers had a defined r."""
    units = synthetic_units(+1)
    units.loc[units.layer == "conv1", "rs_iam"] = 0.0
    claims = claims_table(pool_seeds(layer_statistics(units))).set_index("claim")
    row = claims.loc["High-selectivity units have high RS (IAM)"]
    assert row.key_statistic == ("Holm-adjusted p < 0.05 with r > 0 in 2 of 3 (conv2 fc1); with the opposite sign "
                                 "in 0 of 3 (none)")
    assert row.verdict == REPRODUCED  # 2 of 3 is more than half
    assert "conv1 nan [nan, nan] p_holm nan" in row["values"]
    units.loc[units.layer == "conv2", "rs_iam"] = 0.0
    row = claims_table(pool_seeds(layer_statistics(units))).set_index("claim").loc[
        "High-selectivity units have high RS (IAM)"]
    assert row.verdict == "inconclusive" and "in 1 of 3 (fc1)" in row.key_statistic


def test_depth_claim_needs_two_conv_layers():
    one_conv = synthetic_units(+1).query("layer != 'conv2'")
    assert "C2" not in set(claims_table(pool_seeds(layer_statistics(one_conv))).claim_id)


def test_robustness_lines_up_each_claim_across_variants_with_its_layers():
    from repsub.robustness import robustness_table

    base_stats = pool_seeds(layer_statistics(synthetic_units(+1)))
    base = claims_table(base_stats)
    fc_only = claims_table(pool_seeds(layer_statistics(synthetic_units(-1).query("layer == 'fc1'"))))
    coverage = {"base": {"shallow_cnn": {"layers": ["conv1", "conv2", "fc1"], "seeds": [0]}},
                "fc_only": {"shallow_cnn": {"layers": ["fc1"], "seeds": [0]}}}
    table = robustness_table({"base": base, "fc_only": fc_only}, coverage, base_stats)
    assert list(dict.fromkeys(table.variant)) == ["base", "fc_only", "c3_cut_40", "c3_cut_60"]
    assert len(table) == len(base) + len(fc_only) + 2  # C3 read at two other cuts
    assert {"C1 AM", "C1 IAM", "C1 noise", "C1 top image", "C2 IAM", "E1 IAM", "E2"} <= set(table.label)
    rows = table.set_index(["variant", "label"])
    assert rows.loc[("base", "C1 IAM"), "verdict"] == REPRODUCED
    assert rows.loc[("fc_only", "C1 IAM"), "verdict"] == CONTRADICTED
    assert rows.loc[("fc_only", "C1 IAM"), "layers"] == "fc1" and not rows.loc[("fc_only", "C1 IAM"), "all_layers"]
    assert rows.loc[("base", "C1 IAM"), "all_layers"]
    # beside each row, the base's verdict on that row's layers and seeds
    assert (table.base_verdict_same_coverage[table.variant == "base"] == base.verdict.to_numpy()).all()
    base_fc1 = claims_table(pool_seeds(layer_statistics(synthetic_units(+1).query("layer == 'fc1'"))))
    assert (table.base_verdict_same_coverage[table.variant == "fc_only"] == base_fc1.verdict.to_numpy()).all()
    assert rows.loc[("fc_only", "C1 IAM"), "base_verdict_same_coverage"] == REPRODUCED


def test_robustness_reads_c3_at_the_registered_cuts_beside_the_base():
    """44.5% of the shallow CNN's fc1 RS (IAM) is 0 and 50.8% of the control's: each C3 turns
    where the cut passes its share; at the rule's own cut (half) the base's verdict stands."""
    from repsub.io import read_table
    from repsub.robustness import c3_cut_rows
    from repsub.stats import STATS_COLUMNS

    committed = REPO / "docs" / "results" / "cifar10"
    stats = read_table(committed / "stats.csv", STATS_COLUMNS, "test")
    claims = pd.read_csv(committed / "claims.csv", keep_default_na=False, na_values=[""])
    coverage = {run: {"layers": ["fc1"], "seeds": [0, 1, 2]} for run in stats.model.unique()}
    rows = c3_cut_rows(claims, coverage, stats).set_index(["model", "variant"])
    assert rows.loc[("shallow_cnn", "c3_cut_40"), "verdict"] == REPRODUCED
    assert rows.loc[("shallow_cnn", "c3_cut_60"), "verdict"] == INCONCLUSIVE
    assert rows.loc[("shallow_cnn_lr005", "c3_cut_40"), "verdict"] == REPRODUCED
    assert rows.loc[("shallow_cnn_lr005", "c3_cut_60"), "verdict"] == INCONCLUSIVE
    assert rows.loc[("shallow_cnn_lr005", "c3_cut_60"), "base_verdict_same_coverage"] == REPRODUCED
    assert set(rows.label) == {"C3"} and (rows.verdict_v3 == rows.verdict).all()


def test_robustness_sets_a_one_seed_variant_beside_the_base_on_that_seed():
    """A variant run on seed 0 only is compared with the base pooled over its three seeds
    and with the base on seed 0 alone, recomputed from the base's per-seed rows."""
    from repsub.robustness import robustness_table

    units = pd.concat([synthetic_units(-1, seeds=(0,)), synthetic_units(+1, seeds=(1, 2))], ignore_index=True)
    base_stats = pool_seeds(layer_statistics(units))
    on_seed_0 = claims_table(pool_seeds(layer_statistics(units[units.seed == 0])))
    layers = ["conv1", "conv2", "fc1"]
    coverage = {"base": {"shallow_cnn": {"layers": layers, "seeds": [0, 1, 2]}},
                "seed0": {"shallow_cnn": {"layers": layers, "seeds": [0]}}}
    table = robustness_table({"base": claims_table(base_stats), "seed0": on_seed_0}, coverage, base_stats)
    seed0 = table[table.variant == "seed0"]
    assert (seed0.base_verdict_same_coverage == on_seed_0.verdict.to_numpy()).all()
    assert set(seed0.seeds) == {"0"}
    pooled = table[table.variant == "base"].set_index("label")
    assert seed0.set_index("label").loc["C1 IAM", "base_verdict_same_coverage"] == CONTRADICTED
    assert pooled.loc["C1 IAM", "verdict"] != CONTRADICTED


def test_robustness_covers_a_claim_that_compares_two_runs():
    """E6 names two runs ("cnn vs cnn_nobn"): its row takes the layers both analysed and the seeds of either."""
    from repsub.robustness import robustness_table

    claims = claims_table(batch_norm_rows(0.1))
    runs = {"cnn": {"layers": ["conv1", "conv2", "conv3"], "seeds": [0, 1, 2]},
            "cnn_nobn": {"layers": ["conv1", "conv2"], "seeds": [0, 1]}}
    table = robustness_table({"base": claims, "again": claims}, {"base": runs, "again": runs}, batch_norm_rows(0.1))
    e6 = table[table.claim_id == "E6"].set_index("variant")
    assert e6.loc["base", "model"] == "cnn vs cnn_nobn" and e6.loc["again", "verdict"] == REPRODUCED
    assert e6.loc["base", "layers"] == "conv1 conv2" and e6.loc["base", "seeds"] == "0 1 2"
    assert e6.all_layers.all()
    with pytest.raises(UserError, match="lacks the runs of variant again"):
        robustness_table({"base": claims, "again": claims}, {"base": runs, "again": {"cnn": runs["cnn"]}},
                         batch_norm_rows(0.1))


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
    assert not claims[claims.model == "mlp"].claim.str.startswith("Without the first conv layer").any()


def test_class_match_counts_the_preferred_class_hurt_most_against_chance():
    """Units whose ablation hurts no class leave; the share matching the preferred class is
    compared with chance from the marginals, and a permutation over units gives p."""
    from repsub.stats import class_match

    rng = np.random.default_rng(0)
    preferred = rng.choice(list("abcd"), 200)
    matched = pd.DataFrame({"preferred_class": preferred, "max_drop_class": preferred,
                            "max_class_accuracy_drop": 0.1})
    result = class_match(matched)
    chance = sum(np.mean(preferred == c) ** 2 for c in "abcd")
    assert result["n"] == 200 and result["r"] == pytest.approx(1 - chance)
    assert result["p"] < 0.001 and result["ci_low"] > 0
    independent = matched.assign(max_drop_class=rng.choice(list("abcd"), 200))
    assert class_match(independent)["p"] > 0.05
    unhurt = matched.assign(max_class_accuracy_drop=np.where(np.arange(200) < 150, 0.0, 0.1))
    assert class_match(unhurt)["n"] == 50


def test_the_ablation_table_names_no_class_where_no_class_lost_accuracy():
    from repsub.ablation import single_unit_table

    correct = np.array([[5.0, 5.0], [5.0, 5.0], [5.0, 4.0]])
    table = single_unit_table("fc1", [0, 1], np.zeros(3), correct, np.array([5.0, 5.0]), ["a", "b"])
    assert table.max_drop_class.tolist() == ["", "b"]


def test_stats_name_how_single_unit_ablation_computed(small_study, tmp_path):
    """Every stats row names the ablation's precision mode, read from the ablation tables'
    records: a checked low precision's loss increases are not strict fp32's."""
    import json
    import shutil

    from repsub.cli import main
    from test_bad_inputs import FILES, command

    results = shutil.copytree(small_study, tmp_path / "results")
    out = tmp_path / "out"
    out.mkdir()
    assert main([str(a) for a in command("stats", results, out)]) == 0
    made_stats = pd.read_csv(out / "s.csv")
    assert set(made_stats.ablation_precision) == {"fp32"} and set(made_stats.batch_norm) == {"unknown"}
    assert (made_stats.statistic == "cumulative_auc").any()
    record = results / (str(FILES["ablation"]) + ".prov.json")
    made = json.loads(record.read_text())
    record.write_text(json.dumps({**made, "precision": {"mode": "checked_bf16", "eps": 0.1}}))
    assert main([str(a) for a in command("stats", results, out)]) == 0
    assert set(pd.read_csv(out / "s.csv").ablation_precision) == {"checked_bf16"}


def test_cumulative_auc_is_the_relative_area_under_the_accuracy_curve(tmp_path):
    from repsub.layout import Table
    from repsub.stats import cumulative_statistics

    curve = pd.DataFrame({"layer": "conv1", "order": ["random"] * 6 + ["rs_high_to_low"] * 3,
                          "repeat": [0, 0, 0, 1, 1, 1, 0, 0, 0], "fraction": [0, 0.5, 1] * 3,
                          "accuracy": [0.8, 0.6, 0.1, 0.8, 0.4, 0.1, 0.8, 0.8, 0.8]})
    curve.to_csv(tmp_path / "cumulative.csv", index=False)
    units = synthetic_units(+1)
    rows = cumulative_statistics(units, [Table("cumulative", 0, "conv1", None, tmp_path / "cumulative.csv")])
    area = rows.set_index("x").value
    # trapezoid: (0.8 + 2 * 0.6 + 0.1) / 4 = 0.525 and (0.8 + 0.8 + 0.1) / 4 = 0.425, relative to 0.8
    assert area["random"] == pytest.approx((0.525 + 0.425) / 2 / 0.8)
    assert area["rs_high_to_low"] == pytest.approx(1.0)
    assert set(rows.depth) == {1} and set(rows.kind) == {"conv"} and set(rows.statistic) == {"cumulative_auc"}


def batch_norm_rows(gap, seeds=(0, 1, 2)):
    """Per-seed cumulative_auc rows of a family's run with BatchNorm and one without, the
    first larger by ``gap`` in every layer."""
    rng = np.random.default_rng(1)
    rows = [{"dataset": "d", "model": model, "architecture": "shallow_cnn", "seed": seed, "depth": depth,
             "layer": layer, "kind": "conv", "statistic": "cumulative_auc", "x": "random", "y": "accuracy",
             "covariate": "", "n": 3, "n_excluded": 0, "batch_norm": flag,
             "value": 0.6 + (gap if flag == "true" else 0) + rng.normal(0, 0.01)}
            for model, flag in (("cnn", "true"), ("cnn_nobn", "false")) for seed in seeds
            for depth, layer in enumerate(["conv1", "conv2", "conv3"], start=1)]
    return pool_seeds(pd.DataFrame(rows))


def test_e6_compares_cumulative_ablation_with_and_without_batch_norm_over_seeds():
    from scipy.stats import ttest_ind

    from repsub.claims import welch

    a, b = np.array([0.7, 0.72, 0.69]), np.array([0.6, 0.65, 0.61])
    result, expected = welch(a, b), ttest_ind(a, b, equal_var=False)
    assert result["p"] == pytest.approx(expected.pvalue) and result["value"] == pytest.approx(a.mean() - b.mean())
    assert result["ci_low"] < result["value"] < result["ci_high"]

    def e6(rows):
        claims = claims_table(rows)
        return claims[claims.claim_id == "E6"].set_index("model").verdict

    assert e6(batch_norm_rows(0.1)).to_dict() == {"cnn vs cnn_nobn": REPRODUCED}
    assert e6(batch_norm_rows(-0.1)).to_dict() == {"cnn vs cnn_nobn": CONTRADICTED}
    assert e6(batch_norm_rows(0.1, seeds=(0,))).to_dict() == {"cnn vs cnn_nobn": INCONCLUSIVE}  # no spread to test
    assert e6(batch_norm_rows(0.1).drop(columns="batch_norm")).empty  # a first-release table cannot say


def test_e6_survives_the_round_trip_through_a_csv_file(tmp_path):
    """A study's tables are written and read again between steps: the flag stays "true" (not
    True) and E6 is still found, also where a plain reader parses the flag as a boolean."""
    from repsub.io import read_table, write_csv
    from repsub.stats import STATS_COLUMNS

    write_csv(tmp_path / "stats.csv", batch_norm_rows(0.1))
    read = read_table(tmp_path / "stats.csv", STATS_COLUMNS, "stats")
    assert set(read.batch_norm) == {"true", "false"}
    for table in (read, pd.read_csv(tmp_path / "stats.csv")):
        claims = claims_table(table)
        assert claims[claims.claim_id == "E6"].verdict.tolist() == [REPRODUCED]


def test_rules_v3_test_over_seeds_and_find_an_effect_absent_where_the_seeds_bound_it():
    """v3 (registered) beside v2: a layer's r is tested over seeds (t test on their Fisher z),
    and a claim whose layers' 90% intervals all lie inside +-0.3 is absent, not inconclusive."""
    from repsub.confirmatory import seed_test

    c1 = "High-selectivity units have high RS (IAM)"
    strong = claims_table(pool_seeds(layer_statistics(synthetic_units(+1, seeds=(0, 1, 2, 3))))).set_index("claim")
    assert strong.loc[c1, "verdict_v3"] == REPRODUCED and "(4 seeds)" in strong.loc[c1, "values_v3"]
    units = synthetic_units(+1, seeds=(0, 1, 2, 3), n=4000)
    units["rs_iam"] = np.random.default_rng(2).uniform(0, 1, len(units))  # no relation: r near 0 in every seed
    stats = pool_seeds(layer_statistics(units))
    claims = claims_table(stats).set_index("claim")
    assert claims.loc[c1, "verdict_v3"] == "absent" and claims.loc[c1, "verdict"] == INCONCLUSIVE
    assert "equivalent within +-0.3 in 3 of 3" in claims.loc[c1, "key_statistic_v3"]
    # the values are the seeds' t test, computed again here from the per-seed rows
    rows = stats[(stats.statistic == "spearman") & (stats.y == "rs_iam") & (stats.x == "selectivity")
                 & (stats.layer == "conv1") & (stats.seed != "pooled")]
    expected = seed_test(rows.value.to_numpy(float))
    assert claims.loc[c1, "values_v3"].startswith(f"conv1 {expected['value']:.3g} [{expected['ci_low']:.3g}, ")
    # one seed: no spread to test against, so nothing is decided; a point-value claim keeps v2
    one = claims_table(pool_seeds(layer_statistics(synthetic_units(+1)))).set_index("claim")
    assert one.loc[c1, "verdict_v3"] == INCONCLUSIVE and one.loc[c1, "verdict"] == REPRODUCED
    point = one[one.claim_id.isin(["C3", "C4", "C5"])]
    assert len(point) and (point.verdict_v3 == point.verdict).all() and (point.rule_v3 == point.rule).all()


def test_a_one_seed_row_says_its_interval_treats_units_as_independent():
    """Registered: a row from one seed rests on an error that treats a layer's units as
    independent draws; its rule says so, and a row over seeds does not."""
    from repsub.claims import ONE_SEED

    one = claims_table(pool_seeds(layer_statistics(synthetic_units(+1)))).set_index("claim_id")
    three = claims_table(pool_seeds(layer_statistics(synthetic_units(+1, seeds=(0, 1, 2))))).set_index("claim_id")
    for claim in ("C1", "C2", "E1", "E2"):
        assert one.loc[[claim], "rule"].str.endswith(ONE_SEED).all(), claim
        assert ONE_SEED not in "".join(three.loc[[claim], "rule"])
    assert ONE_SEED not in "".join(one.rule_v3) and ONE_SEED not in "".join(one.loc[["C3", "C4"], "rule"])
