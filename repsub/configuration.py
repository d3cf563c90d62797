"""Checks of a study config that the schema cannot express, run while Snakemake
builds the job graph (torch-free, so the workflow can import it).

The schema checks types and ranges; this module checks what depends on other
keys or on the disk: layer names against the model, data set names usable in
paths, a data root that exists. Each problem is one sentence naming the key,
raised before any job starts rather than as a failed job later.
"""

import math
import re
from pathlib import Path

from .errors import UserError
from .layout import AM_TABLES, BASE, COUNTED_TABLES, DATA, STUDY
from .nets.names import kind_of

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*")  # never a leading '-', which a command would read as an option


def schema_error(error) -> str:
    """One sentence for a config that fails the schema: the key, what is wrong and what is allowed.

    ``error`` is jsonschema's error, or the exception that Snakemake's ``validate`` raised
    carrying it; its own text dumps the whole config and schema. Where a value matches none of
    several schemas, the error of the closest one is the one that names the problem.
    """
    from jsonschema.exceptions import best_match

    candidates = [error, *getattr(error, "args", ()), error.__cause__, error.__context__]
    found = next((c for c in candidates if hasattr(c, "absolute_path")), None)
    if found is None:
        return f"the config does not match workflow/schemas/config.schema.yaml ({str(error).splitlines()[0]})"
    while found.context:
        found = best_match(found.context)
    key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in found.absolute_path).lstrip(".")
    message = found.message if len(found.message) <= 200 else found.message[:200] + "..."
    allowed = f"; allowed: {', '.join(map(str, found.validator_value))}" if found.validator == "enum" else ""
    return (f"{key or 'the config top level'}: {message}{allowed}; fix it (every key and its allowed values are in "
            f"workflow/schemas/config.schema.yaml)")


def yaml_problem(path):
    """One sentence for a config file that is no valid YAML (its line and column), else None.

    Snakemake reads the files given with --configfile before the workflow's code runs and
    reports a syntax error there in its own words; the default config.yaml is read here first.
    """
    import yaml

    try:
        loaded = yaml.load(Path(path).read_text(), Loader=_unique_key_loader())
    except DuplicateKey as error:
        return f"{path} gives the key {error.key!r} twice (line {error.line}); keep one, as only the last would count"
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(error, "problem", None) or type(error).__name__
        return f"{path} is not valid YAML{where} ({what}); fix the file"
    except (OSError, UnicodeDecodeError) as error:
        return f"{path} cannot be read ({type(error).__name__}); fix the file"
    if _values(loaded, MAX_VALUES) > MAX_VALUES:
        return (f"{path} expands to more than {MAX_VALUES:,} values through repeated aliases (*name); write the "
                f"values out instead")
    return None


MAX_VALUES = 100_000  # a config's values once its aliases are expanded: real ones hold a few hundred


def _values(node, cap):
    """How many values ``node`` holds with its aliases expanded, counted up to ``cap`` only, so
    that a 'billion laughs' file, whose aliases share one object, is counted in a moment."""
    count, stack = 0, [node]
    while stack and count <= cap:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            stack += item
    return count


def _unique_key_loader():
    """A safe YAML loader that refuses a key given twice in one mapping (PyYAML, and so Snakemake,
    keeps the last silently)."""
    import yaml

    class Loader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # '<<: *anchor' merges keys a mapping may override
                    continue
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, str) and key in seen:
                    raise DuplicateKey(key, key_node.start_mark.line + 1)
                seen.add(key)
            return super().construct_mapping(node, deep)

    return Loader


class DuplicateKey(Exception):
    def __init__(self, key, line):
        super().__init__(key, line)
        self.key, self.line = key, line


def downloads_cifar10(spec):
    """Whether a data set's CIFAR-10 folder is fetched by the workflow's download rule."""
    return spec["source"] == "cifar10" and spec.get("download", False)


def streamed(spec):
    """Whether each step reads a data set from its image folder, so that preparing it writes no
    split files beside its manifest."""
    return spec["source"] == "imagefolder" and spec.get("in_memory", True) is False


def weights_to_download(run):
    """The torchvision weights name a run fetches, or None (random, trained, or a local file)."""
    return kind_of(run["model"]).weights_to_download(run.get("model_options", {}))


def trains(run):
    """Whether the workflow trains the run's model (a train: block), or loads it (weights or random)."""
    return "train" in run


def model_layers(run):
    """Every layer a run's model has: a fixed list's all, a traced model's those the run names."""
    return list(kind_of(run["model"]).layers or run_layers(run))


def run_layers(run):
    """The layers a run analyses: those it lists, else every layer of its model's fixed list."""
    return run.get("layers") or list(kind_of(run["model"]).layers)


PROJECT = Path(__file__).resolve().parent.parent
# The project's own folders: results written into one would mix with its sources.
SOURCE_FOLDERS = ("repsub", "workflow", "envs", "tests", "configs", "docs", "profiles", "benchmarks", ".git",
                  ".snakemake")
SYSTEM_FOLDERS = {Path(p) for p in ("/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc",
                                     "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var")}
RESULT_FOLDERS = ("logs", "benchmarks", "figures", "report")  # the results folder's own, beside the data sets


def check_results(config):
    """A results folder of its own: not empty, not read as an option, neither the working
    folder nor one above it (outputs would mix with the project's files) nor a system folder."""
    results = str(config.get("results", "")).strip()
    if not results:
        raise UserError("results: the results folder is empty; set it to a folder such as results")
    if results.startswith("-"):
        raise UserError(f"results: {results!r} begins with '-', which a command would read as an option; "
                        f"rename the folder or write it as ./{results}")
    resolved = Path(results).resolve()
    if resolved in SYSTEM_FOLDERS or resolved in (Path.cwd(), *Path.cwd().parents):
        raise UserError(f"results: {results!r} is {resolved}, a system folder or the working folder or one above "
                        f"it, where outputs would mix with other files; set it to a folder of its own such as results")
    inside = [name for name in SOURCE_FOLDERS if resolved == PROJECT / name or PROJECT / name in resolved.parents]
    if inside:
        raise UserError(f"results: {results!r} is in the project's {inside[0]}/ folder, where outputs would mix with "
                        f"its sources; set it to a folder of its own such as results")


def check_dataset(name, spec):
    """Whether a data set is switched on; raises for a name or root that cannot work."""
    if not NAME.fullmatch(name) or name in RESULT_FOLDERS:
        raise UserError(f"datasets.{name}: a data set name may hold only letters, digits, _ and -, begin with a "
                        f"letter or digit and not be {', '.join(RESULT_FOLDERS)}, as it is used in paths; rename it")
    if spec["source"] == "digits":
        check_digits_split(spec.get("test_fraction", 0.25), f"datasets.{name}.test_fraction")
        return True
    if "root" not in spec:
        raise UserError(f"datasets.{name}.root is missing; set it to the data folder, or to null to switch the "
                        f"data set off")
    if spec["root"] is None:
        return False
    if not downloads_cifar10(spec) and not Path(spec["root"]).is_dir():
        raise UserError(f"datasets.{name}.root: folder {spec['root']} does not exist; fix the path"
                        + (" or set download: true" if spec["source"] == "cifar10" else ""))
    if spec["source"] == "imagefolder" and spec.get("crop"):
        check_crop(name, spec)
    return True


DIGITS_IMAGES, DIGITS_CLASSES = 1797, 10  # scikit-learn's digits


def check_digits_split(fraction, key, images=DIGITS_IMAGES, classes=DIGITS_CLASSES):
    """Refuse a test fraction that leaves either split fewer images than classes (each split
    needs one of each class: the split is stratified)."""
    if type(fraction) not in (int, float) or not 0 < fraction < 1:
        raise UserError(f"{key} must be a number strictly between 0 and 1, got {fraction!r}; fix it")
    n_test = math.ceil(fraction * images)
    if min(n_test, images - n_test) < classes:
        raise UserError(f"{key}: {fraction} leaves {n_test} of the {images} images to test and {images - n_test} to "
                        f"train, and each split needs one of each of the {classes} classes; choose a fraction such "
                        f"as 0.25")


def data_shape(spec):
    """The image shape (C, H, W) and class count a data set will have once prepared, read from
    the config and, for an image folder, its class folders and first training image; None
    where that cannot be told without preparing it (a CIFAR-10 still to download)."""
    if spec["source"] == "digits":
        return (1, 8, 8), DIGITS_CLASSES
    if spec["source"] == "cifar10":
        return (3, 32, 32), 10
    train = Path(spec["root"], "train")
    classes = [p for p in train.iterdir() if p.is_dir()] if train.is_dir() else []
    size = _first_image_size(spec["root"])
    if size is None:
        return None
    width, height = size
    if spec.get("resize"):
        short = spec["resize"]
        width, height = (short, int(short * height / width)) if width <= height else (int(short * width / height), short)
    if spec.get("crop"):
        width = height = spec["crop"]
    return (3, height, width), len(classes)


# An image folder's image files (data.py reads the same).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".gif", ".webp", ".tif", ".tiff")


def _first_image_size(root):
    """(width, height) of the first image of an image folder's training split, or None where
    there is none or it cannot be read (prepare then names the problem)."""
    from PIL import Image

    first = next((f for f in sorted(Path(root, "train").glob("*/*")) if f.suffix.lower() in IMAGE_SUFFIXES), None)
    if first is None:
        return None
    try:
        with Image.open(first) as image:
            return image.size
    except OSError:
        return None


def check_crop(name, spec):
    """Refuse a centre crop larger than the images (it would pad them with black): the side
    after ``resize`` where given, else the first training image's."""
    crop, resize = spec["crop"], spec.get("resize")
    side = resize or min(_first_image_size(spec["root"]) or (crop,))
    if crop > side:
        raise UserError(f"datasets.{name}.crop: {crop} pixels is larger than the images' {side}-pixel side"
                        + (" after resize" if resize else " (the first training image's)")
                        + "; choose a crop up to the side")


RESERVED_NAMES = (DATA, STUDY)  # folders beside the runs' folders
# A variant name becomes a folder beside seed<k> and <layer> folders, so it may look like neither.
VARIANT_NAME = re.compile(r"(?!seed\d+$|(conv|fc)\d+$)[a-z][a-z0-9_]*")
# AM settings that the noise and top-image baselines read (they optimise nothing).
BASELINE_SETTINGS = {"noise_seed", "compare", "optimise", "max_units_per_layer", "max_units_by_layer", "rs_tolerance"}
IAM_ONLY = {"iam_others"}  # AM settings that change IAM's images alone
RECOUNT_ONLY = {"rs_tolerance"}  # AM settings that change how RS is counted, not the images


def run_name(run):
    """A run's name: its folder and its name in tables (by default its model's name without a prefix)."""
    return run.get("name", kind_of(run["model"]).run_name())


def check_run(index, run, datasets):
    key = f"runs[{index}]"
    name = run_name(run)
    if not NAME.fullmatch(name) or name in RESERVED_NAMES:
        raise UserError(f"{key}.name: {name!r} cannot name a run, as it is used in paths; use letters, digits, _ "
                        f"and - (not {', '.join(RESERVED_NAMES)})")
    if run["dataset"] not in datasets:
        raise UserError(f"{key}.dataset: data set {run['dataset']!r} is not defined under datasets; add it there "
                        f"or fix the name")
    kind_of(run["model"]).check_run(key, run, trains(run))
    scope = run.get("variant_scope", {})
    outside = [layer for layer in scope.get("layers", []) if layer not in run_layers(run)]
    outside += [str(seed) for seed in scope.get("seeds", []) if seed not in run["seeds"]]
    if outside:
        raise UserError(f"{key}.variant_scope: {', '.join(outside)} not among the run's own layers and seeds; "
                        f"scope the variants to some of them")


def analysis_variants(config, runs):
    """The base analysis and the config's named variants (name -> overlay), checked against ``runs``."""
    named = config.get("variants") or {}
    known = {layer for run in runs for layer in model_layers(run)}
    for name, overlay in named.items():
        if name == BASE or not VARIANT_NAME.fullmatch(name) or name in known:
            raise UserError(f"variants.{name}: a variant name must be lower-case letters, digits and _, start with a "
                            f"letter, and be neither {BASE}, seed<k> nor a layer name, as it is used in paths; rename it")
        unknown = [layer for layer in overlay.get("layers", []) if layer not in known]
        if unknown:
            raise UserError(f"variants.{name}.layers: no run's model has layer {', '.join(map(repr, unknown))}; the "
                            f"layers are {', '.join(sorted(known))}")
        if runs and not any(variant_layers(scoped_layers(run), overlay) for run in runs):
            raise UserError(f"variants.{name} covers no run: none of its layers is among the layers the runs analyse "
                            f"and scope to variants (variant_scope); name such layers, or remove the variant")
    return {BASE: {}, **named}


def scoped_layers(run):
    """The layers of a run that its named variants may cover: its variant_scope's, else all it analyses."""
    layers = run_layers(run)
    scope = run.get("variant_scope", {}).get("layers", layers)
    return [layer for layer in layers if layer in scope]


def variant_layers(run_layers, overlay):
    """The layers of a run that a variant covers: those it names, in the run's order (all without ``layers``)."""
    return [layer for layer in run_layers if layer in overlay.get("layers", run_layers)]


def recounts_only(overlay):
    """Whether a variant changes only how RS is counted on the base's images (``rs_tolerance``):
    it counts again from the base's substitution matrices instead of making the images again."""
    am = set(overlay.get("am", {}))
    return "unit" not in overlay and bool(am) and am <= RECOUNT_ONLY


def shared_with_base(overlay):
    """What a variant takes from the base analysis, as it changes nothing they read: the stages
    selectivity and the methods am, iam, noise, top_image (single-unit ablation and cumulative
    ablation always belong to the base), and for a variant that only recounts RS, every AM
    table but the counted ones."""
    changes_unit, am = "unit" in overlay, set(overlay.get("am", {}))
    shared = [] if changes_unit else ["selectivity"]
    if not changes_unit and am <= IAM_ONLY:
        shared += ["am"] if am else ["am", "iam"]
    if not changes_unit and not am & BASELINE_SETTINGS:
        shared += ["noise", "top_image"]
    if recounts_only(overlay):
        shared += [kind for kind in AM_TABLES if kind not in COUNTED_TABLES]
    return shared


def registration_file(registration) -> Path:
    """The registration a confirmatory sample names: a project file, so a relative path is the project's."""
    return PROJECT / registration["file"]


def exploratory_stats(registration) -> list:
    """The published exploratory statistics a registration names (a project file), if any."""
    named = registration.get("exploratory_stats")
    return [PROJECT / named] if named else []


def active_runs(config, notice):
    """The runs whose data set is switched on, each with its ``name``; ``notice`` says which
    are off and why."""
    check_results(config)
    registration = config.get("registration") or {}
    if registration and not registration_file(registration).is_file():
        raise UserError(f"registration.file: {registration['file']} does not exist; set it to the registration "
                        f"(docs/REGISTRATION.md) or remove registration:")
    if any(not path.is_file() for path in exploratory_stats(registration)):
        raise UserError(f"registration.exploratory_stats: {registration['exploratory_stats']} does not exist; set it "
                        f"to a published study's stats.csv (e.g. docs/results/cifar10/stats.csv) or remove it")
    switched_on = {name: check_dataset(name, spec) for name, spec in config["datasets"].items()}
    runs, seen = [], set()
    for index, run in enumerate(config["runs"]):
        check_run(index, run, config["datasets"])
        run = {**run, "name": run_name(run)}
        if (run["dataset"], run["name"]) in seen:
            raise UserError(f"runs[{index}]: a second run named {run['name']!r} on {run['dataset']}; merge the seeds "
                            f"or give it a name: of its own")
        seen.add((run["dataset"], run["name"]))
        if not switched_on[run["dataset"]]:
            notice(f"repsub: data set {run['dataset']!r} has root: null, so its {run['model']} run is off; set "
                   f"datasets.{run['dataset']}.root to switch it on")
            continue
        runs.append(run)
    check_registered_runs(registration, config["runs"])
    return runs


def check_registered_runs(registration, runs):
    """registration.runs must name runs of the config that have every registered seed."""
    named = registration.get("runs") or []
    seeds = set(registration.get("seeds", []))
    having = {run_name(run) for run in runs if seeds <= set(run.get("seeds", []))}
    wrong = [name for name in named if name not in having]
    if wrong:
        raise UserError(f"registration.runs: {', '.join(wrong)} is not a run of runs: with every registered seed "
                        f"{sorted(seeds)}; name the registered networks (a run's name:, or its model)")
