"""What kind of model a run names, and everything that kind decides, behind one interface.

A run names its model one of four ways: a built-in family (``shallow_cnn``), the
pretrained ImageNet VGG16 (``vgg16_imagenet``), ``torchvision:<name>`` or
``python:<module>:<factory>``. Each way is one :class:`ModelKind` subclass in a file of
its own (``families.py``, ``imagenet_vgg16.py``, ``torchvision_models.py``,
``user_models.py``); :func:`repsub.nets.names.kind_of` parses a name and returns its kind. Nothing outside
this package asks a model's name what the model is: it asks the kind.

Torch-free, as lucent's objectives are plain descriptions: the workflow asks a kind its
layers and option checks while it builds the job graph; only ``build`` and the weights
methods import torch, inside themselves.
"""

import re
from pathlib import Path

from ..errors import UserError

CONV, VECTOR = "conv", "vector"  # a layer's kind: channels of a map, or a vector of units
WEIGHT_FILE_SUFFIXES = (".pt", ".pth")  # a weights option that names a local state-dict file
MAX_WIDTH = 1 << 16  # of a built-in family's hidden FC layer (the schema says the same)
LAYER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")  # a traced node's name, used as a folder


def shape_argument(image_shape):
    return f" --image-shape {' '.join(map(str, image_shape))}" if image_shape else ""


def build_settings(manifest, options, mean, std) -> dict:
    """What rebuilds a model for a data set: its image shape and classes, the input normalisation,
    and the run's model options less ``weights`` (loaded into the model, not part of it) and
    ``normalisation`` (given as ``mean`` and ``std``)."""
    return {"in_shape": manifest["image_shape"], "n_classes": len(manifest["classes"]), "mean": mean, "std": std,
            **{k: v for k, v in options.items() if k not in ("weights", "normalisation")}}


def _mean_std(value) -> bool:
    """A normalisation option: lists of numbers ``mean`` and positive ``std``, nothing else."""
    def numbers(values):
        return isinstance(values, list) and values and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    return set(value) == {"mean", "std"} and numbers(value["mean"]) and numbers(value["std"]) and min(value["std"]) > 0


def is_weights_file(value) -> bool:
    """Whether a ``weights`` value names a local state-dict file (else a torchvision weights name)."""
    return value is not None and str(value).endswith(WEIGHT_FILE_SUFFIXES)


class ModelKind:
    """One way of naming a model. Subclasses set the class attributes and override what differs."""

    layers: tuple | None = None  # the analysable layers, input to output; None: the run names them
    options: dict = {}  # model_options it takes -> the kinds of value each may hold
    # whether a cheap job checks the model against its data before the run's other jobs
    # (its head, layers and weights come from outside the project)
    checked_before_jobs = True

    def __init__(self, model: str):
        self.model = model

    # --- what the workflow asks while it builds the job graph (torch-free) -------------

    def run_name(self) -> str:
        """A run's name when the config gives none."""
        return self.model

    def check_run(self, key, run, trains):
        """Refuse what this kind cannot take in a run (``key``: its place in the config)."""
        options = run.get("model_options", {})
        self.check_layers(key, run.get("layers"), options)
        if trains and options.get("weights"):
            raise UserError(f"{key}: a run either trains its model (train:) or loads model_options.weights; "
                            f"remove one of them")
        self.check_run_options(key, run, trains)
        weights = options.get("weights")
        if is_weights_file(weights) and not Path(weights).is_file():
            raise UserError(f"{key}.model_options.weights: file {weights} does not exist; fix the path, or give a "
                            f"torchvision weights name such as IMAGENET1K_V1")

    def check_run_options(self, key, run, trains):
        """What this kind refuses in a run's model options (beyond the schema's types) and training."""

    def check_layers(self, key, layers, options=None):
        """Refuse layers the model lacks (a fixed list) or that cannot name a folder."""
        if not layers:
            if self.layers is None:
                raise UserError(f"{key}.layers: {self.model} has no fixed layer list; name the layers to analyse "
                                f"(list them with: {self.layers_command(options)})")
            return
        if self.layers is not None:
            unknown = [layer for layer in layers if layer not in self.layers]
            if unknown:
                raise UserError(f"{key}.layers: {self.model} has no layer {', '.join(map(repr, unknown))}; its "
                                f"layers are {', '.join(self.layers)}")
        from ..layout import BASE

        bad = [layer for layer in layers if not LAYER_NAME.fullmatch(layer) or layer == BASE]
        if bad:
            raise UserError(f"{key}.layers: {bad[0]!r} cannot name a layer folder (nor be {BASE}); use the node names "
                            f"that 'python -m repsub layers' lists")

    def layers_command(self, options=None, image_shape=None) -> str:
        """The command that lists this model's layers, as a user can paste it into a shell."""
        return f"python -m repsub layers --model {self.model}{shape_argument(image_shape)}"

    def batch_norm(self, options) -> str:
        """"true" or "false": does the network normalise its layers' batches; "unknown" where not known."""
        return "unknown"

    def weights_to_download(self, options):
        """A torchvision weights name the workflow fetches for this run, or None."""
        return None

    def files(self, options) -> list[str]:
        """Files from outside the workflow that make this model (a python: factory's code)."""
        return []

    # --- what the torch steps ask (each imports torch itself) -------------------------

    def build(self, in_shape, n_classes, mean, std, **options):
        """The network for images of ``in_shape`` and ``n_classes``, normalising inside."""
        raise NotImplementedError

    def check_options(self, options):
        """Refuse an option the model does not take, or a value of the wrong kind or size."""
        for key, value in options.items():
            if key not in self.options:
                raise UserError(f"model_options.{key}: {self.model} takes no such option; its options are "
                                f"{', '.join(self.options) or 'none'}")
            if not isinstance(value, self.options[key]) or (key == "normalisation" and not _mean_std(value)) or (
                    key == "fc_width" and (
                    isinstance(value, bool) or not 1 <= value <= MAX_WIDTH)):
                raise UserError(f"model_options.{key}: {value!r} does not fit {self.model}; see "
                                f"workflow/schemas/config.schema.yaml")

    def normalisation(self, options, manifest):
        """The input mean and std the model expects, and whose they are: the run's
        ``model_options.normalisation`` where given, else the training split's."""
        self.check_options(options)
        given = options.get("normalisation")
        if given:
            mean, std = list(given["mean"]), list(given["std"])
            if len(mean) != len(std) or len(mean) != manifest["image_shape"][0]:
                raise UserError(f"model_options.normalisation gives {len(mean)} means and {len(std)} stds for images "
                                f"of {manifest['image_shape'][0]} channel(s); give one of each per channel")
            return mean, std, f"mean {mean} and std {std} given in model_options.normalisation"
        mean, std = manifest["mean"], manifest["std"]
        return mean, std, f"mean {mean} and std {std} of the data set's manifest"

    def loaded(self, options, weights, manifest):
        """A model whose weights come from elsewhere (``weights``: a local file, a torchvision name, or
        None for random ones), the settings that rebuild it, and its normalisation's description."""
        mean, std, said = self.normalisation(options, manifest)
        build = build_settings(manifest, options, mean, std)
        model = self.build(**{**build, "in_shape": tuple(build["in_shape"])})
        if weights:
            self.load_weights(model, weights)
        return model, build, said

    def load_weights(self, model, path):
        raise UserError(f"{self.model} loads no weights file; train it with a train: block")

    def download_weights(self, name):
        raise UserError(f"{self.model} has no weights to download; name torchvision:<name> or vgg16_imagenet")
