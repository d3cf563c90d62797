"""Command-line entry points, one per workflow step: ``python -m repsub STEP --help``.

Each step is declared once here (:class:`Step`): its input files, its output files and
its other parameters. Its parser is built from that declaration, and
tests/test_declarations.py checks every rule's command against it (the rule passes
exactly the declared arguments, and the files it passes are the job's inputs and
outputs). What each step does lives in :mod:`repsub.commands` and
:mod:`repsub.summary_commands`. Every step marks its outputs in progress, writes them
atomically, then writes a provenance record beside each. A problem the user can fix
ends the command with one sentence on stderr, exit status 2 and no output left behind.
"""

import argparse
import json
import sys

from . import commands, summary_commands
from .errors import UserError
from .layout import AM_FILES, AM_TABLES, BASE, TABLE_FILES, split_files
from .nets.names import kind_of
from . import __version__
from .step_result import StepResult
from .settings import METHODS, PRECISIONS, UNITS, AblationSettings, AMSettings, TrainSettings

INPUTS, OUTPUTS = "inputs", "outputs"


def json_value(text):
    """Parse a JSON value such as "IMAGENET1K_V1" or null (data, never code)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error.msg})") from None


def json_of(kind, example):
    """An argument type: a JSON value of ``kind`` (config values are data, never code)."""
    def parse(text):
        value = json_value(text)
        if not isinstance(value, kind):
            raise argparse.ArgumentTypeError(f"expected {example}")
        return value
    return parse


json_object = json_of(dict, "a JSON object such as '{\"epochs\": 10}'")
json_list = json_of(list, "a JSON list such as '[{\"dataset\": \"digits\"}]'")


def model_name(text):
    """A model named as a config names it (a built-in family, torchvision:<name>, python:<module>:<factory>)."""
    try:
        kind_of(text)
    except UserError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def seed_int(text):
    """A seed the generators take: an integer from 0 to 2**32 - 1."""
    from .settings import MAX_SEED

    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {MAX_SEED}, got {text!r}")
    return value


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def png_path(text):
    """A figure's path: a PNG, beside which its PDF is written."""
    if not text.lower().endswith(".png") or text.endswith("/"):
        raise argparse.ArgumentTypeError(f"must name a .png file (its PDF goes beside it), got {text!r}")
    return text


class Step:
    """A sub-command declared once: its input files, output files and other parameters, from
    which its parser is built and against which each rule's command is checked
    (tests/test_declarations.py).

    ``more_outputs(args)`` names the files a step writes beyond its file
    arguments, so that all of them are marked in progress before it starts;
    ``reads_splits`` records the prepared splits beside the manifest as inputs;
    ``external(args)`` names files from outside the workflow that the step reads (a
    weights file, a user's model code): hashed, with no record of their own.
    """

    def __init__(self, subparsers, name, help_text, command, more_outputs=None, reads_splits=False,
                 external=None):
        self.parser = subparsers.add_parser(name, help=help_text, description=help_text)
        self.parser.set_defaults(step=self)
        self.name, self.command, self.files = name, command, {INPUTS: [], OUTPUTS: []}
        self.file_flags, self.params = [], []  # the flags (or positional names) of files and of the rest
        self.when_configured = set()  # flags a rule passes only where the config asks for them
        self.on_device = self.optimises = False  # a torch step (--device), one with an optimisation loop
        self.settings_class = None  # the settings dataclass of a step that takes --settings
        self.more_outputs, self.reads_splits, self.external = more_outputs, reads_splits, external

    def param(self, name, *, when_configured=False, **options):
        """A parameter that is not a file the workflow makes or reads."""
        self.parser.add_argument(name, **options)
        self.params.append(name)
        if when_configured:
            self.when_configured.add(name)
        return self

    def add_file(self, kind, flag, help_text, required=True, many=False, type=None):
        self.parser.add_argument(flag, required=required, help=help_text, nargs="+" if many else None, type=type)
        self.files[kind].append(flag.lstrip("-").replace("-", "_"))
        self.file_flags.append(flag)
        return self

    def declared(self):
        """Every flag and positional name the step takes."""
        return [*self.file_flags, *self.params]

    def paths(self, args, kind):
        values = [getattr(args, dest) for dest in self.files[kind] if getattr(args, dest)]
        return [path for value in values for path in (value if isinstance(value, list) else [value])]

    def outputs(self, args):
        return [*self.paths(args, OUTPUTS), *(self.more_outputs(args) if self.more_outputs else [])]

    def inputs(self, args):
        return [*self.paths(args, INPUTS), *(split_files(args.manifest) if self.reads_splits else [])]

    def external_inputs(self, args):
        return self.external(args) if self.external else []


def add_model_steps(sub):
    """Steps that load data and models: prepare, train, pretrained, selectivity, am, ablate, cumulative."""

    def common(step, checkpoint=True):
        if checkpoint:
            step.add_file(INPUTS, "--checkpoint", "trained checkpoint (.pt)")
        step.add_file(INPUTS, "--manifest", "data manifest.json written by 'prepare'")
        step.on_device = True
        step.param("--device", default="auto", help="auto, cpu or cuda (default auto)")
        step.param("--threads", type=positive_int, default=None, help="CPU threads for torch")
        return step

    def precision(step):
        step.optimises = True
        step.param("--precision", default="auto", choices=PRECISIONS,
                   help="of the optimisation loop: bf16 autocast, fp32, or auto (bf16 on CUDA and "
                        "on CPUs with native bf16); measuring always runs in fp32")

    def unit(step):
        step.param("--unit", default=UNITS[0], choices=UNITS,
                   help="a conv unit's activation: its map's spatial mean (default) or max")

    def settings(step, kind):
        """--settings: a JSON object of ``kind``'s keys (checked before the step starts)."""
        step.settings_class = kind
        defaults = json.dumps(kind().as_dict(), sort_keys=True)
        step.param("--settings", type=json_object, default={},
                   help=f"{kind.STAGE} settings as a JSON object; keys and defaults: {defaults}")

    step = Step(sub, "prepare", "Load a data set, write its splits and manifest.json.", commands.prepare_command,
                more_outputs=commands.prepared_splits)
    step.param("--spec", type=json_object, required=True,
               help='data set spec as JSON, e.g. \'{"source": "digits"}\'')
    step.add_file(OUTPUTS, "--manifest", "manifest.json to write (the splits go beside it)")
    step.param("--threads", type=positive_int, default=2, help="threads that decode an image folder")

    step = Step(sub, "download-cifar10", "Fetch the official CIFAR-10 archive into a folder (needs the internet).",
                commands.download_cifar10_command)
    step.param("--root", required=True, help="folder that receives cifar-10-batches-py")
    step.add_file(OUTPUTS, "--out", "JSON list of the fetched files and their sha256")

    step = Step(sub, "download-weights", "Fetch torchvision weights into a local file (needs the internet).",
                commands.download_weights_command)
    step.param("--model", type=model_name, default="vgg16_imagenet",
               help="vgg16_imagenet (default) or torchvision:<name>")
    step.param("--weights", required=True, help="torchvision weights name, e.g. IMAGENET1K_V1")
    step.add_file(OUTPUTS, "--out", "state-dict file (.pt) to write")

    step = Step(sub, "check-model", "Build a run's model once for its data, before its other jobs: refuse a head of "
                "another size than the classes, a layer it lacks, weights that do not fit.",
                commands.check_model_command, external=commands.model_files)
    step.add_file(INPUTS, "--manifest", "data manifest.json written by 'prepare'")
    step.param("--run", required=True, help="the run's name, for the messages")
    step.param("--model", type=model_name, required=True,
               help="torchvision:<name> or python:<module>:<factory> (any model)")
    step.param("--model-options", type=json_object, default={}, help="the run's model_options as JSON")
    step.param("--weights", type=json_value, default=None,
               help="JSON: the .pt/.pth state-dict file the run loads, or null")
    step.param("--layers", nargs="+", required=True, help="the layers the run analyses")
    step.add_file(OUTPUTS, "--out", "JSON of the layers' units and kinds")

    step = Step(sub, "layers", "List a model's layers: name, kind (conv map or vector) and units.",
                commands.layers_command)
    step.param("--model", type=model_name, required=True,
               help="a built-in family, torchvision:<name> or python:<module>:<factory>")
    step.param("--model-options", type=json_object, default={},
               help="model options as JSON (cifar_stem, module_path)")
    step.param("--image-shape", type=positive_int, nargs=3, default=[3, 224, 224],
               metavar=("C", "H", "W"), help="the images' shape (default 3 224 224)")
    step.param("--classes", type=positive_int, default=10, help="classes of the head (default 10)")

    step = common(Step(sub, "train", "Train a model, write its checkpoint and per-epoch metrics.",
                       commands.train_command, reads_splits=True, external=commands.model_files), checkpoint=False)
    step.param("--model", type=model_name, required=True,
               help="mlp, shallow_cnn, vgg16, torchvision:<name> or python:<module>:<factory>")
    step.param("--seed", type=seed_int, required=True, help="seed of the initialisation and data order")
    settings(step, TrainSettings)
    precision(step)
    step.param("--model-options", type=json_object, default={}, help="model options as JSON")
    step.param("--registration", default=None, when_configured=True,
               help="the registration this training belongs to (its registered text's sha256 is "
                    "recorded)")
    step.add_file(OUTPUTS, "--checkpoint", "checkpoint to write").add_file(OUTPUTS, "--metrics", "metrics CSV")

    step = common(Step(sub, "pretrained", "Store a model with weights from elsewhere (or random) as a checkpoint, "
                       "with its test accuracy.", commands.pretrained_command, reads_splits=True,
                       external=commands.model_files), checkpoint=False)
    step.param("--model", type=model_name, default="vgg16_imagenet",
               help="vgg16_imagenet (default), torchvision:<name> or python:<module>:<factory>")
    step.param("--model-options", type=json_object, default={},
               help="the run's model_options as JSON (weights names the configured weights)")
    step.param("--weights", type=json_value, default=None,
               help='JSON: the .pt/.pth state-dict file to load, or null (random weights); '
                    'vgg16_imagenet also takes a torchvision weights name such as "IMAGENET1K_V1"')
    step.param("--batch-size", type=positive_int, default=100, help="images per evaluation pass")
    step.add_file(OUTPUTS, "--checkpoint", "checkpoint to write").add_file(OUTPUTS, "--metrics", "metrics CSV")

    step = common(Step(sub, "selectivity", "Class selectivity of every unit of every layer.",
                       commands.selectivity_command, reads_splits=True))
    step.param("--split", default="test", choices=("train", "test"),
               help="the images whose class means define selectivity (default test)")
    step.param("--batch-size", type=positive_int, default=500, help="images per pass")
    step.param("--layers", nargs="+", default=None,
               help="the layers to measure (default: every layer of a built-in model)")
    unit(step)
    step.add_file(OUTPUTS, "--out", "selectivity CSV to write")

    step = common(Step(sub, "am", "Images of a layer's units by each method, their substitution matrices and RS.",
                       commands.am_command, more_outputs=commands.am_files, reads_splits=True))
    step.param("--layer", required=True, help="the layer whose units get images")
    step.param("--methods", nargs="+", required=True, choices=METHODS,
               help="how a unit's image is made: AM, IAM, the starting noise or the top test image")
    step.param("--split", default="test", choices=("train", "test"),
               help="where top_image finds each unit's most exciting image")
    step.param("--batch-size", type=positive_int, default=500, help="images per pass (top_image)")
    settings(step, AMSettings)
    precision(step)
    unit(step)
    step.param("--out-dir", required=True,
               help="the layer's folder: each method writes METHOD/ with images.npy, units.npy, "
                    "substitution.npy, trace.csv, rs.csv, contact_sheet.png, trajectory.npy, "
                    "rs_steps.csv and movement.csv")

    step = Step(sub, "recount", "RS counted again under the AM settings' rs_tolerance from the substitution "
                "matrices the base analysis recorded (its images, so nothing is optimised again).",
                commands.recount_command)
    step.param("--layer", required=True, help="the layer the matrices belong to")
    step.param("--methods", nargs="+", required=True, choices=METHODS,
               help="the methods whose RS is counted, in the order of the files")
    settings(step, AMSettings)
    for flag, kind in (("--units", "units"), ("--substitution", "substitution"), ("--trajectory", "trajectory")):
        step.add_file(INPUTS, flag, f"each method's {AM_FILES[kind]} from the am step", many=True)
    step.add_file(INPUTS, "--base-rs-steps", f"each method's {AM_FILES['rs_steps']} from the am step (its recorded "
                  "steps)", many=True)
    step.add_file(OUTPUTS, "--rs", f"each method's {AM_FILES['rs']} to write", many=True)
    step.add_file(OUTPUTS, "--rs-steps", f"each method's {AM_FILES['rs_steps']} to write", many=True)

    for name, text, command in (("ablate", "Single-unit ablation of every unit of a layer.", commands.ablate_command),
                                ("cumulative", "Cumulative ablation of a layer in several unit orders.",
                                 commands.cumulative_command)):
        step = common(Step(sub, name, text, command, reads_splits=True))
        step.param("--layer", required=True, help="the layer whose units are ablated")
        step.param("--split", default="test", choices=("train", "test"),
                   help="the images accuracy is measured on (default test)")
        step.param("--batch-size", type=positive_int, default=500, help="images per pass")
        settings(step, AblationSettings)
        step.add_file(OUTPUTS, "--out", "ablation CSV to write")
    step.add_file(INPUTS, "--selectivity", "selectivity CSV").add_file(INPUTS, "--rs", "RS CSV (IAM)")


def add_summary_steps(sub):
    """Steps that turn tables into statistics, claims and figures (no torch)."""

    def run_arguments(step):
        step.param("--dataset", required=True, help="the data set's name in the config")
        step.param("--model", required=True, help="the run's name (by default its model's)")
        step.param("--seeds", type=int, nargs="+", required=True, help="the run's seeds")
        step.param("--layers", nargs="+", required=True, help="the layers analysed, first to last")
        step.param("--methods", nargs="+", default=["am", "iam"], choices=METHODS,
                   help="the RS methods whose tables exist (default am iam)")
        step.add_file(INPUTS, "--tables", "every table of the run: seed by seed its metrics.csv and selectivity.csv, "
                      "then layer by layer its ablation.csv, cumulative.csv (base analysis only) and method by method "
                      f"its {', '.join(TABLE_FILES[kind] for kind in AM_TABLES)}", many=True)
        return step

    step = run_arguments(Step(sub, "stats", "Merge a run's unit tables; Spearman statistics per layer.",
                              summary_commands.stats_command))
    step.param("--architecture", type=model_name, required=True,
               help="the run's model (--model names the run)")
    step.param("--variant", default=BASE, help=f"the analysis variant (default {BASE})")
    step.param("--from-base", nargs="*", default=[], choices=("selectivity", *METHODS, *AM_TABLES),
               help="stages and kinds of AM table that the variant shares with the base analysis; "
               "recorded in the provenance for the audit (--tables already names their files)")
    step.param("--ablation-settings", type=json_object, default={},
               help="the run's ablation settings as JSON: which units its single-unit ablation chose")
    step.param("--exclude-unmoved", default="false", choices=("true", "false"),
               help="true: leave out of the RS statistics of AM and IAM the units AM never moved")
    step.param("--batch-norm", default="unknown", choices=("true", "false", "unknown"),
               help="whether the run's network has BatchNorm (claim E6 compares runs that differ in it)")
    step.add_file(OUTPUTS, "--units", "merged per-unit CSV to write").add_file(OUTPUTS, "--out", "stats CSV")
    step.add_file(OUTPUTS, "--trajectory", "RS statistics at each recorded AM step, CSV")

    step = Step(sub, "study-stats", "Concatenate the runs' statistics and test the paper's claims.",
                summary_commands.study_stats_command)
    step.add_file(INPUTS, "--inputs", "per-run stats CSVs", many=True)
    step.add_file(INPUTS, "--trajectories", "per-run trajectory CSVs, in the order of --inputs", many=True)
    step.add_file(OUTPUTS, "--out", "study stats CSV").add_file(OUTPUTS, "--claims", "claims CSV")
    step.add_file(OUTPUTS, "--trajectory", "study trajectory CSV (RS statistics at each recorded AM step)")

    step = Step(sub, "restate", "A study's pooled statistics and claims again, under the current rules, from the "
                "per-seed rows of its stats CSV.", summary_commands.restate_command)
    step.add_file(INPUTS, "--stats", "study stats CSV (of this release or an earlier one)")
    step.add_file(OUTPUTS, "--out", "study stats CSV to write").add_file(OUTPUTS, "--claims", "claims CSV to write")

    step = Step(sub, "registered", "The registered analysis: the claims on the confirmatory, exploratory and all "
                "seeds, and the primary test (docs/REGISTRATION.md).", summary_commands.registered_command)
    step.add_file(INPUTS, "--stats", "the study's stats CSV; more than one where the samples' seeds were analysed "
                  "apart (e.g. the exploratory seeds' published stats.csv and the confirmatory study's)", many=True)
    step.add_file(INPUTS, "--registration", "the registration (docs/REGISTRATION.md)")
    step.param("--seeds", type=int, nargs="+", required=True, help="the registered (confirmatory) seeds")
    step.param("--runs", nargs="+", default=None, when_configured=True,
               help="the registered networks: only their rows of the registered seeds form the confirmatory "
                    "sample (default: every run's)")
    step.add_file(OUTPUTS, "--out", "each sample's statistics, CSV").add_file(OUTPUTS, "--claims", "each sample's "
                                                                                "claims, CSV")
    step.add_file(OUTPUTS, "--primary", "the primary test, CSV")

    step = run_arguments(Step(sub, "figures", "A run's figures (PNG and PDF).", summary_commands.figures_command,
                              more_outputs=summary_commands.figure_files))
    step.add_file(INPUTS, "--units", "merged per-unit CSV from 'stats'")
    step.add_file(INPUTS, "--manifest", "data manifest.json written by 'prepare' (the images' shape)")
    step.add_file(INPUTS, "--traces", "the first seed's AM trace.csv of each layer and optimised method, layer by "
                  "layer", many=True)
    step.param("--out-dir", required=True, help="folder for the figures")

    step = Step(sub, "robustness", "Each claim's verdict per model across the analysis variants (table, figures).",
                summary_commands.robustness_command, more_outputs=summary_commands.pdf_of("figure", "forest"))
    step.param("--variants", nargs="+", required=True, help="variant names, the base first")
    step.add_file(INPUTS, "--claims", "claims CSV of each variant, in the order of --variants", many=True)
    step.param("--layers", type=json_object, required=True,
               help='JSON: variant -> run name -> {"layers": [...], "seeds": [...]} it analysed')
    step.add_file(INPUTS, "--stats", "study stats CSV of each variant, in the order of --variants", many=True)
    step.add_file(OUTPUTS, "--out", "robustness CSV")
    step.add_file(OUTPUTS, "--figure", "figure PNG (a PDF goes beside it)", type=png_path)
    step.add_file(OUTPUTS, "--forest", "forest plot PNG of every layer's r (a PDF goes beside it)", type=png_path)

    step = Step(sub, "study-figures", "Figures across runs: correlation against depth and against AM step.",
                summary_commands.study_figures_command, more_outputs=summary_commands.pdf_of("out", "trajectory_figure"))
    step.add_file(INPUTS, "--stats", "study stats CSV")
    step.add_file(OUTPUTS, "--out", "figure PNG (a PDF goes beside it)", type=png_path)
    step.add_file(INPUTS, "--trajectory", "study trajectory CSV")
    step.add_file(OUTPUTS, "--trajectory-figure", "r against AM step, PNG (a PDF goes beside it)", type=png_path)


def add_report_step(sub):
    step = Step(sub, "report-pages", "The claims and robustness tables as HTML, and the report's front page.",
                summary_commands.report_pages_command)
    step.add_file(INPUTS, "--claims", "base claims CSV of each data set", many=True)
    step.add_file(INPUTS, "--robustness", "robustness CSV of each data set, in the order of --claims", many=True)
    step.add_file(INPUTS, "--stats", "study stats CSV of each data set, in the order of --claims", many=True)
    step.add_file(INPUTS, "--manifests", "data manifest of each data set, in the order of --claims", many=True)
    step.add_file(INPUTS, "--metrics", "every run's per-seed metrics CSV (the runs' entries name theirs)", many=True)
    step.param("--configfiles", nargs="*", default=[], help="the config files of the run, to name them")
    step.param("--runs", type=json_list, required=True,
               help='JSON list of runs: [{"dataset", "name", "model", "seeds", "layers", "metrics", '
                    '"ablation_images"}, ...]')
    step.add_file(OUTPUTS, "--claims-pages", "HTML page per claims CSV", many=True)
    step.add_file(OUTPUTS, "--robustness-pages", "HTML page per robustness CSV", many=True)
    step.add_file(OUTPUTS, "--front-page", "HTML fragment for the report's front page")


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m repsub", description="The workflow's steps, one command each; "
                                     "'python -m repsub STEP --help' says what a step takes.")
    parser.add_argument("--version", action="version", version=f"repsub {__version__}")
    sub = parser.add_subparsers(required=True, metavar="STEP")
    add_model_steps(sub)
    add_summary_steps(sub)
    add_report_step(sub)
    step = Step(sub, "publish", "Copy a data set's finished results into a folder to commit: tables, per-unit "
                "data, curves, figures.", summary_commands.publish_command)
    step.param("--results", required=True, help="the results folder of the study")
    step.param("--dataset", required=True, help="the data set whose study to publish")
    step.param("--out", required=True, help="a new or empty folder (e.g. docs/results/NAME)")
    step = Step(sub, "article", "Render a study's article from its template and committed tables (no number "
                "typed by hand).", summary_commands.article_command)
    step.param("--template", required=True, help="the article's Jinja template (docs/articles/)")
    step.param("--study", required=True, help="the published study folder (e.g. docs/results/cifar10)")
    step.param("--ours", nargs="+", required=True, help="the config files the study's runs were made with")
    step.param("--paper", nargs="+", required=True, help="the config files of the paper's design")
    step.param("--registered", default=None,
               help="the published confirmatory study whose registered/ tables the article reports")
    step.param("--power", default=None,
               help="the registered power analysis's table the article quotes (docs/registration/power.csv)")
    step.param("--out", required=True, help="the Markdown file to write")
    step = Step(sub, "check-config", "Check config files as Snakemake merges them: YAML syntax (with the line of "
                "an error) and the schema.", commands.check_config_command)
    step.param("configfiles", nargs="+", help="the files given to --configfile, in that order")
    step = Step(sub, "audit", "Walk back from an artifact through its provenance and re-check hashes.",
                commands.audit_command)
    step.param("path", help="any file the workflow made (its .prov.json record beside it)")
    step.param("--ro-crate", metavar="DIR", default=None,
               help="also write the chain as a Provenance Run Crate into DIR (a new or empty folder)")
    return parser


def check_paths(command, inputs, outputs):
    """Refuse two outputs on one path, an output on an input's path (it would be overwritten)
    and an output on another step's finished file."""
    from pathlib import Path

    from .provenance import finished_elsewhere

    seen = {}
    for path in outputs:
        key = Path(path).resolve()
        if key in seen:
            raise UserError(f"{seen[key]} and {path} name the same file; give each output its own path")
        seen[key] = path
    for path in inputs:
        if Path(path).resolve() in seen:
            raise UserError(f"{path} is both an input and an output of this step; write the output elsewhere")
    for path in outputs:
        made_by = finished_elsewhere(path, command)
        if made_by:
            raise UserError(f"{path} is a finished output of the step '{made_by}'; write this step's output "
                            f"elsewhere")


def where_it_runs(step, args):
    """The device a torch step runs on, as its record names it, and its optimisation loop's
    precision (None for steps without one); checked before any output is touched."""
    if not step.on_device:
        return None, None
    from .devices import describe_device, pick_device, resolve_precision, set_threads

    set_threads(args.threads)
    device = describe_device(args.device)
    if step.optimises:  # steps with an optimisation loop record what auto became
        args.precision = resolve_precision(args.precision, pick_device(args.device))
        return device, args.precision
    return device, None


def main(argv=None):
    from .provenance import begin_records, check_made, discard, drop, finish_records, input_digests, now, put_back
    from .provenance import set_aside

    args = build_parser().parse_args(argv)
    step = args.step
    started = now()
    outputs, created, moved = [], [], []
    try:
        # Every argument is checked before ``outputs`` is set: a failure from here on removes the
        # step's new outputs and puts the previous run's back, and a wrong argument touches none.
        planned = step.outputs(args)
        inputs, external = step.inputs(args), step.external_inputs(args)
        check_paths(step.name, [*inputs, *external], planned)
        if step.settings_class:  # a wrong setting stops the step before it says it started
            step.settings_class.from_dict(args.settings)
        device, precision = where_it_runs(step, args)
        at_start = input_digests([*inputs, *external])
        check_made(inputs, at_start)
        moved = set_aside(planned)
        outputs = planned
        created = begin_records(step.name, outputs, started)
        if device:  # a torch step: say where it runs (stdout goes to the job's log)
            print(f"repsub {step.name}: started {now(precise=True)} on {device}"
                  + (f", {precision} optimisation" if precision else ""), flush=True)
        # ablation steps return how they computed (strict fp32, or a checked low precision)
        result = step.command(args) or StepResult()
        if outputs:
            parameters = {k: v for k, v in vars(args).items() if k != "step"}
            finish_records(step.name, parameters, inputs, outputs, started, device,
                           result.precision or precision, at_start, result.record, external)
        drop(moved)
        if device:
            print(f"repsub {step.name}: finished {now(precise=True)}", flush=True)
    except UserError as error:
        discard(outputs, created)
        put_back(moved)
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BaseException:  # a bug or an interrupt: still leave nothing that looks finished
        discard(outputs, created)
        put_back(moved)
        raise
    return 0
