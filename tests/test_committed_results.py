"""The committed CIFAR-10 verdicts follow from the committed statistics by the current rules."""

import pandas as pd

from conftest import REPO
from repsub.claims import claims_table
from repsub.stats import restate

RESULTS = REPO / "docs" / "results" / "cifar10"


def committed(name):
    return pd.read_csv(RESULTS / name, keep_default_na=False, na_values=[""])


def test_committed_claims_follow_from_the_committed_stats(tmp_path):
    """claims.csv is recomputed from stats.csv alone, every column of every row."""
    from repsub.io import write_csv

    write_csv(tmp_path / "claims.csv", claims_table(committed("stats.csv")))
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "claims.csv", keep_default_na=False, na_values=[""]),
                                  committed("claims.csv"))


def test_committed_stats_are_their_own_restatement(tmp_path):
    """Every pooled row and interval of stats.csv is what the current rules give from its per-seed rows."""
    from repsub.io import write_csv

    write_csv(tmp_path / "stats.csv", restate(committed("stats.csv")))
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "stats.csv", keep_default_na=False, na_values=[""]),
                                  committed("stats.csv"))
