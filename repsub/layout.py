"""Where every artifact lives under the results folder.

One place for the path scheme, shared by the workflow and the commands that
read many artifacts (statistics, figures): ``{dataset}/{model}/seed{seed}/{layer}/{method}``.
"""

from pathlib import Path


def model_dir(results, dataset, model):
    return Path(results) / dataset / model


def seed_dir(results, dataset, model, seed):
    return model_dir(results, dataset, model) / f"seed{seed}"


def metrics(results, dataset, model, seed):
    return seed_dir(results, dataset, model, seed) / "metrics.csv"


def selectivity(results, dataset, model, seed):
    return seed_dir(results, dataset, model, seed) / "selectivity.csv"


def method_dir(results, dataset, model, seed, layer, method):
    return seed_dir(results, dataset, model, seed) / layer / method


AM_FILES = {
    "images": "images.npy",
    "units": "units.npy",
    "substitution": "substitution.npy",
    "trace": "trace.csv",
    "rs": "rs.csv",
    "sheet": "contact_sheet.png",
}


def am_file(results, dataset, model, seed, layer, method, kind):
    return method_dir(results, dataset, model, seed, layer, method) / AM_FILES[kind]


def ablation(results, dataset, model, seed, layer):
    return seed_dir(results, dataset, model, seed) / layer / "ablation.csv"


def cumulative(results, dataset, model, seed, layer):
    return seed_dir(results, dataset, model, seed) / layer / "cumulative.csv"


def model_stats(results, dataset, model):
    return model_dir(results, dataset, model) / "stats.csv"


def figures_dir(results, dataset, model):
    return Path(results) / "figures" / dataset / model


MODEL_FIGURES = (
    "fig1_selectivity_vs_rs",
    "fig2_substitutes",
    "fig3a_fc_selectivity_vs_rs",
    "ablation_drop_vs_scores",
    "cumulative_ablation",
    "training_curves",
)
STUDY_FIGURES = ("fig3b_correlation_vs_depth",)


def figure(results, dataset, model, name, suffix="png"):
    return figures_dir(results, dataset, model) / f"{name}.{suffix}"


# A study is every run on one data set: presets on different data sets share
# the results folder without overwriting each other's statistics and claims.
def study_figure(results, dataset, name, suffix="png"):
    return Path(results) / "figures" / dataset / f"{name}.{suffix}"


def study_stats(results, dataset):
    return Path(results) / dataset / "stats.csv"


def claims(results, dataset):
    return Path(results) / dataset / "claims.csv"
