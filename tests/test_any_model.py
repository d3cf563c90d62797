"""Any model: the traced-graph path (torchvision and user models) against the built-in
families' fast path and against the naive zeroing hook, its bad inputs, and a torchvision
ResNet-18 and a user's module end to end through the workflow."""

import copy
import json
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import REPO, write_config, write_image_folder, write_user_model
from repsub import layout
from repsub.ablation import evaluate_masks
from repsub.am import maximise_layer
from repsub.cli import main
from repsub.data import TensorSplit
from repsub.errors import UserError
from repsub.nets.graph import GraphNet
from repsub.nets.names import build_model
from repsub.selectivity import class_means, weight_norms
from repsub.settings import AMSettings
from repsub.unit_ablation import evaluate_units
from test_workflow import snakemake

USER_MODELS = Path(__file__).parent / "fixtures" / "usermodels"
USER_MODEL = "python:tiny_residual:make"
SETTINGS = AMSettings(steps=6, lr=0.05, chunk_size=16, trace_every=3)


def random_split(shape, n, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return TensorSplit(torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=generator),
                       torch.randint(0, 10, (n,), generator=generator))


def as_graph(model):
    """A built-in model as a user's module would give it (its blocks in an nn.Sequential,
    normalisation outside), traced; and each layer's node name (its block's ReLU)."""
    blocks = copy.deepcopy(model.blocks)
    first = blocks[model.layers[0]]
    normalize, first[0] = first[0], nn.Identity()
    graph = GraphNet("python:builtin:copy", nn.Sequential(OrderedDict(blocks.items())),
                     normalize.mean.flatten().tolist(), normalize.std.flatten().tolist())
    return graph.double().eval(), {layer: f"{layer}.{len(blocks[layer]) - 1}" for layer in model.layers}


def close(got, expected, what):
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(expected, dtype=float), rtol=1e-9,
                               atol=1e-12, err_msg=what)


@pytest.mark.parametrize("name, options, shape, layers", [
    ("mlp", {}, (1, 8, 8), ["fc1", "fc2", "fc3", "fc4"]),
    ("shallow_cnn", {}, (1, 8, 8), ["conv1", "conv2", "conv3", "conv4", "fc1"]),
    ("shallow_cnn", {"batch_norm": False}, (1, 8, 8), ["conv1", "conv3", "fc1"]),
    ("vgg16", {"fc_width": 16}, (3, 32, 32), ["conv1", "fc1"]),
])
def test_the_traced_path_gives_the_fast_paths_numbers(name, options, shape, layers):
    """Selectivity, incoming-weight norms, AM and IAM images with their substitution matrices,
    and single-unit and cumulative ablation: the same through the traced graph as through the
    built-in chain of blocks (float64, 1e-9)."""
    torch.manual_seed(0)
    channels = shape[0]
    model = build_model(name, shape, 10, [0.5] * channels, [0.25] * channels, **options).double().eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):  # statistics far from the identity
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    graph, node = as_graph(model)
    split = random_split(shape, 11)
    fast, counts = class_means(model, split, layers, 10, 4, "cpu")
    traced, traced_counts = class_means(graph, split, [node[layer] for layer in layers], 10, 4, "cpu")
    widths = {layer: fast[layer].shape[1] for layer in layers}
    norms = weight_norms(model, widths)
    traced_norms = weight_norms(graph, {node[layer]: width for layer, width in widths.items()})
    for layer in layers:
        close(traced[node[layer]], fast[layer], f"class means {layer}")
        close(traced_norms[node[layer]], norms[layer], f"weight norms {layer}")
        units = np.arange(min(3, widths[layer]))
        for method in ("am", "iam"):
            expected = maximise_layer(model, layer, units, method, SETTINGS, shape, "cpu")
            got = maximise_layer(graph, node[layer], units, method, SETTINGS, shape, "cpu")
            close(got.images, expected.images, f"{method} images {layer}")
            close(got.substitution, expected.substitution, f"{method} substitution {layer}")
        units = np.arange(0, widths[layer], max(1, widths[layer] // 4))
        for expected, got in zip(evaluate_units(model, split, layer, units, 10, 4, "cpu"),
                                 evaluate_units(graph, split, node[layer], units, 10, 4, "cpu")):
            close(got, expected, f"single-unit ablation {layer}")
        masks = torch.ones(3, widths[layer])
        masks[1, ::2], masks[2] = 0, 0
        for expected, got in zip(evaluate_masks(model, split, layer, masks, 10, 4, 2, "cpu"),
                                 evaluate_masks(graph, split, node[layer], masks, 10, 4, 2, "cpu")):
            close(got, expected, f"cumulative ablation {layer}")
    assert np.array_equal(counts, traced_counts)


def user_model():
    torch.manual_seed(0)
    return build_model(USER_MODEL, (3, 6, 6), 10, [0.5] * 3, [0.25] * 3,
                       module_path=str(USER_MODELS)).double().eval()


def naive_hooks(net, layer, unit):
    """The naive way on the user's module: a hook that zeroes one unit where the layer's node
    is computed (the second call of block.relu; the head's input for the functional relu)."""
    def zero(output):
        output = output.clone()
        output[:, unit] = 0
        return output

    if layer == "block.relu_1":
        calls = []

        def second_call(module, inputs, output):
            calls.append(1)
            return zero(output) if len(calls) % 2 == 0 else output

        return [net.block.relu.register_forward_hook(second_call)]
    if layer == "relu":
        return [net.head.register_forward_pre_hook(lambda module, inputs: (zero(inputs[0]),))]
    module = net.get_submodule(layer)
    return [module.register_forward_hook(lambda module, inputs, output: zero(output))]


@pytest.mark.parametrize("layer", ["stem.1", "block.conv1", "block.relu_1", "relu"])
def test_ablation_through_a_skip_connection_equals_the_naive_hook(layer):
    """stem.1 feeds both the residual branch and the skip connection; block.conv1 is not a
    ReLU (its raw output is zeroed); block.relu_1 is a module's second call; relu is a
    function. Every unit, float64: summed losses and correct counts as the naive hook gives."""
    model = user_model()
    split = random_split((3, 6, 6), 9)
    images, labels = next(split.batches(len(split)))
    width = model.layer_width(layer, (3, 6, 6))
    loss, correct, _ = evaluate_units(model, split, layer, np.arange(width), 10, 4, "cpu")
    for unit in range(width):
        handles = naive_hooks(model.net, layer, unit)
        with torch.no_grad():
            logits = model(images.double())
        for handle in handles:
            handle.remove()
        close(loss[unit + 1], F.cross_entropy(logits, labels, reduction="sum").item(), f"{layer} unit {unit}")
        assert correct[unit + 1].sum() == (logits.argmax(1) == labels).sum().item()


def test_batched_am_on_a_traced_model_equals_one_unit_at_a_time():
    model = user_model()
    units = np.array([0, 3, 6])
    for layer, method in (("block.relu_1", "am"), ("block.conv1", "iam")):
        batched = maximise_layer(model, layer, units, method, SETTINGS, (3, 6, 6), "cpu")
        for k, unit in enumerate(units):
            alone = maximise_layer(model, layer, np.array([unit]), method, SETTINGS, (3, 6, 6), "cpu")
            close(batched.images[k:k + 1], alone.images, f"{layer} {method} unit {unit}")


class SizeFirst(nn.Module):
    """Reads the batch size at the start and uses it after the layer (as x.view(x.size(0), -1) does)."""

    def __init__(self):
        super().__init__()
        self.conv, self.relu, self.fc = nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Linear(4 * 6 * 6, 10)

    def forward(self, x):
        n = x.size(0)
        return self.fc(self.relu(self.conv(x)).view(n, -1))


def test_a_batch_size_read_before_the_layer_is_refused_rather_than_misapplied():
    from repsub.errors import UserError

    model = GraphNet("python:size:first", SizeFirst(), [0.5] * 3, [0.25] * 3).eval()
    with pytest.raises(UserError, match="reads size, a value of the whole batch computed before it"):
        model.cut(torch.rand(2, 3, 6, 6), "relu")


def test_a_node_that_is_not_a_relu_is_analysed_through_one():
    """block.conv1's units are its output through a ReLU; its pre-ReLU value is the raw output,
    and the residual sum block.add likewise (docs/CHOICES.md)."""
    model = user_model()
    x = torch.rand(2, 3, 6, 6, dtype=torch.float64)
    raw = model.forward_to(x, "block.conv1", pre_relu=True)
    assert (raw < 0).any()
    assert torch.equal(model.forward_to(x, "block.conv1"), torch.relu(raw))
    assert torch.equal(model.forward_to(x, "block.relu", pre_relu=True), raw)
    assert model.incoming("block.relu_1") is None  # a residual sum: no single incoming map


def test_rectify_off_analyses_a_node_as_it_is(images_manifest, user_checkpoint, tmp_path):
    """With model_options.rectify false a node that is not a ReLU keeps its negative values for
    selectivity, AM's compared space and RS alike; selectivity is undefined for a unit with a
    negative class mean, and a ReLU node is as before."""
    from repsub.am import activations_by_space
    from repsub.selectivity import selectivity_index

    torch.manual_seed(0)
    raw_model = build_model(USER_MODEL, (3, 6, 6), 10, [0.5] * 3, [0.25] * 3, module_path=str(USER_MODELS),
                            rectify=False).double().eval()
    model = user_model()
    raw_model.load_state_dict(model.state_dict())
    x = torch.rand(4, 3, 6, 6, dtype=torch.float64)
    raw = model.forward_to(x, "block.conv1", pre_relu=True)
    assert (raw < 0).any() and torch.equal(raw_model.forward_to(x, "block.conv1"), raw)
    assert not raw_model.rectified("block.conv1") and raw_model.rectified("block.relu_1") and model.rectified("block.conv1")
    spaces = activations_by_space(raw_model, x, "block.conv1", ("pre_relu", "post_relu"))
    assert torch.equal(spaces["pre_relu"], spaces["post_relu"])
    assert torch.equal(raw_model.forward_to(x, "block.relu_1"), model.forward_to(x, "block.relu_1"))

    means = np.array([[1.0, -0.5, 0.0, 2.0], [0.5, 1.0, 0.0, 1.0]])
    selectivity, *_, dead = selectivity_index(means, rectified=False)
    assert np.isnan(selectivity[1]) and np.isnan(selectivity[2]) and dead.tolist() == [False, False, True, False]
    assert selectivity[3] == pytest.approx((2 - 1) / (2 + 1))
    with pytest.raises(UserError, match="model_options.rectify: shallow_cnn takes no such option"):
        build_model("shallow_cnn", (3, 8, 8), 10, [0.5] * 3, [0.25] * 3, rectify=False)

    # the option travels in the checkpoint: the selectivity step measures the raw node
    options = {"module_path": str(USER_MODELS), "rectify": False}
    assert main([str(a) for a in pretrained(images_manifest, tmp_path, USER_MODEL, options,
                                             str(user_checkpoint.parent / "weights.pt"))]) == 0
    for checkpoint, out in ((tmp_path / "c.pt", tmp_path / "raw.csv"), (user_checkpoint, tmp_path / "relu.csv")):
        assert main(["selectivity", "--checkpoint", str(checkpoint), "--manifest", images_manifest, "--layers",
                     "block.conv1", "--out", str(out)]) == 0
    raw, rectified = pd.read_csv(tmp_path / "raw.csv"), pd.read_csv(tmp_path / "relu.csv")
    # units with a class mean below 0 have no selectivity, yet are not dead
    assert (raw.selectivity.isna() & ~raw.dead).any() and rectified.selectivity.notna().all()
    assert (raw.mean_activation < 0).any() and (rectified.mean_activation >= 0).all()


def test_layers_lists_every_node_with_channels_its_kind_units_and_whether_it_is_a_relu(capsys):
    assert main(["layers", "--model", USER_MODEL, "--model-options", json.dumps({"module_path": str(USER_MODELS)}),
                 "--image-shape", "3", "6", "6"]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["block.relu_1"] == ["conv", "8", "yes"] and rows["block.add"] == ["conv", "8", "no"]
    assert rows["relu"] == ["vector", "16", "yes"] and "flatten" not in rows  # (images, channels, positions)


# --- bad inputs: one sentence, exit 2, nothing written --------------------------------------


@pytest.fixture(scope="module")
def images_manifest(tmp_path_factory):
    root = write_image_folder(tmp_path_factory.mktemp("images") / "set", size=8)
    out = tmp_path_factory.mktemp("prepared")
    assert main(["prepare", "--spec", json.dumps({"source": "imagefolder", "root": str(root)}),
                 "--manifest", str(out / "manifest.json")]) == 0
    return str(out / "manifest.json")


def one_sentence(capsys, argv, pattern, out):
    assert main([str(a) for a in argv]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and pattern in lines[0], lines
    assert not list(Path(out).iterdir())


def pretrained(manifest, out, model, options, weights=None):
    return ["pretrained", "--manifest", manifest, "--model", model, "--model-options", json.dumps(options),
            "--weights", json.dumps(weights), "--checkpoint", out / "c.pt", "--metrics", out / "m.csv"]


def test_bad_models_get_one_sentence(images_manifest, tmp_path, capsys):
    user = {"module_path": str(USER_MODELS)}
    one_sentence(capsys, pretrained(images_manifest, tmp_path, "torchvision:resnet19", {}),
                 "torchvision has no classification model 'resnet19'", tmp_path)
    one_sentence(capsys, pretrained(images_manifest, tmp_path, "python:no_such_module:make", user),
                 "no_such_module.py for module no_such_module; set module_path", tmp_path)
    broken = tmp_path.parent / "broken"
    broken.mkdir(exist_ok=True)
    (broken / "raises.py").write_text("raise RuntimeError('half written')\n")
    one_sentence(capsys, pretrained(images_manifest, tmp_path, "python:raises:make", {"module_path": str(broken)}),
                 "python:raises:make is not importable from", tmp_path)
    one_sentence(capsys, pretrained(images_manifest, tmp_path, "python:tiny_residual:nothing", user),
                 "python:tiny_residual:nothing: tiny_residual.py defines no function nothing", tmp_path)
    weights = tmp_path.parent / "other.pt"
    torch.save(nn.Linear(2, 2).state_dict(), weights)
    one_sentence(capsys, pretrained(images_manifest, tmp_path, USER_MODEL, user, str(weights)),
                 f"weights file {weights} does not fit {USER_MODEL}", tmp_path)


FACTORIES = {
    "exits.py": "import sys\nsys.exit(0)\n",
    "fails.py": "def make(num_classes):\n    raise ValueError('no such width')\n",
    "wrong.py": "def make(num_classes):\n    return [num_classes]\n",
    "borrows.py": "from json import loads\nfrom os import system\n\n\nclass Net:\n    pass\n",
    "json.py": "def loads(num_classes):\n    pass\n",
}


@pytest.mark.parametrize("model, said", [
    ("python:exits:make", "python:exits:make is not importable from"),
    ("python:fails:make", "python:fails:make(num_classes=3) failed (ValueError: no such width)"),
    ("python:wrong:make", "python:wrong:make returned a list, not an nn.Module"),
    ("python:borrows:loads", "borrows.py defines no function loads (it must be a function written in that module"),
    ("python:borrows:system", "borrows.py defines no function system"),
    ("python:borrows:__class__", "borrows.py defines no function __class__"),
    ("python:borrows:Net", "borrows.py defines no function Net"),
    ("python:json:loads", "the module json is loaded from"),
])
def test_a_factory_that_exits_raises_or_is_not_the_modules_own_function_is_one_sentence(
        images_manifest, tmp_path, capsys, model, said):
    """A user's factory runs only as a function written in the named module, loaded from
    module_path; an exit or an exception in the user's code is one sentence, exit 2."""
    folder = tmp_path.parent / "factories"
    folder.mkdir(exist_ok=True)
    for name, text in FACTORIES.items():
        (folder / name).write_text(text)
    out = tmp_path / "out"
    out.mkdir()
    one_sentence(capsys, pretrained(images_manifest, out, model, {"module_path": str(folder)}), said, out)


@pytest.fixture(scope="module")
def user_checkpoint(images_manifest, tmp_path_factory):
    out = tmp_path_factory.mktemp("user")
    torch.manual_seed(0)
    import sys

    sys.path.insert(0, str(USER_MODELS))
    import tiny_residual

    torch.save(tiny_residual.make(3).state_dict(), out / "weights.pt")
    assert main([str(a) for a in pretrained(images_manifest, out, USER_MODEL, {"module_path": str(USER_MODELS)},
                                             str(out / "weights.pt"))]) == 0
    return out / "c.pt"


@pytest.mark.parametrize("layer, pattern", [
    ("no.such.node", "has no layer 'no.such.node'; name a node that 'python -m repsub layers' lists"),
    ("flatten", "layer 'flatten' of python:tiny_residual:make gives (1, 8, 64), not (images, channels[, H, W])"),
])
def test_a_layer_the_model_lacks_or_without_channels_gets_one_sentence(images_manifest, user_checkpoint, tmp_path,
                                                                        capsys, layer, pattern):
    one_sentence(capsys, ["ablate", "--checkpoint", user_checkpoint, "--manifest", images_manifest, "--layer", layer,
                          "--out", tmp_path / "ablation.csv"], pattern, tmp_path)
    one_sentence(capsys, ["selectivity", "--checkpoint", user_checkpoint, "--manifest", images_manifest,
                          "--layers", layer, "--out", tmp_path / "selectivity.csv"], pattern, tmp_path)


def test_a_checkpoint_whose_model_code_changed_is_refused(images_manifest, user_checkpoint, tmp_path, capsys):
    code = tmp_path / "code"
    code.mkdir()
    (code / "tiny_residual.py").write_text((USER_MODELS / "tiny_residual.py").read_text())
    out = tmp_path / "made"
    out.mkdir()
    weights = user_checkpoint.parent / "weights.pt"
    assert main([str(a) for a in pretrained(images_manifest, out, USER_MODEL, {"module_path": str(code)},
                                             str(weights))]) == 0
    (code / "tiny_residual.py").write_text((code / "tiny_residual.py").read_text() + "\n# changed\n")
    capsys.readouterr()
    empty = tmp_path / "empty"
    empty.mkdir()
    one_sentence(capsys, ["selectivity", "--checkpoint", out / "c.pt", "--manifest", images_manifest,
                          "--layers", "stem.1", "--out", empty / "s.csv"],
                 "was made with the model code in", empty)


# --- end to end ------------------------------------------------------------------------------


def any_model_config(tmp_path):
    import sys
    import torchvision

    sys.path.insert(0, str(USER_MODELS))
    import tiny_residual

    root = write_image_folder(tmp_path / "shapes", classes=("a", "b", "c"), per_class=6, size=16)
    torch.manual_seed(0)
    resnet = torchvision.models.resnet18(num_classes=3)
    resnet.conv1, resnet.maxpool = nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.Identity()
    torch.save(resnet.state_dict(), tmp_path / "resnet18-random.pt")
    torch.save(tiny_residual.make(3).state_dict(), tmp_path / "tiny.pt")
    return {
        "results": str(tmp_path / "results"),
        "device": "cpu",
        "datasets": {"shapes": {"source": "imagefolder", "root": str(root)}},
        "runs": [
            {"dataset": "shapes", "model": "torchvision:resnet18", "seeds": [0],
             "model_options": {"weights": str(tmp_path / "resnet18-random.pt"), "cifar_stem": True},
             "layers": ["layer4.1.relu_1", "flatten"],
             "analysis": {"am": {"max_units_per_layer": 4}, "ablation": {"max_units_per_layer": 4}}},
            {"dataset": "shapes", "model": USER_MODEL, "seeds": [0],
             "model_options": {"weights": str(tmp_path / "tiny.pt"), "module_path": str(USER_MODELS)},
             "layers": ["block.relu_1", "relu"]},
        ],
        "jobs": {"threads": 1, "pretrained_threads": 1},
        "analysis": {"batch_size": 8, "am": {"methods": ["am", "iam"], "steps": 2},
                     "ablation": {"fractions": [0, 0.5, 1], "random_repeats": 1, "tie_repeats": 1}},
    }


NUMBERED = '''from torch import nn


def make(num_classes):  # the README's example network
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes))
'''


def test_a_torchvision_and_a_user_model_run_end_to_end(tmp_path):
    """ResNet-18, a user's residual network, and the README's own-model example (layers "1"
    and "3" of an nn.Sequential: names a CSV round trip must keep as text, from a module_path
    relative to the working folder), run end to end with the quick-look overlay the README
    names."""
    config = any_model_config(tmp_path)
    write_user_model(tmp_path / "mynets", "small", NUMBERED)
    config["runs"].append({"dataset": "shapes", "model": "python:small:make", "seeds": [0], "layers": ["1", "3"],
                           "model_options": {"module_path": "mynets", "weights": "mynets/small.pt"}})
    snakemake(tmp_path, "--cores", "2", "--configfile", str(write_config(tmp_path / "any.json", config)),
              str(REPO / "configs" / "quick-look.yaml"))
    results = tmp_path / "results"
    claims = pd.read_csv(layout.claims(results, "shapes", "base"))
    assert set(claims.model) == {"resnet18", "tiny_residual", "small"}
    units = pd.read_csv(layout.model_units(results, "shapes", "small", "base"), dtype=str)
    assert list(dict.fromkeys(units.layer)) == ["1", "3"]
    assert set(units.dropna(subset=["rs_am"]).groupby("layer").size()) == {16}  # the quick look's cap, of 32 and 64
    for name, layers, kinds in (("resnet18", ["layer4.1.relu_1", "flatten"], ["conv", "vector"]),
                                ("tiny_residual", ["block.relu_1", "relu"], ["conv", "vector"])):
        units = pd.read_csv(layout.model_units(results, "shapes", name, "base"))
        assert list(dict.fromkeys(units.layer)) == layers
        assert units.groupby("layer", sort=False).kind.first().tolist() == kinds
        for layer in layers:
            assert layout.ablation(results, "shapes", name, 0, layer).is_file()
            assert layout.am_file(results, "shapes", name, 0, "base", layer, "iam", "rs").is_file()
        assert layout.figure(results, "shapes", name, "fig1_selectivity_vs_rs").is_file()
    assert "C3" in set(claims[claims.model == "resnet18"].claim_id)  # the pooled vector before the classifier
    record = json.loads(Path(str(layout.checkpoint(results, "shapes", "tiny_residual", 0)) + ".prov.json").read_text())
    assert any(name.endswith("tiny_residual.py") for name in record["external"])
    assert "manifest" in record["normalisation"]
    assert main(["audit", str(layout.claims(results, "shapes", "base"))]) == 0


def _run(**changes):
    return {"dataset": "digits", "model": "torchvision:resnet18", "seeds": [0], "layers": ["relu"], **changes}


@pytest.mark.parametrize("run, variants, message", [
    (_run(layers=None), {}, "runs[0].layers: torchvision:resnet18 has no fixed layer list; name the layers"),
    (_run(layers=["base"]), {}, "runs[0].layers: 'base' cannot name a layer folder"),
    (_run(layers=["../up"]), {}, "runs[0].layers: '../up' cannot name a layer folder"),
    (_run(train={"epochs": 1}, model_options={"weights": "w.pt"}), {}, "runs[0]: a run either trains its model"),
    (_run(model=USER_MODEL), {}, "runs[0].model_options.module_path: None is not a folder"),
    (_run(model=USER_MODEL, model_options={"module_path": str(USER_MODELS)}), {},
     "runs[0]: python:tiny_residual:make needs its trained weights"),
    (_run(model="python:missing:make", model_options={"module_path": str(USER_MODELS)}), {},
     "no " + str(USER_MODELS / "missing.py") + " for module missing"),
    ({"dataset": "digits", "model": "mlp", "seeds": [0], "train": {}, "model_options": {"cifar_stem": True}}, {},
     "runs[0].model_options.cifar_stem applies to torchvision: or python: models only"),
    ({"dataset": "digits", "model": "shallow_cnn", "seeds": [0], "train": {}, "model_options": {"rectify": False}},
     {}, "runs[0].model_options.rectify applies to torchvision: or python: models only"),
    (_run(layers=["relu", "layer1"]), {"layer1": {"unit": "spatial_max"}}, "variants.layer1: a variant name must"),
])
def test_config_errors_of_traced_models_are_one_sentence(run, variants, message):
    from repsub.configuration import active_runs, analysis_variants
    from repsub.errors import UserError

    config = {"results": "results", "datasets": {"digits": {"source": "digits"}},
              "runs": [{k: v for k, v in run.items() if v is not None}], "variants": variants}
    with pytest.raises(UserError) as error:
        analysis_variants(config, active_runs(config, print))
    assert message in str(error.value) and "\n" not in str(error.value)


WRONG_HEAD = '''from torch import nn


def make(num_classes):  # ignores num_classes: 12 outputs whatever the data
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 12))
'''


def _own_model_config(tmp_path, layers, code):
    """A python: model with its weights on a 3-class image folder."""
    write_user_model(tmp_path / "mine", "twelve", code)
    root = write_image_folder(tmp_path / "images", classes=("a", "b", "c"), per_class=2, size=8)
    return {"results": "results", "device": "cpu",
            "datasets": {"shapes": {"source": "imagefolder", "root": str(root)}},
            "runs": [{"dataset": "shapes", "model": "python:twelve:make", "seeds": [0], "name": "twelve",
                      "model_options": {"module_path": "mine", "weights": "mine/twelve.pt"}, "layers": layers}]}


@pytest.mark.parametrize("head, layers, said", [
    (12, ["1"], "run twelve: python:twelve:make gives outputs of shape (12,) for images of the 3 classes"),
    (3, ["1", "Conv2"], "model python:twelve:make has no layer 'Conv2'"),
])
def test_a_wrong_head_or_a_misspelt_layer_is_refused_before_any_expensive_job(tmp_path, capsys, monkeypatch, head,
                                                                              layers, said):
    """check-config refuses it where torch is at hand, and so does the run's first job, before
    any other job of the run starts; the command a message suggests runs as printed."""
    import shlex
    import subprocess
    import sys

    code = WRONG_HEAD if head == 12 else WRONG_HEAD.replace("nn.Linear(8, 12)", "nn.Linear(8, num_classes)")
    config = _own_model_config(tmp_path, layers, code)
    path = write_config(tmp_path / "mine.json", config)
    monkeypatch.chdir(tmp_path)
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and said in err, err
    result = snakemake(tmp_path, "--cores", "1", "--configfile", str(path), check=False)
    assert result.returncode != 0 and said in result.stdout + result.stderr
    assert not (tmp_path / "results" / "shapes" / "twelve" / "seed0" / "checkpoint.pt").exists()
    if head == 3:  # the command the message suggests lists the layers as printed
        suggested = shlex.split(err.split("this command lists them: ")[1])
        assert suggested[0] == "python"
        listed = subprocess.run([sys.executable, *suggested[1:]], cwd=tmp_path, capture_output=True, text=True,
                                env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
        assert listed.returncode == 0 and "\n1 " in listed.stdout, listed.stderr


def test_a_models_own_normalisation_is_used_and_recorded(images_manifest, user_checkpoint, tmp_path):
    """model_options.normalisation replaces the training split's statistics, in the model and
    in the checkpoint's record; a count that does not fit the channels is one sentence."""
    weights = user_checkpoint.parent / "weights.pt"
    options = {"module_path": str(USER_MODELS), "normalisation": {"mean": [0.1, 0.2, 0.3], "std": [0.5, 0.5, 0.5]}}
    out = tmp_path / "own"
    out.mkdir()
    assert main([str(a) for a in pretrained(images_manifest, out, USER_MODEL, options, str(weights))]) == 0
    record = json.loads((out / "c.pt.prov.json").read_text())
    assert record["normalisation"] == "mean [0.1, 0.2, 0.3] and std [0.5, 0.5, 0.5] given in model_options.normalisation"
    meta = torch.load(out / "c.pt", weights_only=True)["meta"]
    assert meta["build"]["mean"] == [0.1, 0.2, 0.3] and "normalisation" not in meta["build"]
    bad = tmp_path / "bad"
    bad.mkdir()
    options["normalisation"] = {"mean": [0.1], "std": [0.5]}
    assert main([str(a) for a in pretrained(images_manifest, bad, USER_MODEL, options, str(weights))]) == 2
