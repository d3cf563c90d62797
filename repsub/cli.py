"""Command-line entry points, one per workflow step: ``python -m repsub STEP --help``.

Each step reads its inputs, writes every output atomically, then writes a
provenance record beside each output. A problem the user can fix ends the
command with one sentence on stderr and exit status 2.
"""

import argparse
import json
import sys
from pathlib import Path

from .errors import UserError

INPUTS, OUTPUTS = "inputs", "outputs"


def json_object(text):
    """Parse a JSON object (config values are data, never code)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error.msg})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object such as '{\"epochs\": 10}'")
    return value


def json_value(text):
    """Parse a JSON value such as "IMAGENET1K_V1" or null (data, never code)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error.msg})") from None


def optional_int(text):
    return None if text in ("", "null", "None", "all") else int(text)


class Step:
    """A sub-command whose file arguments are marked as inputs or outputs.

    ``more_outputs(args)`` names the files a step writes beyond its file
    arguments, so that all of them are marked in progress before it starts;
    ``reads_splits`` records the prepared splits beside the manifest as inputs.
    """

    def __init__(self, subparsers, name, help_text, run, more_outputs=None, reads_splits=False):
        self.parser = subparsers.add_parser(name, help=help_text, description=help_text)
        self.parser.set_defaults(step=self)
        self.name, self.run, self.files = name, run, {INPUTS: [], OUTPUTS: []}
        self.more_outputs, self.reads_splits = more_outputs, reads_splits

    def add_file(self, kind, flag, help_text, required=True):
        self.parser.add_argument(flag, required=required, help=help_text)
        self.files[kind].append(flag.lstrip("-").replace("-", "_"))
        return self

    def paths(self, args, kind):
        return [getattr(args, dest) for dest in self.files[kind] if getattr(args, dest)]

    def outputs(self, args):
        return [*self.paths(args, OUTPUTS), *(self.more_outputs(args) if self.more_outputs else [])]

    def inputs(self, args):
        from .data import split_files

        return [*self.paths(args, INPUTS), *(split_files(args.manifest) if self.reads_splits else [])]


def run_prepare(args):
    from .data import prepare

    prepare(args.spec, Path(args.manifest).parent)


def prepared_splits(args):
    from .data import SPLITS

    return [Path(args.manifest).parent / f"{name}.pt" for name in SPLITS]


def run_train(args):
    from .data import load_split, read_manifest
    from .devices import pick_device, seed_everything
    from .checkpoint import save_checkpoint
    from .io import sha256_file, write_csv
    from .models import build_model
    from .provenance import package_versions
    from .training import train

    manifest = read_manifest(args.manifest)
    generator = seed_everything(args.seed)
    build = {"in_shape": manifest["image_shape"], "n_classes": len(manifest["classes"]),
             "mean": manifest["mean"], "std": manifest["std"], **args.model_options}
    model = build_model(args.model, **build)
    device = pick_device(args.device)
    resume = args.checkpoint + ".resume.pt" if args.params.get("resume") else None
    metrics = train(model.to(device), load_split(args.manifest, "train"), load_split(args.manifest, "test"),
                    args.params, device, generator, resume)
    last = metrics.iloc[-1]
    meta = {"model": args.model, "build": build, "seed": args.seed, "train_params": args.params,
            "manifest_sha256": sha256_file(args.manifest), "epochs": int(last["epoch"]),
            "final_train_accuracy": float(last["train_accuracy"]),
            "final_test_accuracy": float(last["test_accuracy"]), "versions": package_versions()}
    save_checkpoint(args.checkpoint, model, meta)
    write_csv(args.metrics, metrics)
    if resume:
        Path(resume).unlink(missing_ok=True)


def run_pretrained(args):
    """Store torchvision's VGG16 as a checkpoint, so later steps treat it like a trained one."""
    import pandas as pd

    from .data import load_split, read_manifest
    from .devices import pick_device
    from .checkpoint import save_checkpoint
    from .io import sha256_file, write_csv
    from .models import build_model
    from .provenance import package_versions
    from .training import evaluate

    read_manifest(args.manifest)
    weights = args.weights
    model = build_model("vgg16_imagenet", weights=weights).eval()
    device = pick_device(args.device)
    loss, accuracy = evaluate(model.to(device), load_split(args.manifest, "test"), args.batch_size, device)
    meta = {"model": "vgg16_imagenet", "build": {}, "seed": 0, "weights": weights,
            "manifest_sha256": sha256_file(args.manifest), "epochs": 0,
            "final_test_accuracy": accuracy, "versions": package_versions()}
    save_checkpoint(args.checkpoint, model, meta)
    write_csv(args.metrics, pd.DataFrame([{"epoch": 0, "test_loss": loss, "test_accuracy": accuracy}]))


def load_checked(args):
    """The checkpoint's model, checked against the expected model and manifest."""
    from .checkpoint import load_model
    from .data import read_manifest
    from .io import sha256_file

    manifest = read_manifest(args.manifest)
    model, meta = load_model(args.checkpoint, getattr(args, "model", None), sha256_file(args.manifest))
    return model, meta, manifest


def run_selectivity(args):
    from .data import load_split
    from .devices import pick_device
    from .io import write_csv
    from .selectivity import class_means, selectivity_table

    model, _, manifest = load_checked(args)
    device = pick_device(args.device)
    means, counts = class_means(model.to(device), load_split(args.manifest, args.split),
                                len(manifest["classes"]), args.batch_size, device)
    write_csv(args.out, selectivity_table(means, counts, manifest["classes"]))


def run_am(args):
    import numpy as np

    from .am import AMSettings, maximise_layer, select_units
    from .architectures import check_layer
    from .devices import pick_device
    from .io import save_figure, save_npy, write_csv
    from .rs import rs_table
    from .sheets import contact_sheet

    model, meta, manifest = load_checked(args)
    check_layer(meta["model"], args.layer)
    settings = AMSettings.from_dict(args.settings)
    device = pick_device(args.device)
    units = select_units(layer_width(model, manifest, args.layer), args.max_units, settings.noise_seed)
    images, substitution, trace = maximise_layer(model, args.layer, units, args.method, settings,
                                                 manifest["image_shape"], device)
    save_npy(args.images, images.numpy())
    save_npy(args.units, units)
    save_npy(args.substitution, substitution.numpy())
    write_csv(args.trace, trace)
    write_csv(args.rs, rs_table(substitution.numpy(), units, args.layer, args.method))
    title = f"{meta['model']} {args.layer} {args.method.upper()} images"
    save_figure(contact_sheet(images.numpy(), np.asarray(units), title), args.sheet)


def run_ablate(args):
    import numpy as np

    from .ablation import evaluate_masks, intact_and_masks, single_unit_table
    from .architectures import check_layer
    from .data import load_split, stratified_subset
    from .devices import pick_device
    from .io import write_csv

    model, meta, manifest = load_checked(args)
    check_layer(meta["model"], args.layer)
    split = stratified_subset(load_split(args.manifest, args.split), args.max_images)
    n_units = layer_width(model, manifest, args.layer)
    units = np.arange(n_units)
    sums = evaluate_masks(model, split, args.layer, intact_and_masks(n_units, units), len(manifest["classes"]),
                          args.batch_size, args.masks_per_pass, pick_device(args.device))
    write_csv(args.out, single_unit_table(args.layer, units, *sums, manifest["classes"]))


def run_cumulative(args):

    from .ablation import ablation_orders, cumulative_masks, evaluate_masks
    from .architectures import check_layer
    from .data import load_split, stratified_subset
    from .devices import pick_device
    from .io import read_table, write_csv

    model, meta, manifest = load_checked(args)
    check_layer(meta["model"], args.layer)
    selectivity = read_table(args.selectivity, ["layer", "unit", "selectivity"], "selectivity")
    selectivity = selectivity.query("layer == @args.layer")[["unit", "selectivity"]]
    rs = read_table(args.rs, ["unit", "rs"], "am")[["unit", "rs"]]
    split = stratified_subset(load_split(args.manifest, args.split), args.max_images)
    n_units = layer_width(model, manifest, args.layer)
    scores = selectivity.merge(rs, on="unit", how="left")
    orders = ablation_orders(scores, n_units, args.random_repeats, args.seed)
    keys, masks = cumulative_masks(orders, n_units, args.fractions)
    loss_sum, correct, class_counts = evaluate_masks(model, split, args.layer, masks, len(manifest["classes"]),
                                                     args.batch_size, args.masks_per_pass, pick_device(args.device))
    keys.insert(0, "layer", args.layer)
    keys["accuracy"] = correct.sum(1) / class_counts.sum()
    keys["loss"] = loss_sum / class_counts.sum()
    write_csv(args.out, keys)


def layer_width(model, manifest, layer):
    import torch

    with torch.no_grad():
        return model.forward_to(torch.zeros(1, *manifest["image_shape"]), layer).shape[1]


def run_audit(args):
    from .provenance import audit

    lines, ok = audit(args.path)
    print("\n".join(lines))
    if ok:
        print(f"ok: {args.path} and every file it was made from match their records, back to the data source")
    else:
        raise UserError(f"{args.path} or a file it was made from changed, lost its record or never finished "
                        f"after it was made (see the lines above); rerun the workflow to rebuild it")


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m repsub", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(required=True, metavar="STEP")

    def common(step, checkpoint=True):
        if checkpoint:
            step.add_file(INPUTS, "--checkpoint", "trained checkpoint (.pt)")
        step.add_file(INPUTS, "--manifest", "data manifest.json written by 'prepare'")
        step.parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
        step.parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
        return step

    step = Step(sub, "prepare", "Load a data set, write its splits and manifest.json.", run_prepare,
                more_outputs=prepared_splits)
    step.parser.add_argument("--spec", type=json_object, required=True,
                             help='data set spec as JSON, e.g. \'{"source": "digits"}\'')
    step.add_file(OUTPUTS, "--manifest", "manifest.json to write (the splits go beside it)")

    step = common(Step(sub, "train", "Train a model, write its checkpoint and per-epoch metrics.", run_train,
                       reads_splits=True), False)
    step.parser.add_argument("--model", required=True, help="mlp, shallow_cnn or vgg16")
    step.parser.add_argument("--seed", type=int, required=True)
    step.parser.add_argument("--params", type=json_object, default={}, help="training parameters as JSON")
    step.parser.add_argument("--model-options", type=json_object, default={}, help="model options as JSON")
    step.add_file(OUTPUTS, "--checkpoint", "checkpoint to write").add_file(OUTPUTS, "--metrics", "metrics CSV")

    step = common(Step(sub, "pretrained", "Store torchvision's VGG16 (ImageNet) as a checkpoint.", run_pretrained,
                       reads_splits=True),
                  False)
    step.parser.add_argument("--weights", type=json_value, default=None,
                             help='JSON: a torchvision weights name such as "IMAGENET1K_V1", a .pt/.pth path, or null')
    step.parser.add_argument("--batch-size", type=int, default=100)
    step.add_file(OUTPUTS, "--checkpoint", "checkpoint to write").add_file(OUTPUTS, "--metrics", "metrics CSV")

    step = common(Step(sub, "selectivity", "Class selectivity of every unit of every layer.", run_selectivity,
                       reads_splits=True))
    step.parser.add_argument("--split", default="test", choices=("train", "test"))
    step.parser.add_argument("--batch-size", type=int, default=500)
    step.add_file(OUTPUTS, "--out", "selectivity CSV to write")

    step = common(Step(sub, "am", "AM or IAM images of a layer's units, their substitution matrix and RS.", run_am))
    step.parser.add_argument("--layer", required=True)
    step.parser.add_argument("--method", required=True, choices=("am", "iam"))
    step.parser.add_argument("--settings", type=json_object, default={}, help="AM settings as JSON")
    step.parser.add_argument("--max-units", type=optional_int, default=None, help="optimise a seeded subset")
    for flag, text in (("--images", "images .npy"), ("--units", "unit ids .npy"), ("--substitution",
                       "substitution matrix .npy"), ("--trace", "trace CSV"), ("--rs", "RS CSV"),
                       ("--sheet", "contact sheet PNG")):
        step.add_file(OUTPUTS, flag, f"{text} to write")

    for name, text, run in (("ablate", "Single-unit ablation of every unit of a layer.", run_ablate),
                            ("cumulative", "Cumulative ablation of a layer in several unit orders.",
                             run_cumulative)):
        step = common(Step(sub, name, text, run, reads_splits=True))
        step.parser.add_argument("--layer", required=True)
        step.parser.add_argument("--split", default="test", choices=("train", "test"))
        step.parser.add_argument("--max-images", type=optional_int, default=None)
        step.parser.add_argument("--batch-size", type=int, default=500)
        step.parser.add_argument("--masks-per-pass", type=int, default=16)
        step.add_file(OUTPUTS, "--out", "ablation CSV to write")
    step.add_file(INPUTS, "--selectivity", "selectivity CSV").add_file(INPUTS, "--rs", "RS CSV (IAM)")
    step.parser.add_argument("--fractions", type=float, nargs="+", required=True)
    step.parser.add_argument("--random-repeats", type=int, default=5)
    step.parser.add_argument("--seed", type=int, default=0)

    from .report_cli import add_report_steps

    add_report_steps(sub, Step, INPUTS, OUTPUTS)

    step = Step(sub, "audit", "Walk back from an artifact through its provenance and re-check hashes.", run_audit)
    step.parser.add_argument("path")
    return parser


def check_positive(args):
    for name in ("batch_size", "masks_per_pass", "max_images", "max_units", "random_repeats"):
        value = getattr(args, name, None)
        if value is not None and value <= 0:
            raise UserError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")


def main(argv=None):
    from .provenance import begin_records, discard, finish_records, now

    args = build_parser().parse_args(argv)
    step = args.step
    started = now()
    outputs, created = [], []
    try:
        check_positive(args)
        outputs = step.outputs(args)
        created = begin_records(step.name, outputs, started)
        if getattr(args, "threads", None):
            from .devices import set_threads  # imports torch: only for steps that use it

            set_threads(args.threads)
        # Steps that read files beyond their file arguments (statistics, figures) return them.
        extra = step.run(args) or {}
        if outputs:
            parameters = {k: v for k, v in vars(args).items() if k != "step"}
            finish_records(step.name, parameters, [*step.inputs(args), *extra.get("read", [])], outputs,
                           started, getattr(args, "device", None))
    except UserError as error:
        discard(outputs, created)
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BaseException:  # a bug or an interrupt: still leave nothing that looks finished
        discard(outputs, created)
        raise
    return 0
