"""The four model families as chains of named blocks.

Every analysable layer ends a block with a ReLU, so a model can stop at a layer
(``forward_to``), continue from it (``forward_from``) or return the value just
before its ReLU (``pre_relu=True``), and the pieces compose exactly to
``forward``. Models take pixels in [0, 1] and normalise inside, so activation
maximisation can optimise plain pixels.
"""

from collections import OrderedDict

import torch
from torch import nn

from .architectures import CONV, LAYERS, VECTOR, VGG16_CONV_WIDTHS, check_layer, model_source
from .configuration import WEIGHT_FILE_SUFFIXES
from .errors import UserError

HEAD = "head"
MAX_WIDTH = 1 << 16  # of the hidden FC layer (the schema says the same)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG16_POOL_AFTER = {2, 4, 7, 10, 13}


class Normalize(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


class LayeredNet(nn.Module):
    """A network whose blocks end at the named analysable layers, then a head."""

    def __init__(self, name: str, blocks: "OrderedDict[str, nn.Sequential]"):
        super().__init__()
        self.name = name
        self.blocks = nn.ModuleDict(blocks)
        self.layers = tuple(k for k in blocks if k != HEAD)
        if self.layers != LAYERS[name]:
            raise AssertionError(f"{name}: blocks {self.layers} != {LAYERS[name]}")

    def forward(self, x):
        for block in self.blocks.values():
            x = block(x)
        return x

    def forward_to(self, x, layer: str, pre_relu: bool = False):
        """Activations of ``layer`` (post-ReLU unless ``pre_relu``)."""
        check_layer(self.name, layer)
        for name, block in self.blocks.items():
            if name == layer:
                return block[:-1](x) if pre_relu else block(x)
            x = block(x)

    @torch.no_grad()
    def layer_width(self, layer: str, image_shape) -> int:
        """Number of units (neurons or channels) of ``layer`` for images of ``image_shape``."""
        probe = torch.zeros(1, *image_shape, device=next(self.parameters()).device)
        return self.forward_to(probe, layer).shape[1]

    def forward_from(self, h, layer: str):
        """Logits, given the post-ReLU activations ``h`` of ``layer``."""
        check_layer(self.name, layer)
        names = list(self.blocks)
        for name in names[names.index(layer) + 1 :]:
            h = self.blocks[name](h)
        return h

    def layer_activations(self, x, layers):
        """Post-ReLU activations of each of ``layers``, from one forward pass."""
        out = {}
        for name, block in self.blocks.items():
            if name == HEAD or set(out) == set(layers):
                break
            x = block(x)
            if name in layers:
                out[name] = x
        return out

    def cut(self, x, layer):
        """The network cut at ``layer`` for a batch ``x``: its output there and the rest."""
        return ChainCut(self, layer, self.forward_to(x, layer))

    @torch.no_grad()
    def candidates(self, image_shape):
        """(name, kind, width, relu) of every layer, as GraphNet lists a traced model's nodes
        (every layer here ends in a ReLU)."""
        return [(layer, layer_kind(self, layer, image_shape), self.layer_width(layer, image_shape), True)
                for layer in self.layers]

    def rectified(self, layer) -> bool:
        """Every layer here ends in a ReLU: its units are never negative."""
        return True

    def incoming(self, layer):
        """The last convolution or linear map of the layer's block, and the BatchNorm after it (or None)."""
        modules = list(self.blocks[layer].modules())
        index = max(i for i, m in enumerate(modules) if isinstance(m, (nn.Conv2d, nn.Linear)))
        batch_norms = [m for m in modules[index + 1:] if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
        return modules[index], (batch_norms[0] if batch_norms else None)


class ChainCut:
    """A chain of blocks cut after ``layer``: the rest needs nothing but the layer's output."""

    def __init__(self, model, layer, h):
        self.model, self.layer, self.h = model, layer, h

    def rest(self, h, images=None):
        """Logits with ``h`` at the layer (``images`` names the batch's images; a chain needs no other value)."""
        return self.model.forward_from(h, self.layer)


@torch.no_grad()
def layer_kind(model, layer: str, image_shape) -> str:
    """CONV where ``layer`` gives (images, channels, H, W), VECTOR where (images, units)."""
    probe = torch.zeros(1, *image_shape, device=next(model.parameters()).device)
    return CONV if model.forward_to(probe, layer).dim() == 4 else VECTOR


def unit_activations(h: torch.Tensor, unit: str = "spatial_mean") -> torch.Tensor:
    """One value per unit: a conv channel is the spatial mean of its feature map (the
    paper's definition) or, with ``unit="spatial_max"``, its maximum."""
    if h.dim() != 4:
        return h
    return h.amax(dim=(2, 3)) if unit == "spatial_max" else h.mean(dim=(2, 3))


def _conv_block(c_in, c_out, batch_norm, pool_first=False, normalize=None):
    parts = [normalize] if normalize is not None else []
    if pool_first:
        parts.append(nn.MaxPool2d(2))
    parts.append(nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm))
    if batch_norm:
        parts.append(nn.BatchNorm2d(c_out))
    parts.append(nn.ReLU())
    return nn.Sequential(*parts)


def _add_pooled_classifier(blocks, flat, fc_width, n_classes):
    """A last 2x2 pool, the hidden FC layer ``fc1`` and the linear classifier."""
    blocks["fc1"] = nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(flat, fc_width), nn.ReLU())
    blocks[HEAD] = nn.Sequential(nn.Linear(fc_width, n_classes))


def mlp(in_shape, n_classes, mean, std, widths=(128, 512, 2048, 2048)):
    blocks = OrderedDict()
    width_in = in_shape[0] * in_shape[1] * in_shape[2]
    for i, width in enumerate(widths, start=1):
        lead = [Normalize(mean, std), nn.Flatten()] if i == 1 else []
        blocks[f"fc{i}"] = nn.Sequential(*lead, nn.Linear(width_in, width), nn.ReLU())
        width_in = width
    blocks[HEAD] = nn.Sequential(nn.Linear(width_in, n_classes))
    return LayeredNet("mlp", blocks)


def shallow_cnn(in_shape, n_classes, mean, std, batch_norm=True, fc_width=256):
    channels, height, width = in_shape
    if height % 4 or width % 4:
        raise UserError(f"shallow_cnn needs image sides divisible by 4, got {height}x{width}")
    blocks = OrderedDict(
        conv1=_conv_block(channels, 64, batch_norm, normalize=Normalize(mean, std)),
        conv2=_conv_block(64, 64, batch_norm),
        conv3=_conv_block(64, 128, batch_norm, pool_first=True),
        conv4=_conv_block(128, 128, batch_norm),
    )
    _add_pooled_classifier(blocks, 128 * (height // 4) * (width // 4), fc_width, n_classes)
    return LayeredNet("shallow_cnn", blocks)


def vgg16(in_shape, n_classes, mean, std, batch_norm=True, fc_width=512):
    """VGG16 for 32x32 inputs: 13 conv layers, five 2x2 pools, one hidden FC layer."""
    channels, height, width = in_shape
    if height % 32 or width % 32:
        raise UserError(f"vgg16 needs image sides divisible by 32, got {height}x{width}")
    blocks = OrderedDict()
    c_in = channels
    for i, c_out in enumerate(VGG16_CONV_WIDTHS, start=1):
        blocks[f"conv{i}"] = _conv_block(
            c_in, c_out, batch_norm,
            pool_first=(i - 1) in VGG16_POOL_AFTER,
            normalize=Normalize(mean, std) if i == 1 else None,
        )
        c_in = c_out
    _add_pooled_classifier(blocks, c_in * (height // 32) * (width // 32), fc_width, n_classes)
    return LayeredNet("vgg16", blocks)


def vgg16_imagenet(weights=None):
    """torchvision's VGG16, re-cut into named blocks; ``weights`` is a torchvision
    weights name (e.g. ``IMAGENET1K_V1``), a local state-dict file, or None."""
    import torchvision

    from .torchfiles import load_torch_file

    local_file = weights is not None and str(weights).endswith(WEIGHT_FILE_SUFFIXES)
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
    return LayeredNet("vgg16_imagenet", blocks)


def vgg16_weights(name):
    """torchvision's VGG16 state dict for weights ``name`` (e.g. IMAGENET1K_V1), downloaded once
    into torch's cache; the workflow runs this in a local rule, as compute nodes may be offline."""
    import torchvision

    choices = {w.name: w for w in torchvision.models.VGG16_Weights}
    if name not in choices:
        raise UserError(f"unknown VGG16 weights {name!r}; use one of {', '.join(choices)} or a local .pt/.pth file")
    try:
        return choices[name].get_state_dict(progress=False)
    except Exception as error:  # urllib raises many kinds
        raise UserError(f"downloading the VGG16 weights {name} failed ({type(error).__name__}: {error}); check the "
                        f"network, or fetch them elsewhere and set model_options.weights to the .pth file") from None


def build_model(name, in_shape=None, n_classes=None, mean=None, std=None, **options):
    """Build model ``name`` for images of ``in_shape`` (C, H, W) and ``n_classes``."""
    if model_source(name) != "builtin":
        from .model_kinds import build_graph_model

        _check_options(name, build_graph_model, options)
        return build_graph_model(name, tuple(in_shape), n_classes, mean, std, **options)
    builder = {"mlp": mlp, "shallow_cnn": shallow_cnn, "vgg16": vgg16, "vgg16_imagenet": vgg16_imagenet}[name]
    _check_options(name, builder, options)
    if name == "vgg16_imagenet":
        return vgg16_imagenet(**options)
    return builder(tuple(in_shape), n_classes, mean, std, **options)


OPTION_KINDS = {"batch_norm": bool, "fc_width": int, "weights": (str, type(None)), "cifar_stem": bool,
                "module_path": (str, type(None)), "rectify": bool}


def _check_options(name, builder, options):
    """Refuse an option the model does not take, or a value of the wrong kind or size."""
    import inspect

    takes = [p for p in inspect.signature(builder).parameters if p in OPTION_KINDS]
    for key, value in options.items():
        if key not in takes:
            raise UserError(f"model_options.{key}: {name} takes no such option; its options are "
                            f"{', '.join(takes) or 'none'}")
        if not isinstance(value, OPTION_KINDS[key]) or (key == "fc_width" and (
                isinstance(value, bool) or not 1 <= value <= MAX_WIDTH)):
            raise UserError(f"model_options.{key}: {value!r} does not fit {name}; see "
                            f"workflow/schemas/config.schema.yaml")
