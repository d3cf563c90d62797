"""The registered analysis: each sample's claims by the study's own rules, and the primary
test against a computation by hand (scipy's t test on Fisher z, Holm by hand)."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from conftest import REPO, run_step
from repsub.cli import main
from repsub.io import read_table
from repsub.registered import MIXED, REFUTED, SUPPORTED, primary_test, sample_seeds, samples
from repsub.stats import STATS_COLUMNS, per_seed

COMMITTED = REPO / "docs" / "results" / "cifar10"
SMALL = ["shallow_cnn", "shallow_cnn_nobn"]  # the primary test's networks; the others only add time


@pytest.fixture(scope="module")
def committed_stats():
    stats = read_table(COMMITTED / "stats.csv", STATS_COLUMNS, "test")
    return stats[stats.model.isin(SMALL)].reset_index(drop=True)


def test_the_all_seeds_sample_is_the_studys_own_claims(committed_stats):
    """Restated from the per-seed rows of every seed, the claims are the committed ones, cell
    for cell (C5 and C5b, which compare the MLP with the conv models, aside)."""
    _, claims = samples(committed_stats, [2])
    assert list(dict.fromkeys(claims["sample"])) == ["confirmatory", "exploratory", "all"]
    committed = pd.read_csv(COMMITTED / "claims.csv", keep_default_na=False, na_values=[""])
    committed = committed[committed.model.str.split(" vs ").map(lambda runs: set(runs) <= set(SMALL))
                          & ~committed.claim_id.isin(["C5", "C5b"])].reset_index(drop=True)
    mine = claims[(claims["sample"] == "all")].reset_index(drop=True)
    columns = ["claim_id", "model", "claim", "verdict", "values", "verdict_v3", "values_v3", "key_statistic_v3"]
    pd.testing.assert_frame_equal(mine[columns], committed[columns])
    one_seed = claims[(claims["sample"] == "confirmatory") & claims.claim_id.isin(["C1", "C1a"])]
    assert (one_seed.verdict_v3 == "inconclusive").all()  # one seed decides nothing under v3


def test_samples_split_the_seeds_and_refuse_a_registered_seed_without_rows(committed_stats):
    assert sample_seeds(committed_stats, [1, 2]) == {"confirmatory": [1, 2], "exploratory": [0], "all": [0, 1, 2]}
    assert sample_seeds(committed_stats, [0, 1, 2]) == {"confirmatory": [0, 1, 2], "all": [0, 1, 2]}
    with pytest.raises(Exception, match="no rows of the registered seeds \\[7\\]"):
        sample_seeds(committed_stats, [1, 7])


def test_a_registered_seed_counts_only_in_the_registered_networks(committed_stats):
    """Another network trained on a registered seed (a sensitivity analysis's 100-epoch run) is
    in no sample; a registered network without rows of the registered seeds is refused."""
    seeds = per_seed(committed_stats)
    longer = seeds[(seeds.model == "shallow_cnn") & (seeds.seed == "2")].assign(model="shallow_cnn_100ep")
    joined = pd.concat([committed_stats, longer], ignore_index=True)
    _, claims = samples(joined, [2], runs=SMALL)
    _, without = samples(committed_stats, [2])
    pd.testing.assert_frame_equal(claims, without)
    _, every_run = samples(joined, [2])
    assert "shallow_cnn_100ep" in set(every_run.model[every_run["sample"] == "confirmatory"])
    with pytest.raises(Exception, match="no rows of the registered networks \\['mlp'\\]"):
        samples(committed_stats, [2], runs=["shallow_cnn", "mlp"])


def naive_primary(stats):
    """The primary test written out: scipy's one-sample t test of each layer's Fisher z over
    seeds, TOST against |r| = 0.3, Holm over the four tests, then the claim's rule."""
    rows = []
    for run in ("shallow_cnn", "shallow_cnn_nobn"):
        for layer in ("conv1", "conv2"):  # the first half of the four conv layers
            r = stats[(stats.model == run) & (stats.layer == layer) & (stats.statistic == "spearman")
                      & (stats.x == "selectivity") & (stats.y == "rs_am") & (stats.seed != "pooled")].value.to_numpy(float)
            z = np.arctanh(r)
            p = scipy_stats.ttest_1samp(z, 0).pvalue
            bound = np.arctanh(0.3)
            p_eq = max(scipy_stats.ttest_1samp(z, -bound, alternative="greater").pvalue,
                       scipy_stats.ttest_1samp(z, bound, alternative="less").pvalue)
            rows.append((run, layer, np.tanh(z.mean()), p, p_eq))

    def holm(p):
        order, adjusted, running = np.argsort(p), np.empty(len(p)), 0.0
        for rank, i in enumerate(order):
            running = max(running, min(1.0, (len(p) - rank) * p[i]))
            adjusted[i] = running
        return adjusted

    p_holm = holm(np.array([row[3] for row in rows]))
    p_eq_holm = holm(np.array([row[4] for row in rows]))
    verdicts = {}
    for k, run in enumerate(("shallow_cnn", "shallow_cnn_nobn")):
        up = [p_holm[i] < 0.05 and rows[i][2] > 0 for i in (2 * k, 2 * k + 1)]
        down = [p_holm[i] < 0.05 and rows[i][2] < 0 for i in (2 * k, 2 * k + 1)]
        same = [p_eq_holm[i] < 0.05 for i in (2 * k, 2 * k + 1)]
        verdicts[run] = ("reproduced" if all(up) else "contradicted" if all(down)
                         else "absent" if all(same) and not any(up + down) else "inconclusive")
    return rows, p_holm, p_eq_holm, verdicts


def with_seeds(stats, r_by_layer):
    """``stats``'s per-seed rows of the two networks with each early layer's AM r replaced by the
    values given, one per seed (seeds 100 on)."""
    template = per_seed(stats)
    template = template[template.model.isin(["shallow_cnn", "shallow_cnn_nobn"]) & (template.seed == "0")]
    frames = []
    for k in range(len(next(iter(r_by_layer.values())))):
        frame = template.copy()
        frame["seed"] = str(100 + k)
        for (run, layer), values in r_by_layer.items():
            chosen = ((frame.model == run) & (frame.layer == layer) & (frame.statistic == "spearman")
                      & (frame.x == "selectivity") & (frame.y == "rs_am"))
            frame.loc[chosen, "value"] = values[k]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("case", ["committed", "supported", "refuted by absence", "mixed"])
def test_the_primary_test_is_the_computation_by_hand(committed_stats, case):
    layers = [(run, layer) for run in ("shallow_cnn", "shallow_cnn_nobn") for layer in ("conv1", "conv2")]
    rng = np.random.default_rng(0)
    if case == "committed":
        stats = committed_stats
    elif case == "supported":
        stats = with_seeds(committed_stats, {key: 0.6 + 0.05 * rng.standard_normal(4) for key in layers})
    elif case == "refuted by absence":
        stats = with_seeds(committed_stats, {key: 0.01 * rng.standard_normal(4) for key in layers})
    else:  # one network reproduces, the other contradicts
        stats = with_seeds(committed_stats, {key: (0.6 if key[0] == "shallow_cnn" else -0.6)
                                             + 0.05 * rng.standard_normal(4) for key in layers})
    table = primary_test(stats)
    rows, p_holm, p_eq_holm, verdicts = naive_primary(stats)
    assert list(zip(table.model, table.layer)) == [row[:2] for row in rows]
    np.testing.assert_allclose(table.value, [row[2] for row in rows], rtol=1e-12)
    np.testing.assert_allclose(table.p, [row[3] for row in rows], rtol=1e-9)
    np.testing.assert_allclose(table.p_equivalence, [row[4] for row in rows], rtol=1e-9)
    np.testing.assert_allclose(table.p_holm, p_holm, rtol=1e-9)
    np.testing.assert_allclose(table.p_equivalence_holm, p_eq_holm, rtol=1e-9)
    assert dict(zip(table.model, table.verdict)) == verdicts
    expected = {"committed": MIXED, "supported": SUPPORTED, "refuted by absence": REFUTED, "mixed": MIXED}[case]
    assert set(table.reading) == {expected}
    if case == "refuted by absence":
        assert set(verdicts.values()) == {"absent"}


def test_studies_analysed_apart_join_and_a_seed_in_two_is_refused(committed_stats, tmp_path):
    from repsub.registered import joined_seeds

    seeds = per_seed(committed_stats)
    parts = [seeds[seeds.seed != "2"], seeds[seeds.seed == "2"]]
    joined = joined_seeds(parts, ["exploratory.csv", "confirmatory.csv"])
    pd.testing.assert_frame_equal(joined.sort_values(list(joined.columns)).reset_index(drop=True),
                                  seeds.sort_values(list(seeds.columns)).reset_index(drop=True))
    with pytest.raises(Exception, match="shallow_cnn seed 2 is in both one.csv and two.csv"):
        joined_seeds([parts[1], parts[1]], ["one.csv", "two.csv"])


def test_the_registered_step_writes_its_three_tables_with_records(committed_stats, tmp_path, capsys):
    """From the exploratory seeds' published table and a study of the confirmatory seeds alone."""
    exploratory, stats = tmp_path / "exploratory.csv", tmp_path / "stats.csv"
    seeds = per_seed(committed_stats)
    seeds[seeds.seed == "0"].to_csv(exploratory, index=False)
    seeds[seeds.seed != "0"].to_csv(stats, index=False)
    out = {name: tmp_path / "registered" / f"{name}.csv" for name in ("stats", "claims", "primary")}
    run_step("registered", "--stats", stats, exploratory, "--registration", REPO / "docs" / "REGISTRATION.md",
             "--seeds", 1, 2, "--out", out["stats"], "--claims", out["claims"], "--primary", out["primary"])
    assert "the paper's claim: " in capsys.readouterr().out
    claims = pd.read_csv(out["claims"])
    assert set(claims["sample"]) == {"confirmatory", "exploratory", "all"}
    assert len(pd.read_csv(out["primary"])) == 4
    for path in out.values():
        record = json.loads(path.with_name(path.name + ".prov.json").read_text())
        assert record["status"] == "complete"
    before = {path: path.read_bytes() for path in out.values()}
    assert main(["registered", "--stats", str(stats), "--registration", str(REPO / "docs" / "REGISTRATION.md"),
                 "--seeds", "1", "9", "--out", str(out["stats"]), "--claims", str(out["claims"]),
                 "--primary", str(out["primary"])]) == 2
    assert "registered seeds [9]" in capsys.readouterr().err
    assert all(path.read_bytes() == content for path, content in before.items())  # a refusal touches nothing


# What the confirmatory trainings recorded (shallow_cnn seed 102, shallow_cnn_nobn seed 103):
# the committed registration's text above its addenda must still hash to it.
RECORDED_SHA256 = "5ed508b54dc2ae5e9b3083e252d320aa1590712672e643edb931cd9bfdd76fb6"


def test_the_committed_registration_is_the_text_the_trainings_recorded():
    from repsub.registration import registered_at, registration_record

    registration = REPO / "docs" / "REGISTRATION.md"
    assert registration_record(registration)["registered_sha256"] == RECORDED_SHA256
    assert registered_at(registration).isoformat() == "2026-12-05T16:17:00+00:00"


def test_publish_lists_the_registered_trainings_and_the_check_finds_what_breaks_them(tmp_path):
    from repsub import layout
    from repsub.publish import registered_trainings
    from repsub.registration import registration_problems

    def record(run, seed, registration, started):
        path = layout.checkpoint(tmp_path, "cifar10", run, seed)
        path.parent.mkdir(parents=True)
        made = {"started": started, "ended": started, "code": {"git_commit": "abc"}}
        if registration:
            made["registration"] = {"file": "docs/REGISTRATION.md", "registered_sha256": registration}
        path.with_name(path.name + ".prov.json").write_text(json.dumps(made))

    record("shallow_cnn", 0, None, "2026-11-28T10:00:00+00:00")  # exploratory: not listed
    record("shallow_cnn", 100, RECORDED_SHA256, "2026-12-05T16:18:26+00:00")
    record("shallow_cnn", 101, "0" * 64, "2026-12-05T17:00:00+00:00")
    record("shallow_cnn", 102, RECORDED_SHA256, "2026-12-05T16:00:00+00:00")
    found = registered_trainings(tmp_path, "cifar10", {"shallow_cnn": [0, 100, 101, 102]})
    table = pd.DataFrame([row for row, _ in found])
    assert list(table.seed) == [100, 101, 102]
    problems = registration_problems(table, REPO / "docs" / "REGISTRATION.md")
    assert len(problems) == 2 and "seed 101 recorded another" in problems[0] and "seed 102 started" in problems[1]
