import copy

import numpy as np
import pytest
import torch

from repsub.am import maximise_layer, starting_noise
from repsub.unit_subsets import select_units
from repsub.settings import AMSettings
from repsub.errors import UserError
from repsub.io import read_json
from repsub.nets.base import unit_activations
from repsub.nets.names import build_model
from repsub.rs import rs_table, top_substitutes
from repsub.selectivity import class_means, selectivity_index, selectivity_table, weight_norms


def test_selectivity_known_answers():
    means = np.array([
        [2.0, 1.0, 0.0, 3.0],
        [0.0, 1.0, 0.0, 1.0],
        [0.0, 1.0, 0.0, 1.0],
    ])
    selectivity, mu_max, mu_rest, preferred, dead = selectivity_index(means)
    assert selectivity[0] == 1.0  # fires for one class only
    assert selectivity[1] == 0.0  # same for every class
    assert dead.tolist() == [False, False, True, False] and np.isnan(selectivity[2])
    assert selectivity[3] == pytest.approx((3 - 1) / (3 + 1))
    assert preferred[3] == 0 and mu_rest[3] == 1.0 and mu_max[3] == 3.0


def test_class_means_match_a_direct_computation(digits_manifest):
    from repsub.data import load_split
    from repsub.io import read_json

    manifest = read_json(digits_manifest)
    torch.manual_seed(0)
    model = build_model("shallow_cnn", manifest["image_shape"], 10, manifest["mean"], manifest["std"]).eval()
    test = load_split(digits_manifest, "test")
    means, counts = class_means(model, test, model.layers, 10, 97, "cpu")  # odd batch size on purpose
    images = test.images.float() / 255
    with torch.no_grad():
        acts = unit_activations(model.forward_to(images, "conv3")).double().numpy()
    labels = test.labels.numpy()
    expected = np.stack([acts[labels == c].mean(0) for c in range(10)])
    np.testing.assert_allclose(means["conv3"], expected, rtol=1e-9, atol=1e-12)
    assert counts.sum() == len(test)
    widths = {layer: m.shape[1] for layer, m in means.items()}
    table = selectivity_table(means, counts, manifest["classes"], weight_norms(model, widths),
                              {layer: "vector" if layer == "fc1" else "conv" for layer in means},
                              {layer: True for layer in means})
    assert set(table.columns) >= {"layer", "unit", "selectivity", "mu_max", "mu_rest", "preferred_class",
                                  "mean_activation", "weight_norm", "dead"}
    assert len(table) == 64 + 64 + 128 + 128 + 256


def test_weight_norm_folds_in_batch_norm_scale(digits_manifest):
    """conv2's norm by hand: the conv kernel's L2 norm per output channel, times |gamma| /
    sqrt(running var + eps) of the BatchNorm after it; fc1 (no BatchNorm) is the plain norm."""
    manifest = read_json(digits_manifest)
    model = build_model("shallow_cnn", manifest["image_shape"], 10, manifest["mean"], manifest["std"]).eval()
    block = model.blocks["conv2"]
    conv, bn = block[0], block[1]
    with torch.no_grad():
        bn.weight.uniform_(-2, 2)
        bn.running_var.uniform_(0.5, 3)
    norms = weight_norms(model, {"conv2": 64, "fc1": 256})
    with torch.no_grad():
        expected = [float(conv.weight[c].double().pow(2).sum().sqrt() * abs(bn.weight[c].double())
                          / (bn.running_var[c].double() + bn.eps).sqrt()) for c in range(conv.out_channels)]
    np.testing.assert_allclose(norms["conv2"], expected, rtol=1e-12)
    fc = [m for m in model.blocks["fc1"] if isinstance(m, torch.nn.Linear)][0]
    np.testing.assert_allclose(norms["fc1"], fc.weight.double().norm(dim=1).detach().numpy(), rtol=1e-12)


def test_rs_on_a_hand_built_layer():
    # substitution[k, j]: unit j's activation on unit units[k]'s image
    substitution = np.array([
        [5.0, 1.0, 2.0, 0.0],  # unit 0 is the strongest on its image: RS 0
        [3.0, 1.0, 4.0, 1.0],  # unit 1: units 0 and 2 are greater, unit 3 only equal: RS 2/4
        [9.0, 9.0, 1.0, 9.0],  # unit 2: every other unit is greater: RS 3/4
    ])
    table = rs_table(substitution, np.array([0, 1, 2]), "fc1", "am")
    assert table.rs.tolist() == [0.0, 0.5, 0.75]
    assert table.n_greater.tolist() == [0, 2, 3] and table.n_units.tolist() == [4, 4, 4]
    assert table.target_activation.tolist() == [5.0, 1.0, 1.0]
    assert top_substitutes(substitution[1], 1) == [2, 0]


def test_rs_with_a_tolerance_counts_near_ties_and_never_the_target_itself():
    substitution = np.array([
        [5.0, 4.996, 4.9, 0.0],  # unit 1 is within 0.1% of unit 0's 5.0, unit 2 only within 2%
        [3.0, 1.0, 4.0, 1.0],  # unit 3 equals the target: a tie counts under any tolerance
        [0.0, 0.0, 0.0, 0.0],  # a silent target: every other silent unit ties with it
    ])
    units = np.array([0, 1, 2])
    assert rs_table(substitution, units, "fc1", "am").rs.tolist() == [0.0, 0.5, 0.0]
    assert rs_table(substitution, units, "fc1", "am", tolerance=1e-3).rs.tolist() == [0.25, 0.75, 0.75]
    assert rs_table(substitution, units, "fc1", "am", tolerance=2e-2).rs.tolist() == [0.5, 0.75, 0.75]


def test_unit_subset_is_seeded_sorted_and_optional():
    assert select_units(5).tolist() == [0, 1, 2, 3, 4]
    subset = select_units(100, 10, seed=3)
    assert len(subset) == 10 and (np.diff(subset) > 0).all()
    assert subset.tolist() == select_units(100, 10, seed=3).tolist()


def test_starting_noise_depends_only_on_seed_and_unit():
    together = starting_noise([3, 7], (1, 4, 4), noise_seed=1)
    alone = starting_noise([7], (1, 4, 4), noise_seed=1)
    assert torch.equal(together[1], alone[0])
    assert not torch.equal(together[0], together[1])
    assert 0 <= together.min() and together.max() <= 1


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return build_model("shallow_cnn", (1, 8, 8), 10, [0.3], [0.3]).eval()


SETTINGS = AMSettings(steps=20, lr=0.05, chunk_size=16, trace_every=5)


def test_am_raises_each_target_above_its_value_on_the_starting_noise(cnn):
    units = np.arange(0, 64, 8)
    images, substitution, trace, *_ = maximise_layer(cnn, "conv2", units, "am", SETTINGS, (1, 8, 8), "cpu")
    start = trace[trace.step == 0].set_index("unit").objective
    end = trace[trace.step == 20].set_index("unit").objective
    assert (end > start).all()
    assert images.shape == (8, 1, 8, 8) and substitution.shape == (8, 64)
    assert 0 <= images.min() and images.max() <= 1


def test_iam_lowers_the_other_units_relative_to_am(cnn):
    units = np.arange(0, 64, 4)
    _, am, _, *_ = maximise_layer(cnn, "conv3", units, "am", SETTINGS, (1, 8, 8), "cpu")
    _, iam, _, *_ = maximise_layer(cnn, "conv3", units, "iam", SETTINGS, (1, 8, 8), "cpu")

    def others_mean(subst):
        mask = np.ones(subst.shape, bool)
        mask[np.arange(len(units)), units] = False
        return subst.numpy()[mask].mean()

    assert others_mean(iam) < others_mean(am)


@pytest.mark.parametrize("method", ["am", "iam"])
def test_batched_optimisation_equals_one_unit_at_a_time(cnn, method):
    # In float64: in float32, summation-order noise (batch size changes it) is
    # amplified by Adam's normalised steps and can send one unit's trajectory
    # elsewhere, which says nothing about whether images interact.
    model = copy.deepcopy(cnn).double()
    units = np.array([1, 5, 9, 30])
    batched, subst_batched, _, *_ = maximise_layer(model, "conv4", units, method, SETTINGS, (1, 8, 8), "cpu")
    for k, unit in enumerate(units):
        alone, subst_alone, _, *_ = maximise_layer(model, "conv4", np.array([unit]), method, SETTINGS, (1, 8, 8), "cpu")
        torch.testing.assert_close(batched[k : k + 1], alone, rtol=1e-9, atol=1e-10)
        torch.testing.assert_close(subst_batched[k : k + 1], subst_alone, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("method", ["am", "iam"])
def test_jittered_optimisation_is_batch_independent_and_changes_the_images(cnn, method):
    """Each step rolls every image by one shift drawn from the noise seed alone, so a batch
    still gives the images that each unit gets alone (float64, as above)."""
    model = copy.deepcopy(cnn).double()
    units = np.array([2, 7, 33])
    jittered = AMSettings(**{**SETTINGS.as_dict(), "jitter": 2})
    batched, subst_batched, _, *_ = maximise_layer(model, "conv3", units, method, jittered, (1, 8, 8), "cpu")
    for k, unit in enumerate(units):
        alone, subst_alone, _, *_ = maximise_layer(model, "conv3", np.array([unit]), method, jittered, (1, 8, 8), "cpu")
        torch.testing.assert_close(batched[k : k + 1], alone, rtol=1e-9, atol=1e-10)
        torch.testing.assert_close(subst_batched[k : k + 1], subst_alone, rtol=1e-9, atol=1e-10)
    plain, _, _, *_ = maximise_layer(model, "conv3", units, method, SETTINGS, (1, 8, 8), "cpu")
    assert not torch.allclose(batched, plain)


def test_spatial_max_units_read_each_maps_maximum(cnn):
    """With unit spatial_max, the AM objective, the substitution matrix and RS all read each
    channel's maximum over its map; the substitution matrix equals a direct computation."""
    units = np.array([0, 9, 40])
    images, substitution, trace, *_ = maximise_layer(cnn, "conv2", units, "am", SETTINGS, (1, 8, 8), "cpu",
                                                 unit="spatial_max")
    with torch.no_grad():
        maps = cnn.forward_to(images, "conv2")
    torch.testing.assert_close(substitution, maps.amax(dim=(2, 3)))
    assert torch.equal(unit_activations(maps, "spatial_max"), maps.amax(dim=(2, 3)))
    assert not torch.allclose(substitution, maps.mean(dim=(2, 3)))
    mean_images, _, _, *_ = maximise_layer(cnn, "conv2", units, "am", SETTINGS, (1, 8, 8), "cpu")
    assert not torch.allclose(images, mean_images)


def test_bf16_changes_only_the_optimisation_and_measures_in_fp32(cnn):
    """Under bf16 the images differ from fp32's, but their substitution matrix is still the
    fp32 activation of those images."""
    units = np.array([3, 11])
    images, substitution, _, *_ = maximise_layer(cnn, "conv3", units, "am", SETTINGS, (1, 8, 8),
                                             torch.device("cpu"), "bf16")
    fp32_images, _, _, *_ = maximise_layer(cnn, "conv3", units, "am", SETTINGS, (1, 8, 8), torch.device("cpu"), "fp32")
    assert substitution.dtype == torch.float32 and not torch.equal(images, fp32_images)
    with torch.no_grad():
        torch.testing.assert_close(substitution, unit_activations(cnn.forward_to(images, "conv3")))


def test_smaller_unit_subsets_lie_inside_larger_ones_with_one_seed():
    large, small = select_units(100, 40, seed=3), select_units(100, 10, seed=3)
    assert len(small) == 10 and set(small) <= set(large) and list(small) == sorted(small)
    assert select_units(100, None).tolist() == list(range(100))


def test_per_layer_caps_replace_the_study_wide_one():
    settings = AMSettings(max_units_per_layer=64, max_units_by_layer={"conv1": None, "fc1": 8})
    assert (settings.max_units("conv1"), settings.max_units("fc1"), settings.max_units("conv2")) == (None, 8, 64)
    with pytest.raises(UserError, match="am.max_units_by_layer must be a mapping of layer names"):
        AMSettings(max_units_by_layer={"conv1": 0})


def test_bad_am_settings_are_rejected():
    with pytest.raises(UserError, match="am.lr must be a positive number"):
        AMSettings(lr=0.0)
    with pytest.raises(UserError, match="am.steps must be a positive integer"):
        AMSettings(steps=0)


def test_non_finite_objective_names_unit_and_step():
    model = build_model("mlp", (1, 8, 8), 10, [0.3], [0.3]).eval()
    with torch.no_grad():
        model.blocks["fc1"][2].weight[5] = float("nan")
    with pytest.raises(UserError, match="AM of fc1 unit 5 became non-finite at step 0"):
        maximise_layer(model, "fc1", np.array([5]), "am", SETTINGS, (1, 8, 8), "cpu")


def test_noise_rs_is_rs_on_the_starting_noise(digits_manifest):
    """By hand: every unit's activation on the unit's own starting noise image, then the
    fraction of the layer's units responding strictly more than the unit."""
    from repsub.baselines import noise_baseline

    manifest = read_json(digits_manifest)
    model = build_model("shallow_cnn", manifest["image_shape"], 10, manifest["mean"], manifest["std"]).eval()
    units = np.array([1, 5, 9, 40])
    settings = AMSettings(noise_seed=4, chunk_size=3)
    images, substitution, trace, *_ = noise_baseline(model, "conv2", units, settings, manifest["image_shape"], "cpu")
    noise = starting_noise(units, manifest["image_shape"], 4)
    assert torch.equal(images, noise)
    with torch.no_grad():
        acts = unit_activations(model.forward_to(noise, "conv2")).numpy()
    expected = [(acts[k] > acts[k, unit]).sum() / acts.shape[1] for k, unit in enumerate(units)]
    np.testing.assert_allclose(substitution.numpy(), acts, rtol=1e-6)
    assert rs_table(substitution.numpy(), units, "conv2", "noise").rs.tolist() == expected
    assert trace.step.tolist() == [0] * 4


def test_top_image_is_the_arg_max_image(digits_manifest):
    from repsub.baselines import top_image_baseline
    from repsub.data import load_split

    manifest = read_json(digits_manifest)
    model = build_model("shallow_cnn", manifest["image_shape"], 10, manifest["mean"], manifest["std"]).eval()
    split = load_split(digits_manifest, "test")
    units = np.array([0, 3, 17])
    images, substitution, trace, *_ = top_image_baseline(model, "conv3", units, AMSettings(), split, 64, "cpu")
    pixels = split.images.float() / 255
    with torch.no_grad():
        acts = unit_activations(model.forward_to(pixels, "conv3")).numpy()
    best = acts[:, units].argmax(0)
    assert trace.image_index.tolist() == best.tolist()
    assert torch.equal(images, pixels[best])
    np.testing.assert_allclose(trace.objective, acts[best, units], rtol=1e-5)
    np.testing.assert_allclose(substitution.numpy(), acts[best], rtol=1e-5, atol=1e-6)


def test_the_trajectory_starts_at_the_noise_baseline_and_ends_at_the_final_images(cnn):
    """Step 0 of AM is its starting noise: its substitution matrix is the noise method's (to
    float tolerance: AM runs its convs channels_last) and exactly so in float64, RS too; the
    last recorded step is the final images' matrix."""
    from repsub.baselines import noise_baseline
    from repsub.rs import rs_table

    units = np.arange(0, 64, 3)
    for model, exact in ((cnn, False), (copy.deepcopy(cnn).double(), True)):
        result = maximise_layer(model, "conv3", units, "am", SETTINGS, (1, 8, 8), "cpu")
        noise = noise_baseline(model, "conv3", units, SETTINGS, (1, 8, 8), "cpu")
        assert result.steps == [0, 1, 2, 4, 8, 16, 20] and result.trajectory.shape == (7, len(units), 128)
        torch.testing.assert_close(result.trajectory[0], noise.substitution.to(result.trajectory.dtype))
        torch.testing.assert_close(result.trajectory[-1], result.substitution)
        start, baseline = (rs_table(m.numpy(), units, "conv3", "am") for m in (result.trajectory[0], noise.substitution))
        if exact:
            assert (start.rs.to_numpy() == baseline.rs.to_numpy()).all()
        else:  # a unit whose activation ties another's within float noise may count it or not
            gap = np.sort(np.abs(noise.substitution.numpy() - noise.substitution.numpy()[np.arange(len(units)),
                                                                                        units][:, None]), axis=1)[:, 1]
            differ = start.rs.to_numpy() != baseline.rs.to_numpy()
            assert (gap[differ] < 1e-5).all()
        assert result.movement.moved.all() and (result.movement.best_objective > result.movement.start_objective).all()
        assert not noise.movement.moved.any() and noise.steps == [0]


def test_a_unit_am_cannot_move_is_counted_as_never_moved():
    """Under the post-ReLU objective a unit silent on its noise gets no gradient."""
    from repsub.nets.chain import mlp

    torch.manual_seed(0)
    model = mlp((1, 2, 2), 3, [0.0], [1.0], widths=(3, 3, 3, 3)).eval()
    with torch.no_grad():
        model.blocks["fc1"][2].bias[:] = torch.tensor([0.5, -100.0, 0.5])  # unit 1 is silent on every image
    post = AMSettings(**{**SETTINGS.as_dict(), "optimise": "post_relu"})
    result = maximise_layer(model, "fc1", np.arange(3), "am", post, (1, 2, 2), "cpu")
    assert result.movement.moved.tolist() == [True, False, True]


def _iam_gradient(model, image, others):
    from repsub.am import activations_by_space
    from repsub.objectives import inhibition, spaces_needed

    settings = AMSettings(iam_others=others)
    image = image.clone().requires_grad_(True)
    acts = activations_by_space(model, image, "fc1", spaces_needed("iam", settings))
    inhibition(acts, torch.tensor([0]), settings).sum().backward()
    return image.grad.flatten()


def test_consistent_iam_ignores_units_that_are_already_silent():
    """A hand-built layer: unit 2 is silent on every image and its weights are orthogonal to
    units 0's and 1's. IAM with the others in the optimised (pre-ReLU) space pulls the image
    down unit 2's weights, which cannot change any post-ReLU activation, so cannot change RS;
    with the others in the compared (post-ReLU) space it does not, and the images differ."""
    from repsub.nets.chain import mlp

    model = mlp((1, 2, 2), 3, [0.0], [1.0], widths=(3, 3, 3, 3)).eval()
    weights = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    with torch.no_grad():
        model.blocks["fc1"][2].weight.copy_(weights)
        model.blocks["fc1"][2].bias.copy_(torch.tensor([0.0, 0.0, -10.0]))  # unit 2 silent on [0, 1] images
    image = torch.full((1, 1, 2, 2), 0.5)
    silent = weights[2]
    assert torch.dot(_iam_gradient(model, image, "compared"), silent) == 0
    assert torch.dot(_iam_gradient(model, image, "optimised"), silent) < 0  # ascent lowers unit 2 further
    images = {others: maximise_layer(model, "fc1", np.array([0]), "iam",
                                     AMSettings(**{**SETTINGS.as_dict(), "iam_others": others}), (1, 2, 2),
                                     "cpu").images for others in ("compared", "optimised")}
    assert not torch.allclose(images["compared"], images["optimised"])


def test_record_steps_are_checked():
    assert AMSettings(steps=10, record_steps=[0, 5]).record_steps == (0, 5)
    with pytest.raises(UserError, match="am.record_steps must be a list of steps from 0 to steps"):
        AMSettings(steps=10, record_steps=[11])
    with pytest.raises(UserError, match="am.iam_others must be compared or optimised"):
        AMSettings(iam_others="both")


FEATURE_VISUALISATION = AMSettings(**{**SETTINGS.as_dict(), "parameterisation": "fourier", "jitter": 1,
                                      "transforms": ("scale", "rotate")})


@pytest.mark.parametrize("method", ["am", "iam"])
def test_fourier_am_with_transforms_is_batch_independent(cnn, method):
    """lucent's parameterisation and transforms keep batched AM's property: each unit's image
    is the one it gets alone (float64, as above)."""
    model = copy.deepcopy(cnn).double()
    units = np.array([2, 7, 33])
    batched = maximise_layer(model, "conv3", units, method, FEATURE_VISUALISATION, (1, 8, 8), "cpu")
    for k, unit in enumerate(units):
        alone = maximise_layer(model, "conv3", np.array([unit]), method, FEATURE_VISUALISATION, (1, 8, 8), "cpu")
        torch.testing.assert_close(batched.images[k : k + 1], alone.images, rtol=1e-9, atol=1e-10)
        torch.testing.assert_close(batched.substitution[k : k + 1], alone.substitution, rtol=1e-9, atol=1e-10)
    pixel = maximise_layer(model, "conv3", units, method, SETTINGS, (1, 8, 8), "cpu")
    assert not torch.allclose(batched.images, pixel.images)
    assert (batched.movement.best_objective > batched.movement.start_objective).all()


def test_fourier_starts_from_the_units_noise():
    from repsub.am import starting_noise
    from repsub.parameterisations import EDGE, Fourier

    noise = starting_noise([0, 5], (3, 8, 8), 0).double()
    torch.testing.assert_close(Fourier(noise).image(), noise.clamp(EDGE, 1 - EDGE), rtol=0, atol=1e-12)


def test_transforms_are_drawn_per_step_for_the_whole_batch_and_leave_jitter_as_it_was():
    from repsub import transforms

    plain = transforms.plan(AMSettings(steps=5, jitter=2))
    more = transforms.plan(AMSettings(steps=5, jitter=2, transforms=["scale", "rotate"]))
    assert [p["shift"] for p in plain] == [p["shift"] for p in more] and plain[0]["scale"] is None
    assert all(0.9 <= p["scale"] <= 1.1 and -10 <= p["degrees"] <= 10 for p in more)
    image = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    same = transforms.scale_and_rotate(image, 1.0, 0.0)
    torch.testing.assert_close(same, image)  # the identity resample reads every pixel back
    with pytest.raises(UserError, match="am.transforms must be a list of scale and rotate"):
        AMSettings(transforms=["shear"])


def test_a_contact_sheet_tiles_each_image_at_its_corner_with_transparent_gaps():
    from repsub.sheets import contact_sheet, montage

    images = np.random.default_rng(0).random((5, 1, 4, 6))
    canvas, corners = montage(images, columns=2, gap=(2, 1))
    assert canvas.shape == (3 * (4 + 2), 2 * (6 + 1), 4) and corners[3] == (7, 8)
    for image, (x, y) in zip(images, corners):
        tile = canvas[y:y + 4, x:x + 6]
        assert np.array_equal(tile[..., :3], np.repeat(image[0][..., None], 3, axis=2))  # grey as RGB
        assert (tile[..., 3] == 1).all()
    assert canvas[..., 3].sum() == 5 * 4 * 6  # everything else is see-through
    labels = [t for t in contact_sheet(images, [10, 11, 12, 13, 14], "t", unmoved={12}).axes[0].texts]
    assert [t.get_text() for t in labels] == ["unit 10", "unit 11", "unit 12 unmoved", "unit 13", "unit 14"]
    assert labels[2].get_color() == "tab:red"


def test_the_cumulative_figure_says_where_rs_orders_rank_a_subset():
    """VGG16's fc1 has an AM image, so an RS, for 64 of its 512 units: its RS orders rank those."""
    import pandas as pd

    from repsub.figures import cumulative_curves

    rows = [{"seed": 0, "layer": layer, "order": order, "repeat": 0, "fraction": f, "n_ablated": 0,
             "accuracy": 0.5, "loss": 1.0} for layer in ("conv1", "fc1")
            for order in ("random", "rs_high_to_low") for f in (0, 0.5, 1)]
    figure = cumulative_curves(pd.DataFrame(rows), "t", {"conv1": (64, 64), "fc1": (64, 512)})
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles[:2] == ["conv1", "fc1\nRS orders rank 64 of 512 units"]
