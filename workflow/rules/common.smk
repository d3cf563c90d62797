import json
import shlex
import sys
from pathlib import Path

from snakemake.utils import validate

# The science package lives at the repository root; the workflow and every job
# (local, conda or SLURM) import it from there.
sys.path.insert(0, workflow.basedir)
shell.prefix(f"set -euo pipefail; export PYTHONPATH={shlex.quote(workflow.basedir)}; ")

from repsub import layout
from repsub.architectures import layer_names
from repsub.configuration import active_runs
from repsub.errors import UserError

validate(config, schema="../schemas/config.schema.yaml")

RESULTS = config["results"]


def _notice(message):
    print(message, file=sys.stderr)


try:
    RUNS = active_runs(config, _notice)
except UserError as error:  # one sentence naming the key, before any job starts
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)


def run_of(dataset, model):
    for run in RUNS:
        if run["dataset"] == dataset and run["model"] == model:
            return run
    raise ValueError(f"no run of {model} on {dataset} in the config")


def analysis_of(wildcards, stage):
    """The ``am`` or ``ablation`` settings of a run: study-wide, then its overrides."""
    run = run_of(wildcards.dataset, wildcards.model)
    return {**config["analysis"][stage], **run.get("analysis", {}).get(stage, {})}


def layers_of(run):
    return run.get("layers") or list(layer_names(run["model"]))


def as_json(value):
    """Config values travel to the commands as JSON data, never as code."""
    return json.dumps(value, sort_keys=True)


def seed_paths(path_of, **extra):
    """Per active run and seed, the paths that ``path_of`` gives."""
    return [
        path_of(RESULTS, run["dataset"], run["model"], seed, **extra)
        for run in RUNS
        for seed in run["seeds"]
    ]


def layer_paths(path_of, run, **extra):
    return [
        path_of(RESULTS, run["dataset"], run["model"], seed, layer, **extra)
        for seed in run["seeds"]
        for layer in layers_of(run)
    ]


def run_inputs(wildcards):
    """Every per-seed, per-layer table that statistics and figures read for one run."""
    run = run_of(wildcards.dataset, wildcards.model)
    inputs = {
        "metrics": [
            layout.metrics(RESULTS, run["dataset"], run["model"], s)
            for s in run["seeds"]
        ],
        "selectivity": [
            layout.selectivity(RESULTS, run["dataset"], run["model"], s)
            for s in run["seeds"]
        ],
        "ablation": layer_paths(layout.ablation, run),
        "cumulative": layer_paths(layout.cumulative, run),
    }
    for method in config["analysis"]["am"]["methods"]:
        for kind in ("rs", "substitution", "images", "units"):
            inputs[f"{method}_{kind}"] = layer_paths(
                layout.am_file, run, method=method, kind=kind
            )
    return inputs


def datasets_studied():
    return sorted({run["dataset"] for run in RUNS})


def all_targets():
    targets = []
    for dataset in datasets_studied():
        targets += [
            layout.study_stats(RESULTS, dataset),
            layout.claims(RESULTS, dataset),
        ]
        targets += [
            layout.study_figure(RESULTS, dataset, name) for name in layout.STUDY_FIGURES
        ]
    for run in RUNS:
        targets.append(layout.model_stats(RESULTS, run["dataset"], run["model"]))
        targets += [
            layout.figure(RESULTS, run["dataset"], run["model"], name)
            for name in layout.MODEL_FIGURES
        ]
        for method in config["analysis"]["am"]["methods"]:
            targets += layer_paths(layout.am_file, run, method=method, kind="sheet")
    return [str(t) for t in targets]


FIGURE_DIR = f"{RESULTS}/figures/{{dataset}}/{{model}}"
FIGURE_LABELS = {"data": "{dataset}", "model": "{model}"}


def model_figure(name, category):
    return report(
        f"{FIGURE_DIR}/{name}.png",
        caption=f"../report/{name}.rst",
        category=category,
        subcategory="{model} on {dataset}",
        labels={**FIGURE_LABELS, "figure": name},
    )


wildcard_constraints:
    dataset=r"[A-Za-z0-9_\-]+",
    model=r"mlp|shallow_cnn|vgg16|vgg16_imagenet",
    trainable=r"mlp|shallow_cnn|vgg16",
    seed=r"\d+",
    layer=r"(conv|fc)\d+",
    method=r"am|iam",
