"""Where every artifact, log and timing lives under the results folder.

The one place for the path scheme ``{dataset}/{model}/seed{seed}/{layer}/{method}``:
the workflow builds every rule's outputs, logs and benchmarks from these
functions (passing wildcard placeholders such as ``"{dataset}"``), and the
commands that read many artifacts (statistics, figures) find them here too.
``model`` is the name of a run's folder: today the model's name.
"""

from collections import namedtuple
from pathlib import Path


def data_dir(results, dataset):
    return Path(results) / dataset / "data"


def manifest(results, dataset):
    return data_dir(results, dataset) / "manifest.json"


def download_record(results, dataset):
    """What a download step fetched: the files of the source and their sha256."""
    return data_dir(results, dataset) / "download.json"


def weights(results, dataset):
    """Pretrained VGG16 weights fetched from torchvision, as a local state-dict file."""
    return model_dir(results, dataset, "vgg16_imagenet") / "weights.pt"


def model_dir(results, dataset, model):
    return Path(results) / dataset / model


def seed_dir(results, dataset, model, seed):
    return model_dir(results, dataset, model) / f"seed{seed}"


def checkpoint(results, dataset, model, seed):
    return seed_dir(results, dataset, model, seed) / "checkpoint.pt"


def metrics(results, dataset, model, seed):
    return seed_dir(results, dataset, model, seed) / "metrics.csv"


def selectivity(results, dataset, model, seed):
    return seed_dir(results, dataset, model, seed) / "selectivity.csv"


def layer_dir(results, dataset, model, seed, layer):
    return seed_dir(results, dataset, model, seed) / layer


def method_dir(results, dataset, model, seed, layer, method):
    return layer_dir(results, dataset, model, seed, layer) / method


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
    return layer_dir(results, dataset, model, seed, layer) / "ablation.csv"


def cumulative(results, dataset, model, seed, layer):
    return layer_dir(results, dataset, model, seed, layer) / "cumulative.csv"


def model_units(results, dataset, model):
    return model_dir(results, dataset, model) / "units.csv"


def model_stats(results, dataset, model):
    return model_dir(results, dataset, model) / "stats.csv"


# A study is every run on one data set: presets on different data sets share
# the results folder without overwriting each other's statistics and claims.
def study_stats(results, dataset):
    return Path(results) / dataset / "stats.csv"


def claims(results, dataset):
    return Path(results) / dataset / "claims.csv"


MODEL_FIGURES = (
    "fig1_selectivity_vs_rs",
    "fig2_substitutes",
    "fig3a_fc_selectivity_vs_rs",
    "ablation_drop_vs_scores",
    "cumulative_ablation",
    "training_curves",
)
STUDY_FIGURES = ("fig3b_correlation_vs_depth",)


def figures_dir(results, dataset, model):
    return Path(results) / "figures" / dataset / model


def figure(results, dataset, model, name, suffix="png"):
    return figures_dir(results, dataset, model) / f"{name}.{suffix}"


def study_figure(results, dataset, name, suffix="png"):
    return Path(results) / "figures" / dataset / f"{name}.{suffix}"


def log(results, folder, name):
    """The log of the job named ``name`` whose outputs live in ``folder`` (under ``results``)."""
    return Path(results) / "logs" / Path(folder).relative_to(results) / f"{name}.log"


def benchmark(results, folder, name):
    """The timing of that job (Snakemake's benchmark file)."""
    return Path(results) / "benchmarks" / Path(folder).relative_to(results) / f"{name}.tsv"


Table = namedtuple("Table", "kind seed layer method path")
AM_TABLES = ("rs", "images", "units", "substitution")


def run_tables(results, dataset, model, seeds, layers, methods):
    """Every per-seed and per-layer table a run's statistics and figures read."""
    tables = []
    for seed in seeds:
        tables += [Table("metrics", seed, None, None, metrics(results, dataset, model, seed)),
                   Table("selectivity", seed, None, None, selectivity(results, dataset, model, seed))]
        for layer in layers:
            tables += [Table("ablation", seed, layer, None, ablation(results, dataset, model, seed, layer)),
                       Table("cumulative", seed, layer, None, cumulative(results, dataset, model, seed, layer))]
            tables += [Table(kind, seed, layer, method, am_file(results, dataset, model, seed, layer, method, kind))
                       for method in methods for kind in AM_TABLES]
    return tables
