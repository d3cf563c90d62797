import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from repsub.ablation import ablation_orders, cumulative_masks, evaluate_masks, intact_and_masks, single_unit_table
from repsub.data import load_split, stratified_subset
from repsub.io import read_json
from repsub.nets.names import build_model


def naive_single_unit(model, images, labels, layer, unit):
    """The naive way: a full forward pass with a hook that zeroes one unit."""
    def zero(module, inputs, output):
        output = output.clone()
        output[:, unit] = 0
        return output

    handle = model.blocks[layer].register_forward_hook(zero)
    with torch.no_grad():
        logits = model(images)
    handle.remove()
    loss = F.cross_entropy(logits, labels, reduction="none").double().sum().item()
    return loss, (logits.argmax(1) == labels).sum().item()


def test_batched_ablation_equals_the_naive_hook_exactly(digits_manifest):
    manifest = read_json(digits_manifest)
    torch.manual_seed(0)
    model = build_model("shallow_cnn", manifest["image_shape"], 10, manifest["mean"], manifest["std"]).eval()
    split = stratified_subset(load_split(digits_manifest, "test"), 90)
    images, labels = next(split.batches(len(split)))
    for layer, units in (("conv2", [0, 7, 63]), ("conv4", [3, 100]), ("fc1", [0, 255])):
        loss_sum, correct, counts = evaluate_masks(model, split, layer, intact_and_masks(
            model.forward_to(images[:1], layer).shape[1], units), 10, len(split), 2, "cpu")
        for k, unit in enumerate(units, start=1):
            loss, hits = naive_single_unit(model, images, labels, layer, unit)
            assert correct[k].sum() == hits, (layer, unit)
            assert loss_sum[k] == loss, (layer, unit)
        with torch.no_grad():
            intact = model(images)
        assert correct[0].sum() == (intact.argmax(1) == labels).sum().item()


def test_cache_sized_passes_of_several_masks_equal_one_pass_and_the_naive_hook(digits_manifest):
    """Cumulative ablation on a CPU runs one mask over a slice of the batch's images where
    the layer is wide: in float64 the sums equal one pass of every image and a zeroing hook."""
    manifest = read_json(digits_manifest)
    torch.manual_seed(0)
    model = build_model("shallow_cnn", manifest["image_shape"], 10, manifest["mean"], manifest["std"]).double().eval()
    split = stratified_subset(load_split(digits_manifest, "test"), 50)
    images, labels = next(split.batches(len(split)))
    images = images.double()
    for layer in ("conv2", "fc1"):
        width = model.forward_to(images[:1], layer).shape[1]
        masks = torch.ones(3, width, dtype=torch.float64)
        masks[1, : width // 2] = 0
        masks[2, ::3] = 0
        per_image = model.forward_to(images[:1], layer)[0].numel()
        sliced = evaluate_masks(model, split, layer, masks, 10, len(split), 3, "cpu", elements=3 * per_image)
        whole = evaluate_masks(model, split, layer, masks, 10, len(split), 3, "cpu", elements=1 << 30)
        np.testing.assert_array_equal(sliced[1], whole[1])
        np.testing.assert_allclose(sliced[0], whole[0], rtol=1e-12)
        for row, mask in enumerate(masks):
            handle = model.blocks[layer].register_forward_hook(
                lambda module, inputs, output, mask=mask: output * mask.view(1, -1, *(1,) * (output.dim() - 2)))
            with torch.no_grad():
                logits = model(images)
            handle.remove()
            assert sliced[1][row].sum() == (logits.argmax(1) == labels).sum().item()
            assert sliced[0][row] == pytest.approx(F.cross_entropy(logits, labels, reduction="sum").item(), rel=1e-12)


def test_single_unit_table_reports_drops_against_the_intact_model():
    loss_sum = np.array([10.0, 12.0, 9.0])
    correct = np.array([[5.0, 5.0], [5.0, 3.0], [5.0, 5.0]])
    table = single_unit_table("fc1", [4, 9], loss_sum, correct, np.array([5.0, 5.0]), ["a", "b"])
    assert table.accuracy.tolist() == [0.8, 1.0]
    assert table.accuracy_drop.tolist() == pytest.approx([0.2, 0.0])
    assert table.loss_increase.tolist() == pytest.approx([0.2, -0.1])
    assert table.max_class_accuracy_drop.tolist()[0] == 0.4 and table.max_drop_class.tolist()[0] == "b"


def test_orders_and_cumulative_masks():
    scores = pd.DataFrame({"unit": [0, 1, 2, 3], "selectivity": [0.1, np.nan, 0.9, 0.5],
                           "rs": [0.0, 0.5, 0.25, np.nan], "mean_activation": [3.0, 0.5, 2.0, 1.0],
                           "weight_norm": [1.0, 2.0, 3.0, 4.0]})
    orders = ablation_orders(scores, 4, random_repeats=2, seed=0, tie_repeats=3)
    assert orders[("selectivity_high_to_low", 0)].tolist() == [2, 3, 0, 1]  # dead unit last
    assert orders[("selectivity_low_to_high", 0)].tolist() == [0, 3, 2, 1]
    assert orders[("rs_high_to_low", 0)].tolist() == [1, 2, 0, 3]
    assert orders[("mean_activation_high_to_low", 0)].tolist() == [0, 2, 3, 1]
    assert orders[("weight_norm_low_to_high", 0)].tolist() == [0, 1, 2, 3]
    assert ("weight_norm_low_to_high", 1) not in orders  # no ties: one order
    assert sorted(orders[("random", 1)].tolist()) == [0, 1, 2, 3]
    keys, masks = cumulative_masks({("x", 0): np.array([2, 0, 1, 3])}, 4, [0, 0.5, 1])
    assert keys.n_ablated.tolist() == [0, 2, 4]
    assert masks.tolist() == [[1, 1, 1, 1], [0, 1, 0, 1], [0, 0, 0, 0]]


def test_tied_scores_are_broken_by_seeded_repeats_never_by_unit_index():
    """RS takes few values: 30 units share RS 0 and 20 share 0.5. Each repeat is a permutation
    that is monotone in RS, the repeats differ from each other, and the same seed repeats them."""
    rs = np.array([0.0] * 30 + [0.5] * 20 + [0.25] * 10)
    scores = pd.DataFrame({"unit": np.arange(60), "rs": rs, "selectivity": np.linspace(0, 1, 60),
                           "mean_activation": np.arange(60.0), "weight_norm": np.arange(60.0)})
    orders = ablation_orders(scores, 60, random_repeats=1, seed=7, tie_repeats=4)
    repeats = [orders[("rs_high_to_low", r)] for r in range(4)]
    assert ("rs_high_to_low", 4) not in orders
    for order in repeats:
        assert sorted(order.tolist()) == list(range(60))
        assert (np.diff(rs[order]) <= 0).all()  # high to low, ties anywhere within their block
    assert len({tuple(order) for order in repeats}) == 4
    assert not any((order[:20] == np.arange(30, 50)).all() for order in repeats)  # not in unit order
    again = ablation_orders(scores, 60, random_repeats=1, seed=7, tie_repeats=4)
    assert all((again[("rs_high_to_low", r)] == repeats[r]).all() for r in range(4))
    assert ("selectivity_high_to_low", 1) not in orders  # distinct scores: one order


def test_single_unit_ablation_of_a_unit_subset_lies_inside_ams(small_study, tmp_path):
    """With equal seeds, the 5 ablated units are among the 6 units AM made images for."""
    from conftest import run_step
    from repsub import layout

    seed = layout.seed_dir(small_study, "digits", "mlp", 0)
    run_step("ablate", "--manifest", small_study / "digits" / "data" / "manifest.json", "--checkpoint",
             seed / "checkpoint.pt", "--device", "cpu", "--layer", "fc1", "--out", tmp_path / "a.csv",
             "--settings", '{"max_images": 30, "max_units_by_layer": {"fc1": 5}, "max_units_per_layer": 100}')
    ablated = pd.read_csv(tmp_path / "a.csv").unit
    am_units = np.load(layout.am_file(small_study, "digits", "mlp", 0, "base", "fc1", "am", "units"))
    assert len(ablated) == 5 and set(ablated) <= set(am_units)


def test_cumulative_ablation_evaluates_each_distinct_mask_once_with_the_same_result(digits_manifest, monkeypatch):
    """Fractions 0 and 1 give one mask for every order: it is evaluated once, and every row
    equals evaluating all masks one by one."""
    import repsub.ablation as ablation
    from repsub.settings import AblationSettings

    manifest = read_json(digits_manifest)
    torch.manual_seed(0)
    model = build_model("mlp", manifest["image_shape"], 10, manifest["mean"], manifest["std"]).eval()
    split = stratified_subset(load_split(digits_manifest, "test"), 60)
    scores = pd.DataFrame({"unit": np.arange(128), "selectivity": np.linspace(0, 1, 128), "rs": np.arange(128) % 3,
                           "mean_activation": np.arange(128.0), "weight_norm": np.arange(128.0)[::-1]})
    settings = AblationSettings(fractions=(0, 0.5, 1), random_repeats=2, tie_repeats=2)
    evaluated = []
    real = ablation.evaluate_masks
    monkeypatch.setattr(ablation, "evaluate_masks", lambda m, s, l, masks, *a: evaluated.append(len(masks))
                        or real(m, s, l, masks, *a))
    table = ablation.cumulative_table(model, split, "fc1", scores, 128, 10, settings, 50, "cpu")
    orders = ablation_orders(scores, 128, 2, 0, 2)
    keys, masks = cumulative_masks(orders, 128, settings.fractions)
    # one empty and one full mask for all orders; half masks repeat where two scores rank alike
    assert evaluated == [len(torch.unique(masks, dim=0))] and evaluated[0] <= len(orders) + 2 < len(masks)
    _, correct, counts = real(model, split, "fc1", masks, 10, 50, 16, "cpu")
    np.testing.assert_array_equal(table.accuracy.to_numpy(), correct.sum(1) / counts.sum())


def _random_split(shape, n, seed=0):
    from repsub.data import TensorSplit

    generator = torch.Generator().manual_seed(seed)
    return TensorSplit(torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=generator),
                       torch.randint(0, 10, (n,), generator=generator))


def _assert_shortcuts_exact(model, split, shape, layers, units_of=lambda n: np.arange(n)):
    from repsub.unit_ablation import evaluate_units

    model = model.double().eval()
    for layer in layers:
        n_units = model.layer_width(layer, shape)
        units = units_of(n_units)
        full = evaluate_masks(model, split, layer, intact_and_masks(n_units, units), 10, 7, 16, "cpu")
        fast = evaluate_units(model, split, layer, units, 10, 7, "cpu")
        for expected, got in zip(full, fast):
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0, err_msg=layer)


@pytest.mark.parametrize("name, options", [("mlp", {}), ("shallow_cnn", {}), ("shallow_cnn", {"batch_norm": False})])
def test_single_unit_shortcuts_equal_the_full_pass_for_every_unit(name, options):
    """Silent images skipped and the successor's output corrected by the unit's own contribution:
    float64 sums equal the full batched pass (itself equal to a zeroing hook) for every unit of
    every layer, over batches of 7 so that the last batch is partial."""
    torch.manual_seed(0)
    shape = (1, 8, 8)
    model = build_model(name, shape, 10, [0.5], [0.25], **options)
    if options.get("batch_norm", True) and name != "mlp":  # BatchNorm statistics far from the identity
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5), module.running_var.uniform_(0.5, 2.0)
    _assert_shortcuts_exact(model, _random_split(shape, 17), shape, model.layers)


def test_single_unit_shortcuts_equal_the_full_pass_on_vgg16(monkeypatch):
    """VGG16's block structure (a pool before five of its convs, pool and flatten before fc1) at
    an eighth of its widths, every unit of every layer."""
    import repsub.nets.chain as models

    monkeypatch.setattr(models, "VGG16_CONV_WIDTHS", tuple(w // 8 for w in models.VGG16_CONV_WIDTHS))
    torch.manual_seed(0)
    shape = (3, 32, 32)
    model = build_model("vgg16", shape, 10, [0.5] * 3, [0.25] * 3, fc_width=32)
    _assert_shortcuts_exact(model, _random_split(shape, 9), shape, model.layers)


def test_single_unit_shortcuts_equal_the_full_pass_on_torchvision_vgg16():
    """torchvision's VGG16 cut into blocks: adaptive pooling and flatten before fc1, dropout
    before fc2 and the classifier; a seeded sample of units of the layers whose successors differ."""
    torch.manual_seed(0)
    model = build_model("vgg16_imagenet")
    shape = (3, 32, 32)
    _assert_shortcuts_exact(model, _random_split(shape, 3), shape, ("conv12", "conv13", "fc1", "fc2"),
                            units_of=lambda n: np.random.default_rng(0).choice(n, 6, replace=False))


def test_the_general_way_equals_the_full_pass_where_no_shortcut_applies():
    """A successor that starts with something other than a channel-wise step (here a ReLU)
    falls back to zeroing the unit and running the rest, skipping only silent images."""
    from repsub.unit_ablation import Rerun, successor_method

    torch.manual_seed(0)
    shape = (1, 8, 8)
    model = build_model("shallow_cnn", shape, 10, [0.5], [0.25])
    model.blocks["conv3"].insert(0, torch.nn.ReLU())
    assert isinstance(successor_method(model, "conv2"), Rerun)
    _assert_shortcuts_exact(model, _random_split(shape, 17), shape, ["conv2"])


@pytest.fixture(scope="module")
def default_study_models(digits_manifest):
    """The default study's two models, trained as config.yaml trains them (bf16 where the CPU has it)."""
    from repsub.manifest import read_manifest
    from repsub.devices import resolve_precision, seed_everything
    from repsub.settings import TrainSettings
    from repsub.training import train

    manifest = read_manifest(digits_manifest)
    settings = TrainSettings(epochs=15, batch_size=64, lr=0.05, weight_decay=0.0005, label_smoothing=0.1)
    models = {}
    for name in ("mlp", "shallow_cnn"):
        generator = seed_everything(0)
        model = build_model(name, manifest["image_shape"], 10, manifest["mean"], manifest["std"])
        train(model, load_split(digits_manifest, "train"), load_split(digits_manifest, "test"), settings,
              torch.device("cpu"),
              resolve_precision("auto", torch.device("cpu")), generator)
        models[name] = model.eval()
    return models


def test_checked_bf16_ablation_predicts_as_strict_fp32_on_the_default_study(default_study_models, digits_manifest):
    """Every unit of every layer of the default study's models, single-unit and cumulative
    masks: the checked low-precision pass gives the same correct count per class as strict
    fp32 on every row, and records its error bound and the share it re-checked."""
    from repsub.ablation_precision import Checked
    from repsub.unit_ablation import evaluate_units

    split = stratified_subset(load_split(digits_manifest, "test"), 200)
    for name, model in default_study_models.items():
        for layer in model.layers:
            n_units = model.layer_width(layer, (1, 8, 8))
            checked = Checked("checked_bf16", "cpu")
            strict = evaluate_units(model, split, layer, np.arange(n_units), 10, 500, "cpu")
            low = evaluate_units(model, split, layer, np.arange(n_units), 10, 500, "cpu", checked)
            np.testing.assert_array_equal(low[1], strict[1], err_msg=f"{name} {layer}")
            record = checked.record()
            # eps is 0 where only the classifier follows, which the shortcut computes in fp32
            assert record["eps"] >= 0 and record["images"] > 0 and 0 <= record["rechecked_share"] <= 1
            masks = (torch.rand(4, n_units, generator=torch.Generator().manual_seed(0)) > 0.5).float()
            strict = evaluate_masks(model, split, layer, masks, 10, 500, 4, "cpu")
            low = evaluate_masks(model, split, layer, masks, 10, 500, 4, "cpu", Checked("checked_bf16", "cpu"))
            np.testing.assert_array_equal(low[1], strict[1], err_msg=f"{name} {layer} cumulative")
