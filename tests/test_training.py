import pytest
import torch

import repsub.training as training
from repsub.data import load_split, stratified_subset
from repsub.devices import seed_everything
from repsub.errors import UserError
from repsub.io import read_json
from repsub.nets.names import build_model
from repsub.settings import TrainSettings
from repsub.training import random_crop_flip, train

PARAMS = {"epochs": 3, "batch_size": 64, "lr": 0.05, "crop_padding": 1, "flip": True}
SETTINGS = TrainSettings(**PARAMS)


def setup(manifest_path, seed=0):
    manifest = read_json(manifest_path)
    generator = seed_everything(seed)
    model = build_model("shallow_cnn", manifest["image_shape"], 10, manifest["mean"], manifest["std"])
    train_split = stratified_subset(load_split(manifest_path, "train"), 400)
    test_split = stratified_subset(load_split(manifest_path, "test"), 150)
    return model, train_split, test_split, generator


def test_training_lowers_the_loss_and_learns(digits_manifest):
    model, train_split, test_split, generator = setup(digits_manifest)
    metrics, _ = train(model, train_split, test_split, SETTINGS, torch.device("cpu"), "fp32", generator)
    assert list(metrics.epoch) == [1, 2, 3]
    assert metrics.train_loss.iloc[-1] < metrics.train_loss.iloc[0]
    assert metrics.test_accuracy.iloc[-1] > 0.5


def test_training_is_bitwise_reproducible_for_a_seed(digits_manifest):
    states = []
    for _ in range(2):
        model, train_split, test_split, generator = setup(digits_manifest)
        train(model, train_split, test_split, SETTINGS, torch.device("cpu"), "fp32", generator)
        states.append(model.state_dict())
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key


def test_resume_after_a_kill_gives_the_same_weights(digits_manifest, tmp_path, monkeypatch):
    model, train_split, test_split, generator = setup(digits_manifest)
    train(model, train_split, test_split, SETTINGS, torch.device("cpu"), "fp32", generator)
    uninterrupted = model.state_dict()

    real_evaluate, calls = training.evaluate, []

    def evaluate_then_die(*args, **kwargs):  # dies at the end of epoch 2, after its state was saved
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    resume = tmp_path / "checkpoint.pt.resume.pt"
    model, train_split, test_split, generator = setup(digits_manifest)
    monkeypatch.setattr(training, "evaluate", evaluate_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(model, train_split, test_split, SETTINGS, torch.device("cpu"), "fp32", generator, resume)
    monkeypatch.setattr(training, "evaluate", real_evaluate)
    assert torch.load(resume, weights_only=True)["epoch"] == 2

    model, train_split, test_split, generator = setup(digits_manifest)
    with pytest.raises(UserError, match=r"saved by another training run \(its seed differ"):
        train(model, train_split, test_split, SETTINGS, torch.device("cpu"), "fp32", generator, resume, {"seed": 1})
    metrics, resumed = train(model, train_split, test_split, SETTINGS, torch.device("cpu"), "fp32", generator, resume)
    assert list(metrics.epoch) == [1, 2, 3] and resumed["epoch"] == 2 and len(resumed["sha256"]) == 64
    for key, value in model.state_dict().items():
        assert torch.equal(value, uninterrupted[key]), key


def test_divergence_stops_with_the_step_named(digits_manifest):
    model, train_split, test_split, generator = setup(digits_manifest)
    # the warm-up starts at lr 0, so step 2 makes the first update: with lr 1e38 it overflows the
    # weights, and the loss of step 3 is not finite
    with pytest.raises(UserError, match="loss became (nan|inf) at epoch 1, step 3; lower train.lr"):
        train(model, train_split, test_split, TrainSettings(**{**PARAMS, "lr": 1e38}), torch.device("cpu"),
              "fp32", generator)


@pytest.mark.parametrize("key", ["epochs", "batch_size"])
def test_non_positive_settings_are_rejected(digits_manifest, key):
    with pytest.raises(UserError, match=f"train.{key} must be a positive integer"):
        TrainSettings.from_dict({**PARAMS, key: 0})


def test_crop_and_flip_move_pixels_but_keep_content():
    images = torch.rand(64, 3, 8, 8)
    generator = torch.Generator().manual_seed(0)
    flipped = random_crop_flip(images, 0, True, generator)
    same = (flipped == images).flatten(1).all(1)
    mirrored = (flipped == images.flip(3)).flatten(1).all(1)
    assert (same | mirrored).all() and 10 < mirrored.sum() < 54
    shifted = random_crop_flip(images, 2, False, generator)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2), mode="reflect")
    offsets = set()
    for k in range(len(images)):
        matches = [(dy, dx) for dy in range(5) for dx in range(5)
                   if torch.equal(shifted[k], padded[k, :, dy : dy + 8, dx : dx + 8])]
        assert matches, f"image {k} is not a window of its padded original"
        offsets.add(matches[0])
    assert len(offsets) > 5  # offsets really vary


@pytest.mark.parametrize("asked", ["fp32", "auto"])
def test_the_resolved_precision_is_recorded_with_the_checkpoint(digits_manifest, tmp_path, asked):
    from conftest import run_step
    from repsub.devices import cpu_has_bf16

    run_step("train", "--manifest", digits_manifest, "--model", "mlp", "--seed", 0, "--settings", '{"epochs": 1}',
             "--precision", asked, "--device", "cpu", "--checkpoint", tmp_path / "c.pt", "--metrics", tmp_path / "m.csv")
    expected = "fp32" if asked == "fp32" or not cpu_has_bf16() else "bf16"
    assert read_json(tmp_path / "c.pt.prov.json")["precision"] == expected
    assert torch.load(tmp_path / "c.pt", weights_only=True)["meta"]["precision"] == expected


def test_a_checkpoint_left_as_the_resume_state_is_refused(digits_manifest, tmp_path):
    from repsub.checkpoint import save_checkpoint

    model, train_split, test_split, generator = setup(digits_manifest)
    resume = tmp_path / "checkpoint.pt.resume.pt"
    save_checkpoint(resume, model, {"model": "mlp"})
    with pytest.raises(UserError, match="is a checkpoint, not the state"):
        train(model, train_split, test_split, SETTINGS, torch.device("cpu"), "fp32", generator, resume)


def test_a_registered_training_records_the_registered_texts_sha256(digits_manifest, tmp_path):
    """The registration's text above its addenda is what a confirmatory run records: an
    addendum added later leaves the digest the runs hold unchanged."""
    import hashlib
    import json

    from conftest import run_step
    from repsub.torchfiles import load_torch_file

    registration = tmp_path / "REGISTRATION.md"
    registration.write_text("# Registered\n\nThe test.\n\n## Addenda\n")
    run_step("train", "--manifest", digits_manifest, "--model", "mlp", "--seed", 100, "--device", "cpu",
             "--settings", '{"epochs": 1, "batch_size": 512}', "--registration", registration,
             "--checkpoint", tmp_path / "c.pt", "--metrics", tmp_path / "m.csv")
    expected = hashlib.sha256(b"# Registered\n\nThe test.\n").hexdigest()
    record = json.loads((tmp_path / "c.pt.prov.json").read_text())
    assert record["registration"]["registered_sha256"] == expected
    meta = load_torch_file(tmp_path / "c.pt", "checkpoint", "retrain it")["meta"]
    assert meta["registration"]["registered_sha256"] == expected
    registration.write_text(registration.read_text() + "\n### 2026-12-06\nA dated addendum.\n")
    from repsub.registration import registration_record

    assert registration_record(registration)["registered_sha256"] == expected
