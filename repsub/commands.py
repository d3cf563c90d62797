"""What each per-model step does, given its parsed arguments (the parser is in :mod:`repsub.cli`).

Imports are inside the functions, so that ``python -m repsub --help`` and the
torch-free steps start without loading torch.
"""

from pathlib import Path

from .errors import UserError
from .step_result import StepResult


def prepare_command(args):
    from .data import prepare

    prepare(args.spec, Path(args.manifest).parent, args.threads)


def prepared_splits(args):
    from .layout import SPLITS, split_path

    return [split_path(args.manifest, name) for name in SPLITS]


def download_cifar10_command(args):
    """Fetch the official CIFAR-10 archive into root unless its folder is there; list its files."""
    from . import cifar
    from .io import sha256_file, write_json

    folder = Path(args.root) / cifar.FOLDER
    if not folder.is_dir():
        cifar.download(args.root)
    cifar.check_folder(folder)
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file()}
    write_json(args.out, {"source": "cifar10", "root": args.root, "archive_md5": cifar.ARCHIVE_MD5, "files": files})


def download_weights_command(args):
    from .nets.names import kind_of
    from .torchfiles import save_torch

    save_torch(args.out, kind_of(args.model).download_weights(args.weights))


def layers_command(args):
    """Print a model's layers (every node with a channel dimension for a traced model): name, kind, units,
    and whether the node is a ReLU (any other is analysed through one)."""
    from .nets.names import build_model

    channels = args.image_shape[0]
    model = build_model(args.model, args.image_shape, args.classes, [0.5] * channels, [0.25] * channels,
                        **args.model_options).eval()
    rows = model.candidates(args.image_shape)
    width = max(len("layer"), *(len(name) for name, *_ in rows))
    print(f"{'layer':<{width}}  kind    units  relu")
    for name, kind, units, relu in rows:
        print(f"{name:<{width}}  {kind:<6}  {units:<5}  {'yes' if relu else 'no'}")


def check_config_command(args):
    """Snakemake reads --configfile files before the workflow's code runs and reports a
    YAML error there without file or line: this names both, then checks the merged files
    against the schema as the workflow does (it fills defaults, this does not need to)."""
    import yaml
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate  # fills the schema's defaults, as the workflow sees the config

    from .configuration import active_runs, analysis_variants, schema_error, yaml_problem

    merged = {}
    for path in args.configfiles:
        problem = yaml_problem(path)
        if problem:
            raise UserError(problem)
        loaded = yaml.safe_load(Path(path).read_text())
        if not isinstance(loaded, dict):
            raise UserError(f"{path} holds no mapping of keys; a config file gives keys at its top level")
        merged = merged_config(merged, loaded)
    try:
        validate(merged, str(Path(__file__).parent.parent / "workflow" / "schemas" / "config.schema.yaml"))
    except WorkflowError as error:
        raise UserError(schema_error(error)) from None
    runs = active_runs(merged, print)
    analysis_variants(merged, runs)  # what the workflow checks before any job
    checked = check_models(merged, runs)
    print(f"{', '.join(args.configfiles)}: valid YAML without repeated keys, matching the schema, and consistent "
          f"(layers, data sets, variants, results folder)" + (f"; the models of {', '.join(checked)} fit their data"
                                                              if checked else ""))


def check_models(config, runs):
    """What each run's first job checks (nets/fit.py), here before any job, where torch is at
    hand: the runs checked."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # a login node without torch checks the rest
        return []
    from .configuration import data_shape
    from .nets.fit import check_fit
    from .nets.names import kind_of

    checked = []
    for run in runs:
        shape = data_shape(config["datasets"][run["dataset"]])
        if not kind_of(run["model"]).checked_before_jobs or shape is None:
            continue
        options = run.get("model_options", {})
        check_fit(run["name"], run["model"], options, options.get("weights"), *shape, run["layers"])
        checked.append(run["name"])
    return checked


def merged_config(config, overlay):
    """``overlay`` over ``config`` as Snakemake merges config files: mappings key by key, anything else replaced."""
    merged = dict(config)
    for key, value in overlay.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = merged_config(merged[key], value) if both else value
    return merged


def model_files(args):
    """The files from outside the workflow that make a model: a local weights file, a python: model's code."""
    from .nets.kinds import is_weights_file
    from .nets.names import kind_of

    weights = getattr(args, "weights", None)
    return [*([weights] if is_weights_file(weights) else []), *kind_of(args.model).files(args.model_options)]


def factory_record(model, options):
    """A python: model's factory files and their sha256 (empty for other models)."""
    from .io import sha256_file
    from .nets.names import kind_of

    return {path: sha256_file(path) for path in kind_of(model).files(options)}


def train_command(args):
    from .checkpoint import save_checkpoint
    from .data import load_split
    from .manifest import read_manifest
    from .devices import pick_device, seed_everything
    from .io import sha256_file, write_csv
    from .nets.kinds import build_settings
    from .nets.names import build_model, kind_of
    from .provenance import package_versions
    from .registration import registration_record
    from .settings import TrainSettings
    from .training import train

    settings = TrainSettings.from_dict(args.settings)
    registration = registration_record(args.registration) if args.registration else None
    manifest = read_manifest(args.manifest)
    generator = seed_everything(args.seed)
    mean, std, normalisation = kind_of(args.model).normalisation(args.model_options, manifest)
    build = build_settings(manifest, args.model_options, mean, std)
    model = build_model(args.model, **build)
    device = pick_device(args.device)
    resume = args.checkpoint + ".resume.pt" if settings.resume else None
    run = {"model": args.model, "build": build, "seed": args.seed, "settings": settings.as_dict(),
           "manifest_sha256": sha256_file(args.manifest), "precision": args.precision}
    metrics, resumed = train(model.to(device), load_split(args.manifest, "train"), load_split(args.manifest, "test"),
                             settings, device, args.precision, generator, resume, run)
    last = metrics.iloc[-1]
    factory = factory_record(args.model, args.model_options)
    meta = {"model": args.model, "build": build, "seed": args.seed, "train_settings": settings.as_dict(),
            **({"factory": factory} if factory else {}),
            **({"registration": registration} if registration else {}),
            "precision": args.precision,
            "manifest_sha256": sha256_file(args.manifest), "epochs": int(last["epoch"]),
            "final_train_accuracy": float(last["train_accuracy"]),
            "final_test_accuracy": float(last["test_accuracy"]), "versions": package_versions()}
    save_checkpoint(args.checkpoint, model, meta)
    write_csv(args.metrics, metrics)
    if resume:
        Path(resume).unlink(missing_ok=True)
    # the state file is gone after a successful run: its digest and run stay in the record
    return StepResult(record={"normalisation": normalisation, **({"resumed_from": resumed} if resumed else {}),
                              **({"registration": registration} if registration else {})})


def pretrained_command(args):
    """Store a model whose weights come from elsewhere (torchvision's, a user's file, or random) as a
    checkpoint with its test accuracy, so later steps treat it like a trained one."""
    import pandas as pd

    from .checkpoint import save_checkpoint
    from .data import load_split
    from .manifest import read_manifest
    from .devices import pick_device
    from .io import sha256_file, write_csv
    from .nets.names import kind_of
    from .provenance import package_versions
    from .training import evaluate

    manifest = read_manifest(args.manifest)
    model, build, normalisation = kind_of(args.model).loaded(args.model_options, args.weights, manifest)
    device = pick_device(args.device)
    loss, accuracy = evaluate(model.eval().to(device), load_split(args.manifest, "test", args.threads),
                              args.batch_size, device)
    factory = factory_record(args.model, args.model_options)
    meta = {"model": args.model, "build": build, "seed": 0, "weights": args.model_options.get("weights"),
            "normalisation": normalisation, **({"factory": factory} if factory else {}),
            "manifest_sha256": sha256_file(args.manifest), "epochs": 0,
            "final_test_accuracy": accuracy, "versions": package_versions()}
    save_checkpoint(args.checkpoint, model, meta)
    write_csv(args.metrics, pd.DataFrame([{"epoch": 0, "test_loss": loss, "test_accuracy": accuracy}]))
    return StepResult(record={"normalisation": normalisation})


def check_model_command(args):
    """Build the run's model once for its data and refuse one that does not fit (nets/fit.py)."""
    from .io import write_json
    from .manifest import read_manifest
    from .nets.fit import check_fit

    manifest = read_manifest(args.manifest)
    layers = check_fit(args.run, args.model, args.model_options, args.weights, tuple(manifest["image_shape"]),
                       len(manifest["classes"]), args.layers, manifest["mean"], manifest["std"])
    write_json(args.out, {"model": args.model, "image_shape": manifest["image_shape"],
                          "classes": len(manifest["classes"]), "layers": layers})


def load_checked(args, layer=None):
    """The checkpoint's model, its metadata and the manifest, checked against each other
    (and against ``layer``, when the step analyses one)."""
    from .checkpoint import load_model
    from .manifest import read_manifest
    from .io import sha256_file

    manifest = read_manifest(args.manifest)
    model, meta = load_model(args.checkpoint, getattr(args, "model", None), sha256_file(args.manifest))
    if layer is not None:  # a probe: an unknown layer, or one without a channel dimension, fails here
        model.layer_width(layer, manifest["image_shape"])
    return model, meta, manifest


def selectivity_command(args):
    from .data import load_split
    from .devices import pick_device
    from .io import write_csv
    from .nets.base import layer_kind
    from .selectivity import class_means, selectivity_table, weight_norms

    model, _, manifest = load_checked(args)
    layers = args.layers or model.layers
    # a probe of each layer: an unknown one, or one without a channel dimension, fails here
    kinds = {layer: layer_kind(model, layer, manifest["image_shape"]) for layer in layers}
    device = pick_device(args.device)
    means, counts = class_means(model.to(device), load_split(args.manifest, args.split, args.threads), layers,
                                len(manifest["classes"]), args.batch_size, device, args.unit)
    widths = {layer: means[layer].shape[1] for layer in layers}
    write_csv(args.out, selectivity_table(means, counts, manifest["classes"], weight_norms(model, widths), kinds,
                                          {layer: model.rectified(layer) for layer in layers}))


def am_command(args):
    """Images for a layer's units by each of ``args.methods`` (AM, IAM, noise, top image),
    then RS on the final images and at each recorded step of the optimisation. One process
    makes every method, so the model is loaded once and the data read once."""
    import copy

    from .data import load_split
    from .settings import AMSettings

    settings = AMSettings.from_dict(args.settings)
    model, meta, manifest = load_checked(args, args.layer)
    split = load_split(args.manifest, args.split, args.threads) if "top_image" in args.methods else None
    for method in args.methods:
        # each method gets its own copy: AM moves a model's weights to channels_last in place
        _am_method(args, copy.deepcopy(model), meta, manifest, settings, method, split)


def _am_method(args, model, meta, manifest, settings, method, split):
    import numpy as np

    from .am import maximise_layer
    from .unit_subsets import select_units
    from .baselines import noise_baseline, top_image_baseline
    from .devices import pick_device
    from .io import save_figure, save_npy, write_csv
    from .layout import am_outputs
    from .settings import METHOD_NAMES, OPTIMISED
    from .sheets import contact_sheet

    device = pick_device(args.device)
    width = model.layer_width(args.layer, manifest["image_shape"])
    units = select_units(width, settings.max_units(args.layer), settings.noise_seed)
    if method in OPTIMISED:
        result = maximise_layer(model, args.layer, units, method, settings, manifest["image_shape"], device,
                                args.precision, args.unit)
    elif method == "noise":
        result = noise_baseline(model, args.layer, units, settings, manifest["image_shape"], device, args.unit)
    else:
        result = top_image_baseline(model, args.layer, units, settings, split, args.batch_size, device, args.unit)
    out = am_outputs(args.out_dir, method)
    save_npy(out["images"], result.images.numpy())
    save_npy(out["units"], units)
    save_npy(out["substitution"], result.substitution.numpy())
    write_csv(out["trace"], result.trace)
    save_npy(out["trajectory"], result.trajectory.numpy())
    _write_rs(out, result.substitution.numpy(), result.trajectory.numpy(), result.steps, units, args.layer, method,
              settings.rs_tolerance)
    write_csv(out["movement"], result.movement)
    title = f"{meta['model']} {args.layer} {METHOD_NAMES[method]} images"
    unmoved = set(result.movement.unit[~result.movement.moved]) if method in OPTIMISED else set()
    save_figure(contact_sheet(result.images.numpy(), np.asarray(units), title, unmoved=unmoved), out["sheet"])


def _write_rs(out, substitution, trajectory, steps, units, layer, method, tolerance):
    """A method's RS on its final images (rs) and at each recorded step (rs_steps)."""
    import pandas as pd

    from .io import write_csv
    from .rs import rs_table

    write_csv(out["rs"], rs_table(substitution, units, layer, method, tolerance))
    write_csv(out["rs_steps"], pd.concat([rs_table(matrix, units, layer, method, tolerance).assign(step=step)
                                          for step, matrix in zip(steps, trajectory)], ignore_index=True))


def recount_command(args):
    """RS counted again under the AM settings' ``rs_tolerance`` from the substitution
    matrices another analysis recorded (the base's): counting changes no image, so a variant
    that changes only the counting optimises nothing again, and its tables equal those the am
    step would write with that tolerance."""
    from .io import load_npy, read_table
    from .settings import AMSettings

    tolerance = AMSettings.from_dict(args.settings).rs_tolerance
    files = (args.units, args.substitution, args.trajectory, args.base_rs_steps, args.rs, args.rs_steps)
    if any(len(paths) != len(args.methods) for paths in files):
        raise UserError(f"give each of --units, --substitution, --trajectory, --base-rs-steps, --rs and --rs-steps "
                        f"one file per method, in the order of --methods ({' '.join(args.methods)})")
    for method, units_file, matrix_file, trajectory_file, steps_file, rs, rs_steps in zip(args.methods, *files):
        units = load_npy(units_file, "am", 1)
        matrix = load_npy(matrix_file, "am", 2)
        trajectory = load_npy(trajectory_file, "am", 3)
        steps = list(dict.fromkeys(read_table(steps_file, ["step"], "am").step))
        if trajectory.shape[0] != len(steps) or trajectory.shape[1:] != matrix.shape or len(units) != len(matrix):
            raise UserError(f"{trajectory_file} has shape {trajectory.shape} where {len(steps)} recorded steps of "
                            f"{matrix_file}'s {matrix.shape} matrix for the {len(units)} units of {units_file} "
                            f"belong; give the files of one method of one layer, as the am step wrote them")
        _write_rs({"rs": rs, "rs_steps": rs_steps}, matrix, trajectory, steps, units, args.layer, method, tolerance)


def am_files(args):
    """Every file the am step writes: one folder per method under --out-dir."""
    from .layout import am_outputs

    return [path for method in args.methods for path in am_outputs(args.out_dir, method).values()]


def _ablation_inputs(args):
    """What both ablation steps start from: settings, model, manifest, image subset, layer
    width, device and the computation the ablated networks run in."""
    from .ablation_precision import ablation_precision
    from .data import load_split, stratified_subset
    from .devices import pick_device
    from .settings import AblationSettings

    settings = AblationSettings.from_dict(args.settings)
    model, _, manifest = load_checked(args, args.layer)
    split = stratified_subset(load_split(args.manifest, args.split, args.threads), settings.max_images)
    device = pick_device(args.device)
    return (settings, model, manifest, split, model.layer_width(args.layer, manifest["image_shape"]), device,
            ablation_precision(settings.precision, device))


def ablate_command(args):
    from .ablation import single_unit_table
    from .unit_subsets import select_units
    from .io import write_csv
    from .unit_ablation import evaluate_units

    settings, model, manifest, split, n_units, device, precision = _ablation_inputs(args)
    units = select_units(n_units, settings.max_units(args.layer), settings.seed)
    sums = evaluate_units(model, split, args.layer, units, len(manifest["classes"]), args.batch_size, device,
                          precision)
    write_csv(args.out, single_unit_table(args.layer, units, *sums, manifest["classes"]))
    return StepResult(precision=precision.record())


def cumulative_command(args):
    from .ablation import cumulative_table, layer_scores
    from .io import read_table, write_csv

    selectivity = read_table(args.selectivity, ["layer", "unit", "selectivity", "mean_activation", "weight_norm"],
                             "selectivity")
    rs = read_table(args.rs, ["unit", "rs"], "am")
    settings, model, manifest, split, n_units, device, precision = _ablation_inputs(args)
    table = cumulative_table(model, split, args.layer, layer_scores(selectivity, rs, args.layer), n_units,
                             len(manifest["classes"]), settings, args.batch_size, device, precision)
    write_csv(args.out, table)
    return StepResult(precision=precision.record())


def audit_command(args):
    from .provenance import audit
    from .run_crate import check_crate_folder, write_run_crate

    if args.ro_crate:
        check_crate_folder(args.ro_crate)
    walk = audit(args.path)
    print("\n".join(walk.lines))
    if not walk.ok:
        raise UserError(f"{args.path} or a file it was made from changed, lost its record or never finished "
                        f"after it was made (see the lines above); rerun the workflow to rebuild it")
    print(f"ok: {args.path} and every file it was made from match their records, back to the data source")
    if args.ro_crate:
        print(f"wrote {write_run_crate(walk, args.path, args.ro_crate)}")
