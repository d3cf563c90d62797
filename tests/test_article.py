"""The committed article is its template rendered over the committed tables, byte for byte,
and a changed cell that it quotes changes it."""

import shutil

import pandas as pd
import pytest

from conftest import REPO
from repsub.article import render

TEMPLATE = REPO / "docs" / "articles" / "cifar10.md.j2"
STUDY = REPO / "docs" / "results" / "cifar10"
OURS = [REPO / "configs" / name for name in ("paper-cpu.yaml", "paper-cpu-variants.yaml")]
PAPER = [REPO / "configs" / "paper.yaml"]
ARTICLE = REPO / "docs" / "results" / "cifar10.md"
POWER = REPO / "docs" / "registration" / "power.csv"
CONFIRMATORY = REPO / "docs" / "results" / "cifar10-confirmatory"
# each article: (template, study folder, the configs its runs were made with, the power table it quotes,
# the published confirmatory study it reports)
ARTICLES = {"cifar10": (TEMPLATE, STUDY, OURS, POWER, CONFIRMATORY),
            "resnet18-cifar10": (REPO / "docs" / "articles" / "resnet18-cifar10.md.j2",
                                 REPO / "docs" / "results" / "resnet18-cifar10",
                                 [REPO / "configs" / "resnet18-cifar10.yaml"], None, None)}


@pytest.mark.parametrize("name", ARTICLES)
def test_the_article_is_its_template_rendered_over_the_committed_tables(name):
    template, study, ours, power, registered = ARTICLES[name]
    assert render(template, study, ours, PAPER, registered, power) == (REPO / "docs" / "results" / f"{name}.md").read_text(), (
        f"docs/results/{name}.md differs from its template's rendering: run 'python -m repsub article' "
        f"(docs/articles/{name}.md.j2 names the command)")


def test_every_article_is_indexed_and_tested():
    templates = {path.name.removesuffix(".md.j2") for path in (REPO / "docs" / "articles").glob("*.md.j2")}
    index = (REPO / "docs" / "results" / "README.md").read_text()
    assert templates == set(ARTICLES) and all(f"]({name}.md)" in index for name in templates)


def _copy(tmp_path):
    study = tmp_path / "cifar10"
    shutil.copytree(STUDY, study, ignore=shutil.ignore_patterns("*.png", "units.csv"))
    return study


def _copy_confirmatory(tmp_path):
    """The published confirmatory study, as publish lays it out, without its pictures and per-unit tables."""
    confirmatory = tmp_path / "cifar10-confirmatory"
    shutil.copytree(CONFIRMATORY, confirmatory, ignore=shutil.ignore_patterns("*.png", "units.csv", "cumulative.csv"))
    return confirmatory


def _before_the_sensitivity_runs(confirmatory):
    """The confirmatory study as published before its sensitivity runs: no variant's rows or
    trajectories, no 100-epoch network; C3's cuts stay (they need no new computation)."""
    shutil.rmtree(confirmatory / "variants", ignore_errors=True)
    for run in confirmatory.glob("*_100ep"):
        shutil.rmtree(run)
    robustness = pd.read_csv(confirmatory / "robustness.csv", keep_default_na=False)
    keep = robustness.variant.isin(["base", "c3_cut_40", "c3_cut_60"]) & ~robustness.model.str.contains("_100ep")
    robustness[keep].to_csv(confirmatory / "robustness.csv", index=False)
    stats = pd.read_csv(confirmatory / "stats.csv", dtype={"seed": str}, keep_default_na=False, na_values=[""])
    stats[~stats.model.str.endswith("_100ep")].to_csv(confirmatory / "stats.csv", index=False)
    return confirmatory


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


def test_the_resnet_article_follows_its_cumulative_table(tmp_path):
    """The cumulative-ablation table and the layers whose curves repeat each other are computed."""
    template, committed, ours, *_ = ARTICLES["resnet18-cifar10"]
    study = tmp_path / "resnet18-cifar10"
    shutil.copytree(committed, study, ignore=shutil.ignore_patterns("*.png"))
    table = pd.read_csv(study / "resnet18" / "cumulative.csv")
    chosen = (table.layer == "flatten") & (table.order == "random") & (table.fraction == 0.2)
    table.loc[chosen, "accuracy"] = 0.123
    table.to_csv(study / "resnet18" / "cumulative.csv", index=False)
    text = render(template, study, ours, PAPER)
    assert "equal that layer's in 6 of\n9 orders" in text and "rs_high_to_low, rs_low_to_high, random" in text


def test_the_registered_test_is_reported_once_its_tables_are_published(tmp_path):
    """The template's registered section, rendered over tables the registered step makes (here
    from the committed seeds, seeds 1 and 2 standing in for the confirmatory sample)."""
    from repsub.io import read_table, write_csv
    from repsub.registered import primary_test, sample_stats, samples
    from repsub.stats import STATS_COLUMNS

    stats = read_table(STUDY / "stats.csv", STATS_COLUMNS, "test")
    stats = stats[stats.model.isin(["shallow_cnn", "shallow_cnn_nobn"])]
    _, claims = samples(stats, [1, 2])
    confirmatory = _copy_confirmatory(tmp_path)
    write_csv(confirmatory / "registered" / "claims.csv", claims)
    write_csv(confirmatory / "registered" / "primary.csv", primary_test(sample_stats(stats, [1, 2])))
    (confirmatory / "robustness.csv").unlink()
    with pytest.raises(Exception, match="holds no registered/claims.csv, registered/primary.csv and robustness.csv"):
        render(TEMPLATE, STUDY, OURS, PAPER, registered=confirmatory)
    shutil.copy(CONFIRMATORY / "robustness.csv", confirmatory)
    text = render(TEMPLATE, STUDY, OURS, PAPER, registered=confirmatory)
    assert "on the confirmatory seeds (1, 2)" in text and "The confirmatory seeds are being trained" not in text
    assert "**The paper's early-layer claim: neither: the two verdicts as they are.**" in text
    assert "| C1a | AM | **inconclusive** (inconclusive; " in text
    flat = " ".join(text.split())
    assert "the sections between them report the exploratory sample" in flat and "is under way" not in flat
    assert ("its primary test is C1a (in early conv layers, high-selectivity units have high RS) on AM in the two "
            "shallow CNNs, with seeds as the unit of inference. On 2 new seeds per network, it finds the claim "
            "inconclusive in the shallow CNN and inconclusive in the shallow CNN without BatchNorm: the paper's "
            "early-layer claim is neither supported nor refuted.") in flat
    assert "the early-layer claim is neither supported nor refuted (inconclusive in the shallow CNN," in flat
    assert "configs/confirmatory-only.yaml --config results=RESULTS" in flat
    # the discussion's counts and lists come from the sample's claims
    mine = claims[claims["sample"] == "confirmatory"].set_index(["claim_id", "model"]).verdict_v3
    assert f"(E4 reproduced in {int((mine['E4'] == 'reproduced').sum())} of 2)" in flat
    c3 = {"shallow_cnn": "the shallow CNN", "shallow_cnn_nobn": "the shallow CNN without BatchNorm"}
    held = [name for run, name in c3.items() if mine["C3", run] == "reproduced"]
    assert f"most units in {' and '.join(held) or 'none'}, but not decidedly in" in flat


def test_the_registered_section_quotes_the_power_of_the_samples_count(tmp_path):
    """With the power table, the section gives the power of the confirmatory sample's seed count
    (read from primary.csv) and VGG16's at its three seeds; a count the table lacks, or another
    table, is refused in one sentence."""
    from repsub.errors import UserError
    from repsub.io import read_table, write_csv
    from repsub.registered import primary_test, sample_stats, samples
    from repsub.stats import STATS_COLUMNS

    stats = read_table(STUDY / "stats.csv", STATS_COLUMNS, "test")
    stats = stats[stats.model.isin(["shallow_cnn", "shallow_cnn_nobn"])]
    folder = _copy_confirmatory(tmp_path) / "registered"
    write_csv(folder / "claims.csv", samples(stats, [1, 2])[1])
    primary = primary_test(sample_stats(stats, [1, 2]))
    write_csv(folder / "primary.csv", primary)
    with pytest.raises(UserError, match="the power table has 0 rows of 'primary' at 2 seeds"):
        render(TEMPLATE, STUDY, OURS, PAPER, registered=folder.parent, power=POWER)
    with pytest.raises(UserError, match="lacks the column"):
        render(TEMPLATE, STUDY, OURS, PAPER, registered=folder.parent, power=POWER.parent / "nuisance.csv")
    write_csv(folder / "primary.csv", primary.assign(seeds="100 101 102 103"))  # as if from four seeds
    text = " ".join(render(TEMPLATE, STUDY, OURS, PAPER, registered=folder.parent, power=POWER).split())
    assert "4 seeds per network is the count" in text
    assert "a chance of 0.979 to reproduce C1a where r = 0.3 and 0.973 to find it absent" in text
    assert "C1 over its 14 layers a chance of 0.000 to be reproduced" in text and "(C1a over conv1-conv7: 0.031 and 0.066)" in text


def test_the_sensitivity_analyses_are_reported_as_they_join_the_robustness_table(tmp_path):
    """C3's cuts are read from the confirmatory study's robustness.csv; a tolerance analysis is
    "to come" until its rows are there, and then its verdicts are the table's."""
    confirmatory = _before_the_sensitivity_runs(_copy_confirmatory(tmp_path))
    flat = " ".join(render(TEMPLATE, STUDY, OURS, PAPER, confirmatory).split())
    assert "| MLP | inconclusive | inconclusive | inconclusive | to come | to come | to come | to come |" in flat
    assert "Still to run, and to be reported here: 256 AM steps on every layer" in flat
    robustness = pd.read_csv(confirmatory / "robustness.csv", keep_default_na=False)
    tolerance = robustness[robustness.claim_id.isin(["C3", "C5"]) & (robustness.variant == "base")]
    tolerance = tolerance.assign(variant="rs_tolerance_1pc", verdict_v3="contradicted")  # a made-up verdict
    pd.concat([robustness, tolerance]).to_csv(confirmatory / "robustness.csv", index=False)
    flat = " ".join(render(TEMPLATE, STUDY, OURS, PAPER, confirmatory).split())
    assert "| MLP | inconclusive | inconclusive | inconclusive | to come | contradicted | to come | contradicted |" in flat
    assert "| shallow CNN | reproduced | inconclusive | inconclusive | to come | contradicted | to come | not tested |" in flat
    # C3 reproduced in two networks and C5 in the MLP: three of the five rows turn sign
    assert ("both hold in [robustness.csv](cifar10-confirmatory/robustness.csv) (5, not only those above), 5 change "
            "verdict within 1%; 3 turn from reproduced to contradicted or back.") in flat
    assert "study analysed with that tolerance: the three CNNs' on every confirmatory seed. " in flat
    assert ("Still to run, and to be reported here: 256 AM steps on every layer, each layer's r at 64 and 256 "
            "steps side by side; the shallow CNN and the shallow CNN without BatchNorm trained for the paper's "
            "100 epochs.") in flat


def test_the_long_am_and_100_epoch_analyses_are_reported_once_published(tmp_path):
    """Made-up rows for the analyses still to run: each layer's r at steps 64 and 256 is read
    from the long-AM variant's published trajectory, the 100-epoch networks' r and accuracy
    from their own rows beside the same seed's at 12 epochs."""
    from repsub.article import number

    confirmatory = _before_the_sensitivity_runs(_copy_confirmatory(tmp_path))
    trajectory = pd.read_csv(confirmatory / "trajectory.csv", dtype={"seed": str})
    at_64 = trajectory[trajectory.step == 64]
    longer = at_64.assign(step=256, value=at_64.value.where(at_64.model != "shallow_cnn", 0.5))
    (confirmatory / "variants" / "long_am_256").mkdir(parents=True)
    pd.concat([trajectory, longer]).to_csv(confirmatory / "variants" / "long_am_256" / "trajectory.csv", index=False)
    robustness = pd.read_csv(confirmatory / "robustness.csv", keep_default_na=False)
    base = robustness[robustness.variant == "base"]
    long_am = base.assign(variant="long_am_256", verdict_v3=base.verdict_v3.where(
        (base.model != "shallow_cnn") | (base.label != "C1a AM"), "absent"))  # a made-up verdict
    hundred = {"shallow_cnn": "shallow_cnn_100ep", "shallow_cnn_nobn": "shallow_cnn_nobn_100ep"}
    runs = base[base.model.isin(list(hundred))].assign(model=lambda rows: rows.model.map(hundred))
    tolerance = base.assign(variant="rs_tolerance_1pc")
    pd.concat([robustness, long_am, tolerance, runs]).to_csv(confirmatory / "robustness.csv", index=False)
    stats = pd.read_csv(confirmatory / "stats.csv", dtype={"seed": str}, keep_default_na=False, na_values=[""])
    seed_100 = stats[stats.model.isin(list(hundred)) & (stats.seed == "100")]
    pd.concat([stats, seed_100.assign(model=seed_100.model.map(hundred), value=-seed_100.value)]).to_csv(
        confirmatory / "stats.csv", index=False)
    for base_run, run in hundred.items():
        (confirmatory / run).mkdir()
        metrics = pd.read_csv(confirmatory / base_run / "metrics.csv")
        metrics = metrics[metrics.seed == 100].assign(epoch=lambda rows: rows.epoch + 88, test_accuracy=0.9)
        metrics.to_csv(confirmatory / run / "metrics.csv", index=False)
    flat = " ".join(render(TEMPLATE, STUDY, OURS, PAPER, confirmatory).split())
    r_64 = at_64[(at_64.model == "shallow_cnn") & (at_64.seed == "pooled") & (at_64.layer == "conv2")
                 & (at_64.statistic == "spearman") & (at_64.x == "selectivity") & (at_64.y == "rs_am")].value.iloc[0]
    assert f"| shallow CNN | conv2 | {number(r_64)} | +0.50 |" in flat
    assert "| shallow CNN | contradicted | absent | contradicted | contradicted | reproduced | reproduced |" in flat
    assert "trained again for 100 epochs (the paper's; the base's 12)" in flat
    assert "| test accuracy | 86." not in flat and "| 90.00% |" in flat
    r_conv1 = seed_100[(seed_100.model == "shallow_cnn") & (seed_100.layer == "conv1") & (seed_100.statistic ==
                       "spearman") & (seed_100.x == "selectivity") & (seed_100.y == "rs_am")].value.iloc[0]
    assert f"| conv1 | {number(r_conv1)} | {number(-r_conv1)} |" in flat
    assert ("every CNN the confirmatory study analysed with that tolerance: the three CNNs' on every confirmatory seed, "
            "and the 100-epoch networks' conv1 on seed 100.") in flat
    assert "Still to run" not in flat and "published while that training ran" not in flat
    # the E6 rows compare two networks, which are not networks of the sample
    assert "(134, not only those above), 1 changes verdict at 256 AM steps and 0 within 1%; none turns from" in flat
    for subject in ("it", "C1a on AM"):  # the abstract's and the discussion's
        assert (f"With AM run on to 256 steps (a registered sensitivity analysis), {subject} is absent in the shallow "
                "CNN and contradicted in the shallow CNN without BatchNorm.") in flat
    # the confirmatory trainings' table lists the registered networks' seeds, not the 100-epoch runs
    assert "| shallow CNN | 100, 101, 102, 103 | 12 | 85.51%, 85.43%, 85.68%, 85.56% |" in flat
    assert "| 100 | 100 |" not in flat
    assert "at step 64 every layer's r is the base's" in flat
    assert "configs/confirmatory-only.yaml configs/confirmatory-sensitivity.yaml --config results=RESULTS" in flat
    moved = (trajectory.step == 64) & (trajectory.model == "shallow_cnn") & (trajectory.layer == "conv2")
    pd.concat([trajectory.assign(value=trajectory.value.where(~moved, 0.1)), longer]).to_csv(
        confirmatory / "variants" / "long_am_256" / "trajectory.csv", index=False)
    flat = " ".join(render(TEMPLATE, STUDY, OURS, PAPER, confirmatory).split())
    assert "at step 64 it differs from the base's in 1 layer (shallow CNN conv2)" in flat
