"""The built-in families as chains of named blocks (a :class:`repsub.nets.base.Net`).

Every analysable layer ends a block with a ReLU, so a model can stop at a layer
(``forward_to``), continue from it (``forward_from``) or return the value just
before its ReLU (``pre_relu=True``), and the pieces compose exactly to
``forward``. The pretrained ImageNet VGG16 is re-cut into such a chain too
(:mod:`repsub.nets.imagenet_vgg16`).
"""

from collections import OrderedDict

import torch
from torch import nn

from ..errors import UserError
from .base import Normalize, layer_kind

HEAD = "head"
VGG16_CONV_WIDTHS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
VGG16_POOL_AFTER = {2, 4, 7, 10, 13}


class LayeredNet(nn.Module):
    """A network whose blocks end at the named analysable layers, then a head."""

    def __init__(self, name: str, blocks: "OrderedDict[str, nn.Sequential]"):
        super().__init__()
        self.name = name
        self.blocks = nn.ModuleDict(blocks)
        self.layers = tuple(k for k in blocks if k != HEAD)

    def _check(self, layer):
        if layer not in self.layers:
            raise UserError(f"model {self.name!r} has no layer {layer!r}; its layers are {', '.join(self.layers)}")

    def forward(self, x):
        for block in self.blocks.values():
            x = block(x)
        return x

    def forward_to(self, x, layer: str, pre_relu: bool = False):
        """Activations of ``layer`` (post-ReLU unless ``pre_relu``)."""
        self._check(layer)
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
        self._check(layer)
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

    def successor(self, layer):
        """The modules of the block after ``layer``'s (it reads nothing but the layer's output),
        and what runs the network on from that block's output."""
        names = list(self.blocks)
        following = names[names.index(layer) + 1]
        return list(self.blocks[following]), lambda x: self.forward_from(x, following) if following != HEAD else x


class ChainCut:
    """A chain of blocks cut after ``layer``: the rest needs nothing but the layer's output."""

    def __init__(self, model, layer, h):
        self.model, self.layer, self.h = model, layer, h

    def rest(self, h, images=None):
        """Logits with ``h`` at the layer (``images`` names the batch's images; a chain needs no other value)."""
        return self.model.forward_from(h, self.layer)


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
