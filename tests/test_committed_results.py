"""The committed verdicts (CIFAR-10's paper design, its confirmatory sample, its first release,
and ResNet-18) follow from the committed statistics by the current rules."""

import pandas as pd
import pytest

from conftest import REPO
from repsub.claims import claims_table
from repsub.registration import registration_problems
from repsub.stats import restate

RESULTS = REPO / "docs" / "results"


def committed(name, study="cifar10"):
    return pd.read_csv(RESULTS / study / name, keep_default_na=False, na_values=[""])


@pytest.mark.parametrize("study", ["cifar10", "cifar10-confirmatory", "cifar10-first-release", "resnet18-cifar10"])
def test_committed_claims_follow_from_the_committed_stats(tmp_path, study):
    """claims.csv is recomputed from stats.csv alone, every column of every row (a workflow
    run's claims.csv also holds verdict_by_step, from the AM trajectory, which stats.csv lacks)."""
    from repsub.io import write_csv

    write_csv(tmp_path / "claims.csv", claims_table(committed("stats.csv", study)))
    recomputed = pd.read_csv(tmp_path / "claims.csv", keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(recomputed, committed("claims.csv", study)[list(recomputed.columns)])


@pytest.mark.parametrize("study", ["cifar10", "cifar10-confirmatory", "cifar10-first-release"])
def test_committed_stats_are_their_own_restatement(tmp_path, study):
    """Every pooled row and interval of stats.csv is what the current rules give from its per-seed rows
    (the first release's folder, kept as published, also holds rules v1's retired pooled rows)."""
    from repsub.io import write_csv
    from repsub.stats import RETIRED_POOLED

    def in_order(stats):  # a workflow's study table lists runs as they come, a restatement sorts them
        keys = ["model", "seed", "depth", "layer", "statistic", "x", "y", "covariate"]
        return stats.astype({"seed": str}).sort_values(keys, kind="stable").reset_index(drop=True)

    stats = committed("stats.csv", study)
    write_csv(tmp_path / "stats.csv", restate(stats))
    pd.testing.assert_frame_equal(in_order(pd.read_csv(tmp_path / "stats.csv", keep_default_na=False, na_values=[""])),
                                  in_order(stats[stats.seed != RETIRED_POOLED]))


@pytest.mark.parametrize("study", ["cifar10", "cifar10-confirmatory", "resnet18-cifar10"])
def test_committed_per_seed_statistics_follow_from_the_committed_units(study):
    """Each run's units.csv is what a referee needs: every per-seed correlation, description and
    class-match row of stats.csv is recomputed from it (to the 9 digits a CSV keeps)."""
    from repsub.stats import layer_statistics, per_seed

    stats = committed("stats.csv", study)
    for units_csv in sorted((RESULTS / study).glob("*/units.csv")):
        units = pd.read_csv(units_csv, keep_default_na=False, na_values=[""], dtype={"seed": str})
        recomputed = layer_statistics(units)
        keys = ["seed", "layer", "statistic", "x", "y"]
        seeds = per_seed(stats)
        found = seeds[(seeds.model == units.model.iloc[0]) & seeds.statistic.isin(set(recomputed.statistic))]
        merged = recomputed.fillna({"y": ""}).merge(found.astype({"seed": str}).fillna({"y": ""}), on=keys,
                                                    suffixes=("", "_committed"), validate="1:1")
        assert len(merged) == len(recomputed) == len(found), units_csv
        for column in ("value", "ci_low", "ci_high", "p", "n", "n_excluded"):
            pd.testing.assert_series_equal(merged[column].astype(float), merged[f"{column}_committed"].astype(float),
                                           check_names=False, rtol=1e-6, atol=1e-9)


RESTATED = {"claims.csv", "robustness.csv", "stats.csv", "trajectory.csv"}  # rewritten by later rules (CHANGELOG)


@pytest.mark.parametrize("study", ["cifar10", "cifar10-confirmatory", "resnet18-cifar10"])
def test_committed_files_are_those_published_but_the_restated_tables(study):
    """Every file published.json lists is in the folder with the sha256 publish recorded, but
    the summary tables restated since by later rules (which the tests above recompute);
    the folder holds nothing publish did not write."""
    import hashlib
    import json

    folder = RESULTS / study
    published = json.loads((folder / "published.json").read_text())
    changed = {name for name, record in published["files"].items()
               if hashlib.sha256((folder / name).read_bytes()).hexdigest() != record["sha256"]}
    assert changed <= RESTATED
    held = {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}
    assert held == {*published["files"], *published["tables"], "published.json"}


REGISTERED = sorted(path.parent.name for path in RESULTS.glob("*/registration.csv"))
REGISTERED_NETWORKS = ["mlp", "shallow_cnn", "shallow_cnn_nobn", "shallow_cnn_lr005"]  # docs/REGISTRATION.md, "Samples"


@pytest.mark.parametrize("study", REGISTERED or [pytest.param("", marks=pytest.mark.skip(
    reason="no study published under the registration yet"))])
def test_published_confirmatory_trainings_keep_to_the_registration(study):
    """Each registered training recorded the registered text's sha256, recomputed here from the
    committed docs/REGISTRATION.md (a shallow clone included), and started after it."""
    assert registration_problems(committed("registration.csv", study), REPO / "docs" / "REGISTRATION.md") == []


@pytest.mark.parametrize("study", REGISTERED or [pytest.param("", marks=pytest.mark.skip(
    reason="no study published under the registration yet"))])
def test_committed_registered_analysis_follows_from_the_committed_stats(tmp_path, study):
    """registered/stats.csv, claims.csv and primary.csv are recomputed, every column of every row,
    from the study's stats.csv and the exploratory study's, on the seeds registration.csv lists and
    the four registered networks (a sensitivity analysis's run of those seeds is in no sample)."""
    from repsub.io import write_csv
    from repsub.registered import joined_seeds, primary_test, samples

    seeds = sorted(set(committed("registration.csv", study).seed.astype(int)))
    paths = [RESULTS / study / "stats.csv", RESULTS / "cifar10" / "stats.csv"]
    sample_table, claims = samples(joined_seeds([committed("stats.csv", study), committed("stats.csv")], paths),
                                   seeds, runs=REGISTERED_NETWORKS)
    recomputed = {"stats": sample_table, "claims": claims,
                  "primary": primary_test(sample_table[sample_table["sample"] == "confirmatory"])}
    for name, table in recomputed.items():
        write_csv(tmp_path / f"{name}.csv", table)
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / f"{name}.csv", keep_default_na=False, na_values=[""]),
                                      committed(f"registered/{name}.csv", study), obj=name)
