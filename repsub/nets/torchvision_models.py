"""``torchvision:<name>``: any classification model of ``torchvision.models``, with random
weights, torchvision's named weights (which bring their own input normalisation) or a
local state-dict file; traced into a :class:`repsub.nets.graph.GraphNet`."""

from ..errors import UserError
from .kinds import ModelKind, is_weights_file


class TorchvisionModel(ModelKind):
    options = {"weights": (str, type(None)), "cifar_stem": bool, "rectify": bool, "normalisation": dict}

    def __init__(self, model, arch):
        super().__init__(model)
        self.arch = arch

    def run_name(self) -> str:
        return self.arch

    def weights_to_download(self, options):
        weights = options.get("weights")
        return None if weights is None or is_weights_file(weights) else weights

    def check_run_options(self, key, run, trains):
        options = run.get("model_options", {})
        if "module_path" in options:
            raise UserError(f"{key}.model_options.module_path applies to python: models only; remove it")
        if options.get("normalisation") and self.weights_to_download(options):
            raise UserError(f"{key}.model_options.normalisation: torchvision's {options['weights']} weights bring "
                            f"their own; remove it")

    def build(self, in_shape, n_classes, mean, std, cifar_stem=False, rectify=True):
        from .graph import GraphNet

        return GraphNet(self.model, self.net(n_classes, in_shape[0], cifar_stem), mean, std, rectify)

    def net(self, n_classes, in_channels, cifar_stem=False):
        """torchvision's network with ``n_classes`` outputs and random weights; ``cifar_stem``
        gives a ResNet the usual CIFAR stem (a 3x3 first conv of stride 1, no max-pool)."""
        import torchvision
        from torch import nn

        if self.arch not in torchvision.models.list_models(module=torchvision.models):
            raise UserError(f"torchvision has no classification model {self.arch!r}; use one of torchvision.models."
                            f"list_models(module=torchvision.models), e.g. resnet18")
        if in_channels != 3:
            raise UserError(f"{self.model} takes RGB images, and this data set's have {in_channels} channel(s); "
                            f"use an RGB data set")
        net = torchvision.models.get_model(self.arch, weights=None, num_classes=n_classes)
        if cifar_stem:
            if not isinstance(getattr(net, "conv1", None), nn.Conv2d) or not hasattr(net, "maxpool"):
                raise UserError(f"model_options.cifar_stem: {self.model} is not a ResNet (no conv1 and maxpool); "
                                f"remove the option")
            net.conv1 = nn.Conv2d(net.conv1.in_channels, net.conv1.out_channels, 3, 1, 1, bias=False)
            net.maxpool = nn.Identity()
        return net

    def _weights(self, name):
        import torchvision

        try:
            return torchvision.models.get_model_weights(self.arch)[name]
        except (ValueError, KeyError):
            raise UserError(f"torchvision has no weights {name!r} for {self.arch}; use one of its weights names (e.g. "
                            f"IMAGENET1K_V1) or a local .pt/.pth file") from None

    def normalisation(self, options, manifest):
        named = options.get("weights")
        if not named or is_weights_file(named):
            return super().normalisation(options, manifest)
        transform = self._weights(named).transforms()
        mean, std = list(transform.mean), list(transform.std)
        return mean, std, f"mean {mean} and std {std} of torchvision's {named} weights"

    def load_weights(self, model, path):
        load_state_dict_file(model, path)

    def download_weights(self, name):
        """The state dict of torchvision's weights ``name`` (downloaded once into torch's cache; the
        workflow runs this in a local rule, as compute nodes may be offline)."""
        weights = self._weights(name)
        try:
            return weights.get_state_dict(progress=False)
        except Exception as error:  # urllib raises many kinds
            raise UserError(f"downloading the {self.arch} weights {name} failed ({type(error).__name__}: {error}); "
                            f"check the network, or fetch them elsewhere and set model_options.weights to the "
                            f"file") from None


def load_state_dict_file(model, path):
    """Load the state-dict file ``path`` into the network of ``model`` (a GraphNet)."""
    from ..torchfiles import load_torch_file

    fix = f"replace it with a state dict of {model.name}"
    state = load_torch_file(path, "weights file", fix)
    if not isinstance(state, dict):
        raise UserError(f"weights file {path} holds a {type(state).__name__}, not a state dict; {fix}")
    try:
        model.net.load_state_dict(state)
    except RuntimeError as error:
        lines = str(error).splitlines()
        raise UserError(f"weights file {path} does not fit {model.name} "
                        f"({(lines[1] if len(lines) > 1 else lines[0]).strip()}); {fix}") from None
