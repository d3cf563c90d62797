"""The two ways in for a model the project does not define: ``torchvision:<name>`` and
``python:<module>:<factory>``. Each builds the bare network (normalised images ->
logits); :class:`repsub.graph_models.GraphNet` puts the normalisation in front and
makes it analysable at any node.

``python:`` is the one place where a config names code to run: the user's own
factory, imported from the folder ``module_path`` names. Its files are hashed into
the checkpoint's metadata and provenance (:func:`repsub.architectures.factory_files`),
and weights still load with ``weights_only``.
"""

import importlib
import inspect
import sys
from pathlib import Path

from torch import nn

from .architectures import PYTHON, model_parts, model_source
from .errors import UserError


def torchvision_net(arch, n_classes, in_channels, cifar_stem=False):
    """torchvision's ``arch`` with ``n_classes`` outputs and random weights; ``cifar_stem``
    gives a ResNet the usual CIFAR stem (a 3x3 first conv of stride 1, no max-pool)."""
    import torchvision

    if arch not in torchvision.models.list_models(module=torchvision.models):
        raise UserError(f"torchvision has no classification model {arch!r}; use one of torchvision.models."
                        f"list_models(module=torchvision.models), e.g. resnet18")
    if in_channels != 3:
        raise UserError(f"torchvision:{arch} takes RGB images, and this data set's have {in_channels} channel(s); "
                        f"use an RGB data set")
    net = torchvision.models.get_model(arch, weights=None, num_classes=n_classes)
    if cifar_stem:
        if not isinstance(getattr(net, "conv1", None), nn.Conv2d) or not hasattr(net, "maxpool"):
            raise UserError(f"model_options.cifar_stem: torchvision:{arch} is not a ResNet (no conv1 and maxpool); "
                            f"remove the option")
        net.conv1 = nn.Conv2d(net.conv1.in_channels, net.conv1.out_channels, 3, 1, 1, bias=False)
        net.maxpool = nn.Identity()
    return net


def _weights(arch, name):
    import torchvision

    try:
        return torchvision.models.get_model_weights(arch)[name]
    except (ValueError, KeyError):
        raise UserError(f"torchvision has no weights {name!r} for {arch}; use one of its weights names (e.g. "
                        f"IMAGENET1K_V1) or a local .pt/.pth file") from None


def torchvision_normalisation(arch, name):
    """The mean and std that torchvision's weights ``name`` for ``arch`` expect (no download)."""
    transform = _weights(arch, name).transforms()
    return list(transform.mean), list(transform.std)


def torchvision_weights(arch, name):
    """The state dict of torchvision's weights ``name`` for ``arch`` (downloaded once into
    torch's cache; the workflow runs this in a local rule, as compute nodes may be offline)."""
    weights = _weights(arch, name)
    try:
        return weights.get_state_dict(progress=False)
    except Exception as error:  # urllib raises many kinds
        raise UserError(f"downloading the {arch} weights {name} failed ({type(error).__name__}: {error}); check "
                        f"the network, or fetch them elsewhere and set model_options.weights to the file") from None


def python_net(module, factory, n_classes, module_path):
    """The user's ``factory(num_classes=n_classes)``: a function defined in ``module`` as loaded
    from ``module_path`` (not one it imports from elsewhere, a builtin or a class), returning
    an ``nn.Module``. Whatever the user's code raises, or a ``sys.exit`` in it, is one sentence."""
    name = f"python:{module}:{factory}"
    if not module_path or not Path(module_path).is_dir():
        raise UserError(f"model_options.module_path: {module_path!r} is not a folder; set it to the folder that "
                        f"holds {module}")
    folder = Path(module_path).resolve()
    make = _factory(name, module, factory, folder)
    try:
        net = make(num_classes=n_classes)
    except (Exception, SystemExit) as error:  # the user's code may raise anything, or exit
        raise UserError(f"{name}(num_classes={n_classes}) failed ({type(error).__name__}: {error}); fix the factory "
                        f"so that it takes num_classes and builds the network") from None
    if not isinstance(net, nn.Module):
        raise UserError(f"{name} returned a {type(net).__name__}, not an nn.Module; make the "
                        f"factory return the network")
    return net


def _factory(name, module, factory, folder):
    """The factory function, imported from ``folder`` (a module of that name already loaded
    from elsewhere, such as the standard library's ``os``, is refused)."""
    sys.path.insert(0, str(folder))
    try:
        loaded = importlib.import_module(module)
    except (Exception, SystemExit) as error:  # an import runs the user's code, which may raise anything
        raise UserError(f"{name} is not importable from {folder} ({type(error).__name__}: {error}); fix the module "
                        f"or model_options.module_path") from None
    finally:
        sys.path.remove(str(folder))
    source = Path(getattr(loaded, "__file__", None) or "/").resolve()
    if folder not in source.parents:
        raise UserError(f"{name}: the module {module} is loaded from {source.parent}, not from {folder}; rename "
                        f"your module so that no installed module shadows it")
    make = getattr(loaded, factory, None)
    if not inspect.isfunction(make) or make.__module__ != loaded.__name__:
        raise UserError(f"{name}: {module}.py defines no function {factory} (it must be a function written in "
                        f"that module, not a class or one imported from elsewhere); fix the model's name")
    return make


def build_graph_model(name, in_shape, n_classes, mean, std, cifar_stem=False, module_path=None, rectify=True):
    """A torchvision or user model as a :class:`~repsub.graph_models.GraphNet` (``rectify``: see there)."""
    from .graph_models import GraphNet

    if model_source(name) == PYTHON:
        if cifar_stem:
            raise UserError("model_options.cifar_stem applies to torchvision ResNets only; remove it")
        net = python_net(*model_parts(name), n_classes, module_path)
    else:
        net = torchvision_net(model_parts(name)[0], n_classes, in_shape[0], cifar_stem)
    return GraphNet(name, net, mean, std, rectify)


def load_weights(model, path):
    """Load the state-dict file ``path`` into the network of ``model`` (a GraphNet)."""
    from .torchfiles import load_torch_file

    fix = f"replace it with a state dict of {model.name}"
    state = load_torch_file(path, "weights file", fix)
    if not isinstance(state, dict):
        raise UserError(f"weights file {path} holds a {type(state).__name__}, not a state dict; {fix}")
    try:
        model.net.load_state_dict(state)
    except RuntimeError as error:
        lines = str(error).splitlines()
        raise UserError(f"weights file {path} does not fit {model.name} ({(lines[1] if len(lines) > 1 else lines[0]).strip()}); "
                        f"{fix}") from None
