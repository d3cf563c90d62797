import pytest
import torch

from repsub.nets.names import kind_of
from repsub.errors import UserError
from repsub.nets.base import unit_activations
from repsub.nets.names import build_model

GREY = dict(mean=[0.3], std=[0.3])
RGB = dict(mean=[0.5] * 3, std=[0.25] * 3)

WIDTHS = {
    "mlp": {"fc1": 128, "fc2": 512, "fc3": 2048, "fc4": 2048},
    "shallow_cnn": {"conv1": 64, "conv2": 64, "conv3": 128, "conv4": 128, "fc1": 256},
}


def make(name):
    if name == "vgg16_imagenet":
        return build_model(name, weights=None).eval(), torch.rand(2, 3, 32, 32)
    if name == "vgg16":
        return build_model(name, (3, 32, 32), 10, **RGB).eval(), torch.rand(2, 3, 32, 32)
    return build_model(name, (1, 8, 8), 10, **GREY).eval(), torch.rand(3, 1, 8, 8)


CHAINS = ["mlp", "shallow_cnn", "vgg16", "vgg16_imagenet"]


@pytest.mark.parametrize("name", CHAINS)
def test_every_chain_offers_the_layers_its_kind_names_without_torch(name):
    assert make(name)[0].layers == kind_of(name).layers


@pytest.mark.parametrize("name", ["mlp", "shallow_cnn"])
def test_layer_names_and_widths(name):
    model, x = make(name)
    for layer, width in WIDTHS[name].items():
        assert model.forward_to(x, layer).shape[1] == width


def test_vgg16_has_13_conv_layers_and_a_hidden_fc():
    model, x = make("vgg16")
    assert len([n for n in model.layers if n.startswith("conv")]) == 13
    assert model.forward_to(x, "conv13").shape == (2, 512, 2, 2)
    assert model.forward_to(x, "fc1").shape == (2, 512)


@pytest.mark.parametrize("name", CHAINS)
def test_prefix_and_suffix_compose_to_the_full_forward(name):
    torch.manual_seed(0)
    model, x = make(name)
    with torch.no_grad():
        full = model(x)
        for layer in model.layers:
            h = model.forward_to(x, layer)
            assert torch.equal(model.forward_from(h, layer), full), layer
            assert torch.equal(torch.relu(model.forward_to(x, layer, pre_relu=True)), h), layer


@pytest.mark.parametrize("name", ["shallow_cnn", "mlp"])
def test_truncated_forward_equals_full_forward_with_a_hook(name):
    model, x = make(name)
    captured = {}
    for layer in model.layers:
        handle = model.blocks[layer].register_forward_hook(lambda m, i, out, key=layer: captured.__setitem__(key, out))
        with torch.no_grad():
            model(x)
            truncated = model.forward_to(x, layer)
        handle.remove()
        assert torch.equal(truncated, captured[layer])


def test_unit_activation_of_a_conv_channel_is_its_spatial_mean():
    h = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    assert torch.equal(unit_activations(h), h.mean(dim=(2, 3)))
    flat = torch.rand(2, 5)
    assert unit_activations(flat) is flat


def test_unknown_model_and_layer_fail_with_the_choices():
    with pytest.raises(UserError, match="unknown model 'resnet'.*mlp"):
        build_model("resnet", (1, 8, 8), 10, **GREY)
    model, x = make("mlp")
    with pytest.raises(UserError, match="no layer 'conv1'.*fc1, fc2"):
        model.forward_to(x, "conv1")


def test_cnn_rejects_image_sides_it_cannot_pool():
    with pytest.raises(UserError, match="divisible by 4"):
        build_model("shallow_cnn", (1, 10, 10), 10, **GREY)
