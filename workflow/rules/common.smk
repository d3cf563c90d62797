import json
import shlex
import sys

from snakemake.utils import validate

# The science package lives at the repository root; the workflow and every job
# (local, conda or SLURM) import it from there.
sys.path.insert(0, workflow.basedir)
shell.prefix(f"set -euo pipefail; export PYTHONPATH={shlex.quote(workflow.basedir)}; ")

from repsub import layout
from repsub.architectures import layer_names
from repsub.configuration import (
    WEIGHT_FILE_SUFFIXES,
    active_runs,
    downloads_cifar10,
    weights_to_download,
)
from repsub.errors import UserError

validate(config, schema="../schemas/config.schema.yaml")

RESULTS = config["results"]
METHODS = config["analysis"]["am"]["methods"]
JOBS = config["jobs"]
GPUS = (0 if config["device"] == "cpu" else 1) if JOBS["gpus"] is None else JOBS["gpus"]
# Wildcard placeholders: rules build their paths from repsub.layout with these.
DATASET, MODEL, TRAINABLE, SEED, LAYER, METHOD = (
    "{dataset}",
    "{model}",
    "{trainable}",
    "{seed}",
    "{layer}",
    "{method}",
)

CHECKPOINT = str(layout.checkpoint(RESULTS, DATASET, MODEL, SEED))
MANIFEST = str(layout.manifest(RESULTS, DATASET))


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


def layers_of(run):
    return run.get("layers") or list(layer_names(run["model"]))


def as_json(value):
    """Config values travel to the commands as JSON data, never as code."""
    return json.dumps(value, sort_keys=True)


def stage_settings(stage, exclude=()):
    """A params function: the run's ``am`` or ``ablation`` settings (study-wide, then
    the run's overrides) as the JSON object its command takes as --settings."""

    def settings(wildcards):
        run = run_of(wildcards.dataset, wildcards.model)
        merged = {**config["analysis"][stage], **run.get("analysis", {}).get(stage, {})}
        return as_json({k: v for k, v in merged.items() if k not in exclude})

    return settings


def am_output(kind):
    return str(layout.am_file(RESULTS, DATASET, MODEL, SEED, LAYER, METHOD, kind))


def results_folder(wildcards):
    """Summary jobs find a run's tables through repsub.layout, which needs the results
    folder itself (the workflow assumes a file system shared by all jobs)."""
    return RESULTS


def retried(mem_mb, runtime):
    """Memory (MB) and run time (minutes) of a job, growing with each retry."""
    return {
        "mem_mb": lambda wildcards, attempt: mem_mb * attempt,
        "runtime": lambda wildcards, attempt: runtime * attempt,
    }


def torch_job(mem_mb, runtime, threads):
    """Resources of a torch job: the GPUs it holds (config jobs.gpus), a CPU share per GPU
    and the GPU partition on SLURM, with memory and run time that grow on retry."""
    resources = {**retried(mem_mb, runtime), "gpu": GPUS}
    if GPUS:
        resources["cpus_per_gpu"] = max(1, threads // GPUS)
        if JOBS["gpu_partition"]:
            resources["slurm_partition"] = JOBS["gpu_partition"]
    return resources


def download_inputs(wildcards):
    """The download record that a data set fetched by the workflow is prepared from."""
    if downloads_cifar10(config["datasets"][wildcards.dataset]):
        return [str(layout.download_record(RESULTS, wildcards.dataset))]
    return []


def pretrained_weights(wildcards):
    """What a vgg16_imagenet run loads: the file download_weights fetched, or the configured
    local file, or null (random weights)."""
    run = run_of(wildcards.dataset, "vgg16_imagenet")
    if weights_to_download(run):
        return str(layout.weights(RESULTS, wildcards.dataset))
    return run.get("model_options", {}).get("weights")


def job_log(folder, name):
    return str(layout.log(RESULTS, folder, name))


def job_benchmark(folder, name):
    return str(layout.benchmark(RESULTS, folder, name))


def model_tables(wildcards):
    """Every per-seed, per-layer table that a run's statistics and figures read, by kind."""
    run = run_of(wildcards.dataset, wildcards.model)
    tables = {}
    for table in layout.run_tables(
        RESULTS, run["dataset"], run["model"], run["seeds"], layers_of(run), METHODS
    ):
        key = f"{table.method}_{table.kind}" if table.method else table.kind
        tables.setdefault(key, []).append(str(table.path))
    return tables


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
        for seed in run["seeds"]:
            for layer in layers_of(run):
                targets += [
                    layout.am_file(
                        RESULTS, run["dataset"], run["model"], seed, layer, m, "sheet"
                    )
                    for m in METHODS
                ]
    return [str(t) for t in targets]


def model_figure(name, category):
    return report(
        str(layout.figure(RESULTS, DATASET, MODEL, name)),
        caption=f"../report/{name}.rst",
        category=category,
        subcategory="{model} on {dataset}",
        labels={"data": "{dataset}", "model": "{model}", "figure": name},
    )


# Downloads need the internet, which compute nodes often lack: they run where Snakemake runs.
localrules:
    download_cifar10,
    download_weights,


wildcard_constraints:
    dataset=r"[A-Za-z0-9_\-]+",
    model=r"mlp|shallow_cnn|vgg16|vgg16_imagenet",
    trainable=r"mlp|shallow_cnn|vgg16",
    seed=r"\d+",
    layer=r"(conv|fc)\d+",
    method=r"am|iam|noise|top_image",
