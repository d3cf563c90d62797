"""The built-in families, trained by the workflow: the paper's MLP, shallow CNN and VGG16
for 32x32 images (:mod:`repsub.nets.chain` builds them)."""

from ..errors import UserError
from .kinds import ModelKind


class Family(ModelKind):
    checked_before_jobs = False  # built here, with the data's classes and these layers
    batch_norm_default = True
    options = {"batch_norm": bool, "fc_width": int}

    def check_run_options(self, key, run, trains):
        options = run.get("model_options", {})
        for option in ("cifar_stem", "module_path", "rectify"):
            if option in options:
                raise UserError(f"{key}.model_options.{option} applies to torchvision: or python: models only; "
                                f"remove it")
        if not trains:
            raise UserError(f"{key}: {self.model} on {run['dataset']} needs a train: block")

    def batch_norm(self, options) -> str:
        return str(bool(options.get("batch_norm", self.batch_norm_default))).lower()

    def build(self, in_shape, n_classes, mean, std, **options):
        from . import chain

        return getattr(chain, self.model)(in_shape, n_classes, mean, std, **options)


class MLP(Family):
    layers = ("fc1", "fc2", "fc3", "fc4")
    batch_norm_default = False
    options = {}


class ShallowCNN(Family):
    layers = ("conv1", "conv2", "conv3", "conv4", "fc1")


class VGG16(Family):
    layers = tuple(f"conv{i}" for i in range(1, 14)) + ("fc1",)


FAMILIES = {"mlp": MLP, "shallow_cnn": ShallowCNN, "vgg16": VGG16}
