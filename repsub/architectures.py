"""How a run names its model, and the layers of the built-in families, without importing torch.

The workflow reads these while it builds the job graph, so they live apart from
the torch modules in :mod:`repsub.models` (which checks that both agree). A model is
named three ways: a built-in family (``shallow_cnn``), ``torchvision:<name>`` (a
classification model of ``torchvision.models``) or ``python:<module>:<factory>`` (a
user's own ``nn.Module`` factory). Only the built-in families have layers known
without tracing the model: a run of the other two lists its layers.
"""

import re
from pathlib import Path

from .errors import UserError

VGG16_CONV_WIDTHS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)

LAYERS = {
    "mlp": ("fc1", "fc2", "fc3", "fc4"),
    "shallow_cnn": ("conv1", "conv2", "conv3", "conv4", "fc1"),
    "vgg16": tuple(f"conv{i}" for i in range(1, 14)) + ("fc1",),
    "vgg16_imagenet": tuple(f"conv{i}" for i in range(1, 14)) + ("fc1", "fc2"),
}

TRAINABLE = ("mlp", "shallow_cnn", "vgg16")
CONV, VECTOR = "conv", "vector"  # a layer's kind: channels of a map, or a vector of units
TORCHVISION, PYTHON = "torchvision", "python"
_TORCHVISION = re.compile(r"torchvision:([a-z][a-z0-9_]*)")
_PYTHON = re.compile(r"python:([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*):([A-Za-z_][A-Za-z0-9_]*)")
MODEL_FORMS = "a built-in family (mlp, shallow_cnn, vgg16, vgg16_imagenet), torchvision:<name> or python:<module>:<factory>"


def model_source(model: str) -> str:
    """"builtin", "torchvision" or "python"; a name of none of these forms is refused."""
    if model in LAYERS:
        return "builtin"
    if _TORCHVISION.fullmatch(model):
        return TORCHVISION
    if _PYTHON.fullmatch(model):
        return PYTHON
    raise UserError(f"unknown model {model!r}; name {MODEL_FORMS}")


def model_parts(model: str) -> tuple[str, ...]:
    """The name after the prefix: (name,) for torchvision, (module, factory) for python."""
    match = (_TORCHVISION.fullmatch(model) or _PYTHON.fullmatch(model)) if model not in LAYERS else None
    return match.groups() if match else (model,)


def default_run_name(model: str) -> str:
    """A run's name when the config gives none: the model's name without its prefix."""
    return model_parts(model)[-1]


def layer_names(model: str) -> tuple[str, ...]:
    """The analysable layers of a built-in ``model``, input to output."""
    if model_source(model) != "builtin":
        raise UserError(f"{model} has no fixed layer list; name its layers in the run's layers: (list them with "
                        f"'python -m repsub layers --model {model}')")
    return LAYERS[model]


def check_layer(model: str, layer: str) -> None:
    """Refuse a layer a built-in model lacks (other models check theirs on the traced graph)."""
    if model_source(model) == "builtin" and layer not in LAYERS[model]:
        raise UserError(
            f"model {model!r} has no layer {layer!r}; its layers are "
            f"{', '.join(layer_names(model))}"
        )


BATCH_NORM_DEFAULT = {"mlp": False, "shallow_cnn": True, "vgg16": True, "vgg16_imagenet": False}


def batch_norm(model: str, options: dict) -> str:
    """"true" or "false": does a built-in family's network normalise its layers' batches
    (its ``batch_norm`` option, else the family's default); "unknown" for other models.
    Claim E6 compares the runs of one family that differ in it."""
    if model_source(model) != "builtin":
        return "unknown"
    return str(bool(options.get("batch_norm", BATCH_NORM_DEFAULT[model]))).lower()


def factory_files(model: str, module_path) -> list[str]:
    """The files of a python: model's factory module (its .py file, or every .py file of its
    package), which a step hashes as inputs; none for other models."""
    if model_source(model) != PYTHON:
        return []
    module = model_parts(model)[0]
    root = Path(module_path or ".")
    package = root / module.split(".")[0]
    if package.is_dir():
        return sorted(str(p) for p in package.rglob("*.py"))
    path = root / (module.replace(".", "/") + ".py")
    if not path.is_file():
        raise UserError(f"model_options.module_path: no {path} for module {module}; set module_path to the folder "
                        f"that holds it")
    return [str(path)]
