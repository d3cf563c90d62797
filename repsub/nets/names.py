"""A model as a config names it -> its kind (:mod:`repsub.nets.kinds`), and the network it builds."""

import re

from ..errors import UserError
from .families import FAMILIES
from .imagenet_vgg16 import ImagenetVGG16
from .kinds import ModelKind
from .torchvision_models import TorchvisionModel
from .user_models import UserModel

MODEL_FORMS = "a built-in family (mlp, shallow_cnn, vgg16, vgg16_imagenet), torchvision:<name> or python:<module>:<factory>"
_TORCHVISION = re.compile(r"torchvision:([a-z][a-z0-9_]*)")
_PYTHON = re.compile(r"python:([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*):([A-Za-z_][A-Za-z0-9_]*)")


def kind_of(model: str) -> ModelKind:
    """The kind of ``model`` as a config names it; a name of no known form is refused."""
    if model in FAMILIES:
        return FAMILIES[model](model)
    if model == ImagenetVGG16.NAME:
        return ImagenetVGG16(model)
    if match := _TORCHVISION.fullmatch(str(model)):
        return TorchvisionModel(model, *match.groups())
    if match := _PYTHON.fullmatch(str(model)):
        return UserModel(model, *match.groups())
    raise UserError(f"unknown model {model!r}; name {MODEL_FORMS}")


def build_model(model, in_shape=None, n_classes=None, mean=None, std=None, **options):
    """Build ``model`` (as a config names it) for images of ``in_shape`` and ``n_classes``."""
    kind = kind_of(model)
    kind.check_options(options)
    return kind.build(tuple(in_shape) if in_shape is not None else None, n_classes, mean, std, **options)
