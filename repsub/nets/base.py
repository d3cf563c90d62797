"""What every analysable network offers, whatever its shape, and the pieces both shapes use.

A network takes pixels in [0, 1] and normalises inside (:class:`Normalize`), so that
activation maximisation optimises plain pixels. Two shapes implement :class:`Net`: a
chain of blocks that end at the layers (:mod:`repsub.nets.chain`, the built-in
families) and a traced graph (:mod:`repsub.nets.graph`, any other model). The steps
talk to this interface only.
"""

from typing import Protocol

import torch
from torch import nn

from .kinds import CONV, VECTOR


class Normalize(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


class Cut(Protocol):
    """A network cut after a layer for one batch: ``h`` its output there, ``rest`` the logits
    from a (changed) ``h``."""

    h: torch.Tensor

    def rest(self, h, images=None): ...


class Net(Protocol):
    """An analysable network (an ``nn.Module``): ``name`` its model, ``layers`` the layers it offers."""

    name: str
    layers: tuple

    def forward_to(self, x, layer: str, pre_relu: bool = False) -> torch.Tensor:
        """Activations of ``layer`` (post-ReLU unless ``pre_relu``)."""

    def layer_activations(self, x, layers) -> dict:
        """Post-ReLU activations of each of ``layers``, from one forward pass."""

    def layer_width(self, layer: str, image_shape) -> int:
        """Number of units (neurons or channels) of ``layer`` for images of ``image_shape``."""

    def cut(self, x, layer: str) -> Cut:
        """The network cut at ``layer`` for a batch ``x``."""

    def candidates(self, image_shape) -> list:
        """(name, kind, width, relu) of every layer it can analyse."""

    def rectified(self, layer: str) -> bool:
        """Whether ``layer``'s units are never negative (analysed after a ReLU)."""

    def incoming(self, layer: str):
        """The convolution or linear map that makes ``layer``'s units, and the BatchNorm after it (or None)."""

    def successor(self, layer: str) -> tuple | None:
        """The modules that read ``layer``'s output and nothing else, in order (a chain's next
        block), and a function from their output to the logits, for single-unit ablation's
        shortcut; None where the graph gives no such list."""


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
