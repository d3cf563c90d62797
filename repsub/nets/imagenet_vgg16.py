"""``vgg16_imagenet``: torchvision's VGG16, pretrained on ImageNet (the paper's Fig. 6),
re-cut into a chain of named blocks (:class:`repsub.nets.chain.LayeredNet`) that end at
its 13 conv layers and two hidden FC layers. Its weights are torchvision's (a name such as
``IMAGENET1K_V1``) or a local state-dict file; its inputs are normalised as ImageNet's."""

from ..errors import UserError
from .kinds import ModelKind, is_weights_file

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImagenetVGG16(ModelKind):
    NAME = "vgg16_imagenet"
    layers = tuple(f"conv{i}" for i in range(1, 14)) + ("fc1", "fc2")
    options = {"weights": (str, type(None))}
    checked_before_jobs = False  # ImageNet's head and classes by design; its layers are fixed

    def batch_norm(self, options) -> str:
        return "false"

    def weights_to_download(self, options):
        weights = options.get("weights")
        return None if weights is None or is_weights_file(weights) else weights

    def check_run_options(self, key, run, trains):
        for option in ("cifar_stem", "module_path", "rectify"):
            if option in run.get("model_options", {}):
                raise UserError(f"{key}.model_options.{option} applies to torchvision: or python: models only; "
                                f"remove it")

    def build(self, in_shape=None, n_classes=None, mean=None, std=None, weights=None):
        """The re-cut network; ``weights`` a torchvision weights name, a local file or None (random)."""
        from collections import OrderedDict

        import torchvision
        from torch import nn

        from ..torchfiles import load_torch_file
        from .base import Normalize
        from .chain import HEAD, LayeredNet

        local_file = is_weights_file(weights)
        net = torchvision.models.vgg16(weights=None if local_file else weights)
        if local_file:
            net.load_state_dict(load_torch_file(weights, "weights file", "replace it with a VGG16 state dict"))
        blocks = OrderedDict()
        pending = [Normalize(IMAGENET_MEAN, IMAGENET_STD)]
        conv_index = 0
        for module in net.features:
            pending.append(module)
            if isinstance(module, nn.ReLU):
                conv_index += 1
                blocks[f"conv{conv_index}"] = nn.Sequential(*pending)
                pending = []
        fc1, relu1, drop1, fc2, relu2, drop2, classifier = net.classifier
        blocks["fc1"] = nn.Sequential(*pending, net.avgpool, nn.Flatten(), fc1, relu1)
        blocks["fc2"] = nn.Sequential(drop1, fc2, relu2)
        blocks[HEAD] = nn.Sequential(drop2, classifier)
        return LayeredNet(self.NAME, blocks)

    def loaded(self, options, weights, manifest):
        """Built with its weights (ImageNet's classes and normalisation, whatever the data set's)."""
        said = f"ImageNet mean {list(IMAGENET_MEAN)} and std {list(IMAGENET_STD)}, as torchvision's VGG16 expects"
        self.check_options({"weights": weights})
        return self.build(weights=weights), {}, said

    def download_weights(self, name):
        """torchvision's VGG16 state dict for weights ``name`` (e.g. IMAGENET1K_V1), downloaded once
        into torch's cache; the workflow runs this in a local rule, as compute nodes may be offline."""
        import torchvision

        choices = {w.name: w for w in torchvision.models.VGG16_Weights}
        if name not in choices:
            raise UserError(f"unknown VGG16 weights {name!r}; use one of {', '.join(choices)} or a local .pt/.pth "
                            f"file")
        try:
            return choices[name].get_state_dict(progress=False)
        except Exception as error:  # urllib raises many kinds
            raise UserError(f"downloading the VGG16 weights {name} failed ({type(error).__name__}: {error}); check "
                            f"the network, or fetch them elsewhere and set model_options.weights to the .pth "
                            f"file") from None

