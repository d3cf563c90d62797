"""Names of the analysable layers of each model, without importing torch.

The workflow reads these while it builds the job graph, so they live apart from
the torch modules in :mod:`repsub.models` (which checks that both agree).
"""

from .errors import UserError

VGG16_CONV_WIDTHS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)

LAYERS = {
    "mlp": ("fc1", "fc2", "fc3", "fc4"),
    "shallow_cnn": ("conv1", "conv2", "conv3", "conv4", "fc1"),
    "vgg16": tuple(f"conv{i}" for i in range(1, 14)) + ("fc1",),
    "vgg16_imagenet": tuple(f"conv{i}" for i in range(1, 14)) + ("fc1", "fc2"),
}

TRAINABLE = ("mlp", "shallow_cnn", "vgg16")


def layer_names(model: str) -> tuple[str, ...]:
    """The analysable layers of ``model``, input to output."""
    try:
        return LAYERS[model]
    except KeyError:
        raise UserError(
            f"unknown model {model!r}; use one of {', '.join(sorted(LAYERS))}"
        ) from None


def check_layer(model: str, layer: str) -> None:
    if layer not in layer_names(model):
        raise UserError(
            f"model {model!r} has no layer {layer!r}; its layers are "
            f"{', '.join(layer_names(model))}"
        )
