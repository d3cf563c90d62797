"""The committed article is its template rendered over the committed tables, byte for byte,
and a changed cell that it quotes changes it."""

import shutil

import pandas as pd

from conftest import REPO
from repsub.article import render

TEMPLATE = REPO / "docs" / "articles" / "cifar10.md.j2"
STUDY = REPO / "docs" / "results" / "cifar10"
OURS = [REPO / "configs" / name for name in ("paper-cpu.yaml", "paper-cpu-variants.yaml")]
PAPER = [REPO / "configs" / "paper.yaml"]
ARTICLE = REPO / "docs" / "results" / "cifar10.md"


def test_the_article_is_its_template_rendered_over_the_committed_tables():
    assert render(TEMPLATE, STUDY, OURS, PAPER) == ARTICLE.read_text(), (
        "docs/results/cifar10.md differs from its template's rendering: run 'python -m repsub article' "
        "(docs/articles/cifar10.md.j2 names the command)")


def _copy(tmp_path):
    study = tmp_path / "cifar10"
    shutil.copytree(STUDY, study, ignore=shutil.ignore_patterns("*.png", "units.csv"))
    return study


def test_a_changed_cell_changes_the_article(tmp_path):
    """A verdict, an accuracy and a pooled correlation, each changed in a copy of its table."""
    study = _copy(tmp_path)
    committed = ARTICLE.read_text()
    claims = pd.read_csv(study / "claims.csv", keep_default_na=False, na_values=[""])
    row = claims.index[(claims.claim_id == "C4") & (claims.model == "vgg16")][0]
    claims.loc[row, "verdict"] = "contradicted"
    claims.to_csv(study / "claims.csv", index=False)
    assert render(TEMPLATE, study, OURS, PAPER) != committed
    study = _copy(tmp_path / "second")
    metrics = pd.read_csv(study / "mlp" / "metrics.csv")
    metrics.loc[metrics.index[-1], "test_accuracy"] = 0.5
    metrics.to_csv(study / "mlp" / "metrics.csv", index=False)
    assert "50.00%" in render(TEMPLATE, study, OURS, PAPER)


def test_a_derived_statement_follows_the_data(tmp_path):
    """The AM step at which conv1's sign turns is computed: moved, the sentence moves."""
    study = _copy(tmp_path)
    trajectory = pd.read_csv(study / "trajectory.csv", keep_default_na=False, na_values=[""], dtype={"seed": str})
    chosen = ((trajectory.model == "shallow_cnn") & (trajectory.seed == "pooled") & (trajectory.layer == "conv1")
              & (trajectory.statistic == "spearman") & (trajectory.x == "selectivity") & (trajectory.y == "rs_am")
              & (trajectory.step == 8))
    assert chosen.sum() == 1
    trajectory.loc[chosen, "value"] = 0.05  # still positive at step 8
    trajectory.to_csv(study / "trajectory.csv", index=False)
    text = render(TEMPLATE, study, OURS, PAPER)
    assert "between steps 8 and 16" in text and "between steps 4 and 8 (+0.09" not in text
