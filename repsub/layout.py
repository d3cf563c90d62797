"""Where every artifact, log and timing lives under the results folder.

The one place for the path scheme: training and single-unit ablation under
``{dataset}/{model}/seed{seed}``, everything an analysis variant can change under
``{dataset}/{model}/seed{seed}/{variant}/{layer}/{method}`` (``base`` is the
study's own analysis). The workflow builds every rule's outputs, logs and
benchmarks from these functions (passing wildcard placeholders such as
``"{dataset}"``), and the commands that read many artifacts (statistics,
figures) find them here too. ``model`` is a run's name (its ``name:``, by
default its model's name).
"""

from collections import namedtuple
from pathlib import Path


DATA = "data"  # beside the runs' folders, so no run may take this name


def data_dir(results, dataset):
    return Path(results) / dataset / DATA


def manifest(results, dataset):
    return data_dir(results, dataset) / "manifest.json"


SPLITS = ("train", "test")


def split_path(manifest_path, split):
    """A prepared split's file, beside its manifest."""
    return Path(manifest_path).parent / f"{split}.pt"


def split_files(manifest_path):
    """The prepared split files beside a manifest (none for a streamed image folder)."""
    return [path for path in map(lambda split: split_path(manifest_path, split), SPLITS) if path.is_file()]


def download_record(results, dataset):
    """What a download step fetched: the files of the source and their sha256."""
    return data_dir(results, dataset) / "download.json"


def weights(results, dataset, model):
    """Pretrained VGG16 weights fetched from torchvision for run ``model``, as a local state-dict file."""
    return model_dir(results, dataset, model) / "weights.pt"


def model_dir(results, dataset, model):
    return Path(results) / dataset / model


def model_check(results, dataset, model):
    """What 'check-model' found of a run's model on its data (its layers' units and kinds)."""
    return model_dir(results, dataset, model) / "model_check.json"


def seed_dir(results, dataset, model, seed):
    return model_dir(results, dataset, model) / f"seed{seed}"


def checkpoint(results, dataset, model, seed):
    return seed_dir(results, dataset, model, seed) / "checkpoint.pt"


def metrics(results, dataset, model, seed):
    return seed_dir(results, dataset, model, seed) / "metrics.csv"


BASE = "base"  # the variant that is the study's own analysis


def variant_dir(results, dataset, model, seed, variant):
    return seed_dir(results, dataset, model, seed) / variant


def selectivity(results, dataset, model, seed, variant):
    return variant_dir(results, dataset, model, seed, variant) / "selectivity.csv"


def layer_dir(results, dataset, model, seed, layer):
    """Single-unit and cumulative ablation of a layer (the same in every variant)."""
    return seed_dir(results, dataset, model, seed) / layer


def am_layer_dir(results, dataset, model, seed, variant, layer):
    """A layer's images and RS: one folder per method, all made by one job."""
    return variant_dir(results, dataset, model, seed, variant) / layer


def method_dir(results, dataset, model, seed, variant, layer, method):
    return am_layer_dir(results, dataset, model, seed, variant, layer) / method


AM_FILES = {
    "images": "images.npy",
    "units": "units.npy",
    "substitution": "substitution.npy",
    "trace": "trace.csv",
    "rs": "rs.csv",
    "sheet": "contact_sheet.png",
    "trajectory": "trajectory.npy",  # the substitution matrix at each recorded AM step
    "rs_steps": "rs_steps.csv",  # RS per unit at each recorded step
    "movement": "movement.csv",  # per unit: objective at the start, the best reached, whether it ever rose
}


def am_file(results, dataset, model, seed, variant, layer, method, kind):
    return method_dir(results, dataset, model, seed, variant, layer, method) / AM_FILES[kind]


def am_outputs(layer_folder, method) -> dict:
    """The files the am step writes for ``method`` under a layer's folder, by kind."""
    return {kind: Path(layer_folder) / method / name for kind, name in AM_FILES.items()}


def ablation(results, dataset, model, seed, layer):
    return layer_dir(results, dataset, model, seed, layer) / "ablation.csv"


def cumulative(results, dataset, model, seed, layer):
    """Cumulative ablation, ordered by the base analysis's scores."""
    return layer_dir(results, dataset, model, seed, layer) / "cumulative.csv"


def model_units(results, dataset, model, variant):
    return model_dir(results, dataset, model) / variant / "units.csv"


def model_stats(results, dataset, model, variant):
    return model_dir(results, dataset, model) / variant / "stats.csv"


def model_trajectory(results, dataset, model, variant):
    """The RS statistics at each recorded AM step."""
    return model_dir(results, dataset, model) / variant / "trajectory.csv"


# A study is every run on one data set: presets on different data sets share
# the results folder without overwriting each other's statistics and claims.
STUDY = "study"  # beside the runs' folders, so no run may take this name


def study_dir(results, dataset, variant):
    return Path(results) / dataset / STUDY / variant


def study_stats(results, dataset, variant):
    return study_dir(results, dataset, variant) / "stats.csv"


def claims(results, dataset, variant):
    return study_dir(results, dataset, variant) / "claims.csv"


REGISTERED_TABLES = ("stats", "claims", "primary")  # the registered analysis (repsub/registered.py)


def registered(results, dataset, table):
    """A table of the registered analysis, in the base study's folder: each sample's
    statistics or claims, or the primary test."""
    return study_dir(results, dataset, BASE) / "registered" / f"{table}.csv"


def study_trajectory(results, dataset, variant):
    return study_dir(results, dataset, variant) / "trajectory.csv"


def robustness(results, dataset):
    """Each claim's verdict per model in the base analysis and in every variant."""
    return Path(results) / dataset / "robustness.csv"


MODEL_FIGURES = (
    "fig1_selectivity_vs_rs",
    "fig2_substitutes",
    "fig3a_fc_selectivity_vs_rs",
    "ablation_drop_vs_scores",
    "cumulative_ablation",
    "training_curves",
    "rs_distribution",
    "am_convergence",
)
STUDY_FIGURES = ("fig3b_correlation_vs_depth", "robustness", "forest", "trajectory")


def figures_dir(results, dataset, model):
    return Path(results) / "figures" / dataset / model


def figure(results, dataset, model, name, suffix="png"):
    return figures_dir(results, dataset, model) / f"{name}.{suffix}"


def study_figure(results, dataset, name, suffix="png"):
    return Path(results) / "figures" / dataset / f"{name}.{suffix}"


def report_page(results, name, dataset=None):
    """An HTML page made for the Snakemake report: the front page, or a data set's claims
    or robustness table."""
    folder = Path(results) / "report"
    return (folder / dataset if dataset else folder) / f"{name}.html"


def log(results, folder, name):
    """The log of the job named ``name`` whose outputs live in ``folder`` (under ``results``)."""
    return Path(results) / "logs" / Path(folder).relative_to(results) / f"{name}.log"


def benchmark(results, folder, name):
    """The timing of that job (Snakemake's benchmark file)."""
    return Path(results) / "benchmarks" / Path(folder).relative_to(results) / f"{name}.tsv"


Table = namedtuple("Table", "kind seed layer method path")
AM_TABLES = ("rs", "images", "units", "substitution", "rs_steps", "movement")
COUNTED_TABLES = ("rs", "rs_steps")  # the AM tables that depend on how RS is counted
TABLE_FILES = {"metrics": "metrics.csv", "selectivity": "selectivity.csv", "ablation": "ablation.csv",
               "cumulative": "cumulative.csv", **{kind: AM_FILES[kind] for kind in AM_TABLES}}


def run_table_slots(seeds, layers, methods, variant=BASE):
    """The (kind, seed, layer, method) of every per-seed and per-layer table that a run's
    statistics read in ``variant``, and for the base analysis its figures too (cumulative
    ablation), in the one order the rules pass them and the summary steps read them: by
    seed, then metrics, selectivity and per layer its ablation, cumulative ablation and
    per method its AM tables."""
    for seed in seeds:
        yield "metrics", seed, None, None
        yield "selectivity", seed, None, None
        for layer in layers:
            yield "ablation", seed, layer, None
            if variant == BASE:
                yield "cumulative", seed, layer, None
            for method in methods:
                for kind in AM_TABLES:
                    yield kind, seed, layer, method


def run_tables(results, dataset, model, seeds, layers, methods, variant=BASE, from_base=()):
    """Those tables with their paths. ``from_base`` names what the variant shares with the
    base: stages (selectivity, or a method) and kinds of AM file (a variant that only
    recounts RS shares every AM file but the RS tables)."""

    def path(kind, seed, layer, method):
        source = BASE if kind in from_base or method in from_base else variant
        if kind == "metrics":
            return metrics(results, dataset, model, seed)
        if kind == "selectivity":
            return selectivity(results, dataset, model, seed, source)
        if kind in ("ablation", "cumulative"):
            return (ablation if kind == "ablation" else cumulative)(results, dataset, model, seed, layer)
        return am_file(results, dataset, model, seed, source, layer, method, kind)

    return [Table(*slot, path(*slot)) for slot in run_table_slots(seeds, layers, methods, variant)]


def table_paths(tables):
    """The tables' paths by their (kind, seed, layer, method)."""
    return {(t.kind, t.seed, t.layer, t.method): t.path for t in tables}
