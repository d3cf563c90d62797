"""Does a model fit its data? Checked once per run, before any expensive job, by a cheap
job of its own (``python -m repsub check-model``) and by ``check-config`` where torch is at
hand: the network is built for the data's image shape and classes (with its weights, where
a local file gives them), its head must give one output per class, and every layer the run
names must be a node with a channel dimension."""

import torch

from ..errors import UserError
from .kinds import is_weights_file
from .names import kind_of


@torch.no_grad()
def check_fit(run, model, options, weights, image_shape, classes, layers, mean=None, std=None):
    """The widths and kinds of ``layers`` of ``model`` built for images of ``image_shape`` and
    ``classes`` classes; refuses a head of another size, a layer the model lacks, or weights
    that do not fit, each in one sentence naming ``run``."""
    from .base import layer_kind

    channels = image_shape[0]
    manifest = {"image_shape": list(image_shape), "classes": list(range(classes)),
                "mean": mean or [0.5] * channels, "std": std or [0.25] * channels}
    kind = kind_of(model)
    try:
        net, _, _ = kind.loaded(options, weights if is_weights_file(weights) else None, manifest)
    except UserError as error:
        raise UserError(f"run {run}: {error}") from None
    outputs = net.eval()(torch.zeros(2, *image_shape))
    if outputs.dim() != 2 or outputs.shape[1] != classes:
        raise UserError(f"run {run}: {model} gives outputs of shape {tuple(outputs.shape[1:])} for images of the "
                        f"{classes} classes of its data; make its head give one output per class (a python: "
                        f"factory must use its num_classes argument)")
    found = {}
    for layer in layers:
        try:
            found[layer] = {"units": net.layer_width(layer, image_shape), "kind": layer_kind(net, layer, image_shape)}
        except UserError as error:
            raise UserError(f"run {run}: {error}; this command lists them: "
                            f"{kind.layers_command(options, image_shape)}") from None
    return found
