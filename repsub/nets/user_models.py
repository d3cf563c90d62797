"""``python:<module>:<factory>``: a user's own ``nn.Module``, the one place where a config
names code to run. The factory is a function written in ``module``, imported from the
folder ``model_options.module_path`` names, and called with ``num_classes``; its files
are hashed into the checkpoint's metadata and provenance, and weights still load with
``weights_only``. Traced into a :class:`repsub.nets.graph.GraphNet`."""

import importlib
import inspect
import json
import sys
import sysconfig
from pathlib import Path

from ..errors import UserError
from .kinds import ModelKind, is_weights_file, shape_argument
from .torchvision_models import load_state_dict_file


class UserModel(ModelKind):
    options = {"weights": (str, type(None)), "module_path": (str, type(None)), "rectify": bool, "normalisation": dict}

    def __init__(self, model, module, factory):
        super().__init__(model)
        self.module, self.factory = module, factory

    def run_name(self) -> str:
        """The module's name (its last part): ``python:small:make`` is the run ``small``."""
        return self.module.rsplit(".", 1)[-1]

    def layers_command(self, options=None, image_shape=None) -> str:
        module_path = (options or {}).get("module_path")
        given = f" --model-options '{json.dumps({'module_path': module_path})}'" if module_path else ""
        return f"python -m repsub layers --model {self.model}{given}{shape_argument(image_shape)}"

    def check_run_options(self, key, run, trains):
        options = run.get("model_options", {})
        if not options.get("module_path") or not Path(options["module_path"]).is_dir():
            raise UserError(f"{key}.model_options.module_path: {options.get('module_path')!r} is not a folder; set "
                            f"it to the folder that holds the factory's module")
        self.files(options)
        if not trains and not options.get("weights"):
            raise UserError(f"{key}: {self.model} needs its trained weights (model_options.weights: a .pt/.pth "
                            f"state-dict file) or a train: block")
        if options.get("cifar_stem"):
            raise UserError(f"{key}.model_options.cifar_stem applies to torchvision ResNets only; remove it")
        weights = options.get("weights")
        if weights and not is_weights_file(weights):
            raise UserError(f"{key}.model_options.weights: a python: model loads a local .pt/.pth file, not "
                            f"{weights!r}")

    def files(self, options):
        """The factory module's .py file, or every .py file of its package: hashed as inputs."""
        root = Path(options.get("module_path") or ".")
        package = root / self.module.split(".")[0]
        if package.is_dir():
            return sorted(str(p) for p in package.rglob("*.py"))
        path = root / (self.module.replace(".", "/") + ".py")
        if not path.is_file():
            raise UserError(f"model_options.module_path: no {path} for module {self.module}; set module_path to the "
                            f"folder that holds it")
        return [str(path)]

    def build(self, in_shape, n_classes, mean, std, module_path=None, rectify=True):
        from .graph import GraphNet

        return GraphNet(self.model, self.net(n_classes, module_path), mean, std, rectify)

    def net(self, n_classes, module_path):
        """The user's ``factory(num_classes=n_classes)``, an ``nn.Module``. Whatever the user's
        code raises, or a ``sys.exit`` in it, is one sentence."""
        from torch import nn

        if not module_path or not Path(module_path).is_dir():
            raise UserError(f"model_options.module_path: {module_path!r} is not a folder; set it to the folder that "
                            f"holds {self.module}")
        make = self._factory(Path(module_path).resolve())
        try:
            net = make(num_classes=n_classes)
        except (Exception, SystemExit) as error:  # the user's code may raise anything, or exit
            raise UserError(f"{self.model}(num_classes={n_classes}) failed ({type(error).__name__}: {error}); fix "
                            f"the factory so that it takes num_classes and builds the network") from None
        if not isinstance(net, nn.Module):
            raise UserError(f"{self.model} returned a {type(net).__name__}, not an nn.Module; make the "
                            f"factory return the network")
        return net

    def _factory(self, folder):
        """The factory function, imported from ``folder`` (a module of that name already loaded
        from elsewhere, such as the standard library's ``os``, is refused)."""
        _forget_other_copies(self.module.split(".")[0], folder)
        sys.path.insert(0, str(folder))
        try:
            loaded = importlib.import_module(self.module)
        except (Exception, SystemExit) as error:  # an import runs the user's code, which may raise anything
            raise UserError(f"{self.model} is not importable from {folder} ({type(error).__name__}: {error}); fix "
                            f"the module or model_options.module_path") from None
        finally:
            sys.path.remove(str(folder))
        source = Path(getattr(loaded, "__file__", None) or "/").resolve()
        if folder not in source.parents:
            raise UserError(f"{self.model}: the module {self.module} is loaded from {source.parent}, not from "
                            f"{folder}; rename your module so that no installed module shadows it")
        make = getattr(loaded, self.factory, None)
        if not inspect.isfunction(make) or make.__module__ != loaded.__name__:
            raise UserError(f"{self.model}: {self.module}.py defines no function {self.factory} (it must be a "
                            f"function written in that module, not a class or one imported from elsewhere); fix "
                            f"the model's name")
        return make

    def load_weights(self, model, path):
        load_state_dict_file(model, path)


def _forget_other_copies(package, folder):
    """Drop a user module of this name that this process imported from another folder (a
    second model's code, in one process), so that the import reads ``folder``'s; a module of
    the standard library or an installed package stays, and the import is then refused."""
    cached = sys.modules.get(package)
    source = getattr(cached, "__file__", None)
    if cached is None or source is None or folder in Path(source).resolve().parents:
        return
    installed = {Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    if installed & set(Path(source).resolve().parents):
        return
    for name in [name for name in sys.modules if name == package or name.startswith(package + ".")]:
        del sys.modules[name]
