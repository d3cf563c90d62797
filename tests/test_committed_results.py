"""The committed verdicts (CIFAR-10's paper design, and ResNet-18) follow from the committed
statistics by the current rules."""

import pandas as pd
import pytest

from conftest import REPO
from repsub.claims import claims_table
from repsub.stats import restate

RESULTS = REPO / "docs" / "results"


def committed(name, study="cifar10"):
    return pd.read_csv(RESULTS / study / name, keep_default_na=False, na_values=[""])


@pytest.mark.parametrize("study", ["cifar10", "resnet18-cifar10"])
def test_committed_claims_follow_from_the_committed_stats(tmp_path, study):
    """claims.csv is recomputed from stats.csv alone, every column of every row (a workflow
    run's claims.csv also holds verdict_by_step, from the AM trajectory, which stats.csv lacks)."""
    from repsub.io import write_csv

    write_csv(tmp_path / "claims.csv", claims_table(committed("stats.csv", study)))
    recomputed = pd.read_csv(tmp_path / "claims.csv", keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(recomputed, committed("claims.csv", study)[list(recomputed.columns)])


def test_committed_stats_are_their_own_restatement(tmp_path):
    """Every pooled row and interval of stats.csv is what the current rules give from its per-seed rows."""
    from repsub.io import write_csv

    write_csv(tmp_path / "stats.csv", restate(committed("stats.csv")))
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "stats.csv", keep_default_na=False, na_values=[""]),
                                  committed("stats.csv"))
