import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from repsub.data import prepare

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def digits_manifest(tmp_path_factory):
    """The real digits data set, prepared once per test session."""
    out = tmp_path_factory.mktemp("digits")
    prepare({"source": "digits", "test_fraction": 0.25, "split_seed": 0}, out)
    return out / "manifest.json"


def write_cifar_batches(root, n_per_batch=20, seed=0):
    """A tiny cifar-10-batches-py folder in the official pickle format (str keys, as
    Python 3 reads the official Python 2 pickles with encoding='latin1')."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {"data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
                 "labels": [int(v) for v in rng.integers(0, 10, n_per_batch)]}
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle)
    meta = {"label_names": [c for c in ("airplane", "automobile", "bird", "cat", "deer", "dog",
                                                   "frog", "horse", "ship", "truck")]}
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump(meta, handle)
    return folder


def write_image_folder(root, classes=("cat", "dog", "emu"), per_class=4, size=12, test_name="test", seed=0):
    """A tiny image-folder tree with PNG and JPEG files."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split in ("train", test_name):
        for k, name in enumerate(classes):
            folder = Path(root) / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                suffix = ".png" if i % 2 == 0 else ".jpg"
                Image.fromarray(pixels).save(folder / f"{i:04d}{suffix}")
    return Path(root)


def write_user_model(folder, module, code, classes=3):
    """A user's model module ``module`` with ``code`` in ``folder``, and beside it the state dict of
    its ``make(classes)`` (seeded): the weights file's path."""
    import importlib
    import sys

    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    (folder / f"{module}.py").write_text(code)
    sys.modules.pop(module, None)
    sys.path.insert(0, str(folder))
    try:
        torch.manual_seed(0)
        weights = folder / f"{module}.pt"
        torch.save(importlib.import_module(module).make(classes).state_dict(), weights)
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(module, None)
    return weights


def tiny_config(results, **overrides):
    """A seconds-long study on digits: few epochs, AM steps and units."""
    config = {
        "results": str(results),
        "device": "cpu",
        # each job is seconds long and mostly imports: one thread each lets two run side by side
        "jobs": {"threads": 1},
        "datasets": {"digits": {"source": "digits", "test_fraction": 0.25, "split_seed": 0}},
        "runs": [
            {"dataset": "digits", "model": "mlp", "seeds": [0], "layers": ["fc1", "fc4"],
             "train": {"epochs": 2, "batch_size": 128, "lr": 0.05}},
            {"dataset": "digits", "model": "shallow_cnn", "seeds": [0],
             "train": {"epochs": 3, "batch_size": 64, "lr": 0.05}},
        ],
        "analysis": {
            "am": {"steps": 6, "trace_every": 3, "max_units_per_layer": 24},
            "ablation": {"max_images": 120, "random_repeats": 2, "fractions": [0, 0.5, 1]},
        },
        # two cheap variants, so that every test study runs the robustness machinery
        "variants": {"long_am": {"am": {"steps": 12}, "layers": ["fc1"]},
                     "spatial_max": {"unit": "spatial_max", "layers": ["conv1", "conv2"]},
                     "iam_as_first": {"am": {"iam_others": "optimised"}, "layers": ["conv2"]},
                     "feature_vis": {"am": {"parameterisation": "fourier", "jitter": 1,
                                            "transforms": ["scale", "rotate"]}, "layers": ["conv2"]},
                     "moved_only": {"exclude_unmoved": True}},
    }
    config.update(overrides)
    return config


def write_config(path, config):
    Path(path).write_text(json.dumps(config))
    return path


@pytest.fixture
def seeded():
    torch.manual_seed(0)


def run_step(*argv):
    """Run one ``python -m repsub`` step in-process; fail the test if it fails."""
    from repsub.cli import main

    assert main([str(a) for a in argv]) == 0, argv


def small_study_steps(results):
    """Every step of the pipeline on digits (MLP, layer fc1, AM only) as ``python -m repsub``
    arguments, in order: a results tree laid out as the workflow lays it out."""
    from repsub import layout

    results = Path(results)
    manifest = results / "digits" / "data" / "manifest.json"
    seed = layout.seed_dir(results, "digits", "mlp", 0)
    selectivity = layout.selectivity(results, "digits", "mlp", 0, "base")
    method = layout.method_dir(results, "digits", "mlp", 0, "base", "fc1", "am")
    common = ["--manifest", manifest, "--device", "cpu"]
    trained = [*common, "--checkpoint", seed / "checkpoint.pt"]
    study = ["--dataset", "digits", "--model", "mlp", "--seeds", 0, "--layers", "fc1", "--methods", "am",
             "--tables", *(t.path for t in layout.run_tables(results, "digits", "mlp", [0], ["fc1"], ["am"]))]
    units = layout.model_units(results, "digits", "mlp", "base")
    model_stats = layout.model_stats(results, "digits", "mlp", "base")
    study_stats = layout.study_stats(results, "digits", "base")
    model_trajectory = layout.model_trajectory(results, "digits", "mlp", "base")
    study_trajectory = layout.study_trajectory(results, "digits", "base")
    steps = {
        "prepare": ["--spec", '{"source": "digits"}', "--manifest", manifest],
        "train": [*common, "--model", "mlp", "--seed", 0, "--settings", '{"epochs": 1, "batch_size": 256}',
                  "--checkpoint", seed / "checkpoint.pt", "--metrics", seed / "metrics.csv"],
        "selectivity": [*trained, "--out", selectivity],
        "am": [*trained, "--layer", "fc1", "--methods", "am", "--settings", '{"steps": 2, "max_units_per_layer": 6}',
               "--out-dir", method.parent],
        "ablate": [*trained, "--layer", "fc1", "--settings", '{"max_images": 60}',
                   "--out", layout.ablation(results, "digits", "mlp", 0, "fc1")],
        "cumulative": [*trained, "--layer", "fc1", "--selectivity", selectivity, "--rs", method / "rs.csv",
                       "--settings", '{"max_images": 60, "fractions": [0, 0.5, 1], "random_repeats": 1}',
                       "--out", layout.cumulative(results, "digits", "mlp", 0, "fc1")],
        "stats": [*study, "--architecture", "mlp", "--units", units, "--out", model_stats,
                  "--trajectory", model_trajectory],
        "study-stats": ["--inputs", model_stats, "--trajectories", model_trajectory, "--out", study_stats,
                        "--claims", layout.claims(results, "digits", "base"), "--trajectory", study_trajectory],
        "figures": [*study, "--units", units, "--manifest", manifest, "--traces", method / "trace.csv",
                    "--out-dir", layout.figures_dir(results, "digits", "mlp")],
        "study-figures": ["--stats", study_stats, "--out", results / "figures" / "digits" / "fig3b.png",
                          "--trajectory", study_trajectory, "--trajectory-figure",
                          results / "figures" / "digits" / "trajectory.png"],
    }
    return {name: [str(a) for a in argv] for name, argv in steps.items()}


def build_small_study(results):
    """Every step of :func:`small_study_steps`, run by hand in a few seconds."""
    for name, argv in small_study_steps(results).items():
        run_step(name, *argv)
    return Path(results)


@pytest.fixture(scope="session")
def small_study(tmp_path_factory):
    return build_small_study(tmp_path_factory.mktemp("small") / "results")
