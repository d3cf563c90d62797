import json
from pathlib import Path
import re
import shlex
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# The science package lives at the repository root; the workflow and every job
# (local, conda or SLURM) import it from there.
sys.path.insert(0, workflow.basedir)
# Each rule's command writes to its log, and on failure prints the log's last line, the one
# sentence that says why, so that it shows in the terminal (locally; on SLURM in the job's
# log, which profiles/slurm shows).
shell.prefix(f"set -euo pipefail; export PYTHONPATH={shlex.quote(workflow.basedir)}; ")

from repsub import layout
from repsub.configuration import (
    active_runs,
    analysis_variants,
    downloads_cifar10,
    exploratory_stats,
    run_layers,
    schema_error,
    recounts_only,
    registration_file,
    scoped_layers,
    shared_with_base,
    streamed,
    trains,
    variant_layers,
    weights_to_download,
    yaml_problem,
)
from repsub.errors import UserError
from repsub.nets.kinds import is_weights_file
from repsub.nets.names import kind_of
from repsub.provenance import set_aside_unfinished
from repsub.settings import OPTIMISED, RS_ORDER_METHOD


def _stop(sentence):
    """One sentence naming the key, before any job starts."""
    print(f"error: {sentence}", file=sys.stderr)
    sys.exit(2)


# A key given twice in a config file: Snakemake would keep the last silently.
for problem in filter(None, map(yaml_problem, workflow.configfiles)):
    _stop(problem)

try:
    validate(config, schema="../schemas/config.schema.yaml")
except WorkflowError as error:
    _stop(schema_error(error))

RESULTS = config["results"]
BASE = layout.BASE  # the study's own analysis, beside the named variants
METHODS = config["analysis"]["am"]["methods"]
JOBS = config["jobs"]
GPUS = (0 if config["device"] == "cpu" else 1) if JOBS["gpus"] is None else JOBS["gpus"]
# Wildcard placeholders: rules build their paths from repsub.layout with these.
# {model} is a run's name; {trainable} and {pretrained} name runs that train a model
# and runs that load one (weights from torchvision or a file, or random ones);
# {variant} is base or a named analysis variant.
DATASET, MODEL, TRAINABLE, PRETRAINED, SEED, VARIANT, LAYER = (
    "{dataset}",
    "{model}",
    "{trainable}",
    "{pretrained}",
    "{seed}",
    "{variant}",
    "{layer}",
)

CHECKPOINT = str(layout.checkpoint(RESULTS, DATASET, MODEL, SEED))
MANIFEST = str(layout.manifest(RESULTS, DATASET))


def _notice(message):
    print(message, file=sys.stderr)


try:
    RUNS = active_runs(config, _notice)
    VARIANTS = analysis_variants(config, RUNS)
except UserError as error:
    _stop(error)


def dry_run(argv):
    """Whether Snakemake was asked for a dry run (-n, -np, --dry-run): the workflow object
    learns it only after this file is parsed, and a dry run must change no file."""
    return any(
        arg in ("-n", "--dry-run", "--dryrun")
        or (re.fullmatch(r"-[A-Za-z]{2,}", arg) is not None and "n" in arg)
        for arg in argv[1:]
    )


# Snakemake takes any file that exists as made; the project's records know better. Outputs
# whose steps never finished are set aside, so that their jobs are planned again, unless
# another Snakemake holds this working folder (its jobs are running). Only the main process:
# a cluster job parses this file again while its siblings run.
if workflow.is_main_process and any(Path(".snakemake", "locks").glob("*")):
    _notice(
        "repsub: this folder is locked by another Snakemake, so unfinished outputs are not set aside"
    )
elif workflow.is_main_process:
    dry = dry_run(sys.argv)
    moved, where = set_aside_unfinished(RESULTS, dry_run=dry)
    if moved and dry:  # a dry run changes nothing, but says what a run will do
        _notice(
            f"repsub: a run (not this dry run) will set aside {moved} files of steps that never finished, and of steps after them, and run their jobs again"
        )
    elif moved:
        _notice(
            f"repsub: set aside {moved} files of steps that never finished, and of steps after them, into {where}; their jobs run again"
        )


def run_of(dataset, name):
    for run in RUNS:
        if run["dataset"] == dataset and run["name"] == name:
            return run
    raise ValueError(f"no run named {name} on {dataset} in the config")


def registration_of(seed):
    """The arguments that name the registration a seed's training belongs to (none if none)."""
    registration = config.get("registration") or {}
    return (
        ["--registration", str(registration_file(registration))]
        if seed in registration.get("seeds", [])
        else []
    )


def registered_runs(registration):
    """The arguments that name the registered networks, where the registration names them."""
    return ["--runs", *registration["runs"]] if registration.get("runs") else []


def registered_datasets():
    """The data sets with a run of the registered seeds: they get the registered analysis."""
    seeds = set((config.get("registration") or {}).get("seeds", []))
    return sorted({run["dataset"] for run in RUNS if seeds & set(run["seeds"])})


def batch_norm_of(run):
    return kind_of(run["model"]).batch_norm(run.get("model_options", {}))


def layers_of(run, variant=BASE):
    """The layers of a run that ``variant`` analyses: the base all the run lists, a named
    variant those within the run's variant_scope and the variant's own layers."""
    if variant == BASE:
        return run_layers(run)
    return variant_layers(scoped_layers(run), VARIANTS[variant])


def seeds_of(run, variant=BASE):
    """The seeds of a run that ``variant`` analyses (a named variant: its variant_scope)."""
    if variant == BASE:
        return run["seeds"]
    scope = run.get("variant_scope", {}).get("seeds", run["seeds"])
    return [seed for seed in run["seeds"] if seed in scope]


def runs_in(variant, dataset):
    """The runs on ``dataset`` that ``variant`` covers (at least one layer and seed)."""
    return [
        r
        for r in RUNS
        if r["dataset"] == dataset and layers_of(r, variant) and seeds_of(r, variant)
    ]


def from_base(wildcards):
    """The stages whose tables a variant shares with the base analysis."""
    return shared_with_base(VARIANTS[wildcards.variant])


def unit_of(wildcards):
    """What one unit's activation is in this variant: a conv map's spatial mean or max."""
    return VARIANTS[wildcards.variant].get("unit", config["analysis"]["unit"])


def as_json(value):
    """Config values travel to the commands as JSON data, never as code."""
    return json.dumps(value, sort_keys=True)


def stage_settings(stage, exclude=()):
    """A params function: the run's ``am`` or ``ablation`` settings (study-wide, then the
    run's overrides, then the variant's) as the JSON object its command takes as --settings.
    """

    def settings(wildcards):
        run = run_of(wildcards.dataset, wildcards.model)
        variant = VARIANTS[getattr(wildcards, "variant", BASE)]
        merged = {
            **config["analysis"][stage],
            **run.get("analysis", {}).get(stage, {}),
            **variant.get(stage, {}),
        }
        return as_json({k: v for k, v in merged.items() if k not in exclude})

    return settings


def am_output(kind, method):
    return str(
        layout.am_file(RESULTS, DATASET, MODEL, SEED, VARIANT, LAYER, method, kind)
    )


def am_outputs(kind, methods):
    """One AM job makes several methods of a layer: its ``kind`` files, one per method."""
    return [am_output(kind, method) for method in methods]


def am_method_sets():
    """Each set of methods that some variant's AM jobs make -> those variants (a variant
    that only recounts RS makes no images: rule recount_rs)."""
    sets = {}
    for variant, overlay in VARIANTS.items():
        if recounts_only(overlay):
            continue
        shared = [] if variant == BASE else shared_with_base(overlay)
        methods = tuple(m for m in METHODS if m not in shared)
        if methods:
            sets.setdefault(methods, []).append(variant)
    return sets


def recount_variants():
    """A wildcard constraint matching the variants that only recount RS."""
    return exactly(
        variant for variant, overlay in VARIANTS.items() if recounts_only(overlay)
    )


def base_am_files(kind):
    """The base analysis's ``kind`` file of every method, for the job's seed and layer."""
    return [
        str(layout.am_file(RESULTS, DATASET, MODEL, SEED, BASE, LAYER, method, kind))
        for method in METHODS
    ]


def am_rule_name(methods):
    """activation_maximisation for every method, else the methods' names appended."""
    suffix = "" if list(methods) == METHODS else "_" + "_".join(methods)
    return f"activation_maximisation{suffix}"


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


def prepared_splits(wildcards):
    """The split files that preparing a data set writes beside its manifest and the torch
    steps read (none for a streamed image folder)."""
    if streamed(config["datasets"][wildcards.dataset]):
        return []
    return [str(layout.split_path(MANIFEST, split)) for split in layout.SPLITS]


def datasets_matching(in_memory):
    """A wildcard constraint naming the data sets prepared into split files (or streamed)."""
    names = [
        re.escape(name)
        for name, spec in config["datasets"].items()
        if streamed(spec) != in_memory
    ]
    return "|".join(names) or "(?!)"  # (?!) matches nothing


def pretrained_weights(wildcards):
    """What a run that loads its model loads: the file download_weights fetched, or the
    configured local file, or null (random weights)."""
    return weights_of(wildcards.dataset, wildcards.pretrained)


def loaded_weights(wildcards):
    """What the run whose model is checked loads (null for a run that trains it)."""
    return weights_of(wildcards.dataset, wildcards.checked)


def weights_of(dataset, name):
    run = run_of(dataset, name)
    if trains(run):
        return None
    if weights_to_download(run):
        return str(layout.weights(RESULTS, dataset, name))
    return run.get("model_options", {}).get("weights")


def checked_before_jobs(run):
    return kind_of(run["model"]).checked_before_jobs


def model_check_of(dataset, name):
    """The model check a run's first expensive job waits for (none for the built-in families)."""
    run = run_of(dataset, name)
    if not checked_before_jobs(run):
        return []
    return [str(layout.model_check(RESULTS, dataset, name))]


def job_log(folder, name):
    return str(layout.log(RESULTS, folder, name))


def job_benchmark(folder, name):
    return str(layout.benchmark(RESULTS, folder, name))


def model_tables(wildcards):
    """Every per-seed, per-layer table that a run's statistics (in a variant) or figures
    (base) read, in the order the summary steps take them (repsub.layout.run_table_slots).
    """
    run = run_of(wildcards.dataset, wildcards.model)
    variant = getattr(wildcards, "variant", BASE)
    return [
        str(table.path)
        for table in layout.run_tables(
            RESULTS,
            run["dataset"],
            run["name"],
            seeds_of(run, variant),
            layers_of(run, variant),
            METHODS,
            variant,
            shared_with_base(VARIANTS[variant]),
        )
    ]


def am_traces(wildcards):
    """The AM and IAM traces of a run's first seed, which its convergence figure draws,
    layer by layer."""
    run = run_of(wildcards.dataset, wildcards.model)
    return [
        str(
            layout.am_file(
                RESULTS,
                run["dataset"],
                run["name"],
                run["seeds"][0],
                BASE,
                layer,
                m,
                "trace",
            )
        )
        for layer in layers_of(run)
        for m in METHODS
        if m in OPTIMISED
    ]


def datasets_studied():
    return sorted({run["dataset"] for run in RUNS})


def all_targets():
    """The base analysis in full (statistics, claims, figures, contact sheets) and the
    robustness table, which pulls in every variant's statistics and claims."""
    targets = [layout.report_page(RESULTS, "front_page")] if RUNS else []
    for dataset in datasets_studied():
        targets += [
            layout.study_stats(RESULTS, dataset, BASE),
            layout.claims(RESULTS, dataset, BASE),
            layout.robustness(RESULTS, dataset),
        ]
        targets += [
            layout.study_figure(RESULTS, dataset, name) for name in layout.STUDY_FIGURES
        ]
    targets += [
        layout.registered(RESULTS, dataset, table)
        for dataset in registered_datasets()
        for table in layout.REGISTERED_TABLES
    ]
    for run in RUNS:
        targets.append(layout.model_stats(RESULTS, run["dataset"], run["name"], BASE))
        targets += [
            layout.figure(RESULTS, run["dataset"], run["name"], name)
            for name in layout.MODEL_FIGURES
        ]
        for seed in run["seeds"]:
            for layer in layers_of(run):
                targets += [
                    layout.am_file(
                        RESULTS,
                        run["dataset"],
                        run["name"],
                        seed,
                        BASE,
                        layer,
                        m,
                        "sheet",
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


# Downloads need the internet, which compute nodes often lack, and the summary steps and
# recounts take seconds: they run where Snakemake runs rather than waiting in a cluster's queue.
localrules:
    download_cifar10,
    download_weights,
    recount_rs,
    model_statistics,
    study_statistics,
    robustness,
    model_figures,
    study_figures,
    report_pages,


def model_code(run):
    """The files of a python: model's factory, which its checkpoint step reads (none for others)."""
    return kind_of(run["model"]).files(run.get("model_options", {}))


def exactly(names):
    """A wildcard constraint matching exactly ``names``."""
    names = sorted({re.escape(name) for name in names})
    return "|".join(names) if names else "(?!)"  # (?!) matches nothing


def names_matching(runs):
    """A wildcard constraint matching exactly the names of ``runs``."""
    return exactly(run["name"] for run in runs)


def layers_matching():
    """A wildcard constraint matching exactly the layers the runs analyse."""
    return exactly(layer for run in RUNS for layer in run_layers(run))


wildcard_constraints:
    dataset=r"[A-Za-z0-9_\-]+",
    model=names_matching(RUNS),
    trainable=names_matching([run for run in RUNS if trains(run)]),
    pretrained=names_matching([run for run in RUNS if not trains(run)]),
    checked=names_matching([run for run in RUNS if checked_before_jobs(run)]),
    seed=r"\d+",
    layer=layers_matching(),
    variant=exactly(VARIANTS),
