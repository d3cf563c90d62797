"""The ImageNet branch end to end on a stand-in that fits CI: torchvision's VGG16 with seeded
random weights from a local state-dict file, a generated image folder of two classes
streamed from disk, resized and centre-cropped to 224 px, and its first and last conv layer
and last FC layer analysed with one unit each (AM, IAM and single-unit ablation of a unit
subset). Every one of its fifteen layers is checked at 224 px in process: each job of the
workflow loads the 528 MB model, so analysing all fifteen there would cost 45 loads."""

import json

import numpy as np
import pandas as pd
import torch

from conftest import write_config, write_image_folder
from repsub import layout
from repsub.nets.names import kind_of
from test_workflow import snakemake

LAYERS = ("conv1", "fc2")  # a conv map and the vector before the classifier
WIDTHS = {**{f"conv{i}": w for i, w in enumerate((64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512),
                                                  start=1)}, "fc1": 4096, "fc2": 4096}


def standin_config(tmp_path):
    torch.manual_seed(0)
    torch.save(torchvision_vgg16().state_dict(), tmp_path / "vgg16-random.pth")
    root = write_image_folder(tmp_path / "imagenet", classes=("n01", "n02"), per_class=2, size=240,
                              test_name="val")
    return {
        "results": str(tmp_path / "results"),
        "device": "cpu",
        "datasets": {"imagenet": {"source": "imagefolder", "root": str(root), "resize": 232, "crop": 224,
                                  "in_memory": False}},
        "runs": [{"dataset": "imagenet", "model": "vgg16_imagenet", "seeds": [0], "layers": list(LAYERS),
                  "model_options": {"weights": str(tmp_path / "vgg16-random.pth")},
                  "analysis": {"am": {"max_units_per_layer": 1, "steps": 2, "chunk_size": 1},
                               "ablation": {"max_images": 2, "max_units_per_layer": 1}}}],
        "jobs": {"threads": 1, "pretrained_threads": 1},
        "analysis": {"batch_size": 4, "am": {"methods": ["am", "iam"]},
                     "ablation": {"fractions": [0, 1], "random_repeats": 1, "tie_repeats": 1}},
    }


def test_pretrained_vgg16_on_a_streamed_image_folder_runs_end_to_end(tmp_path):
    config = write_config(tmp_path / "standin.json", standin_config(tmp_path))
    snakemake(tmp_path, "--cores", "2", "--configfile", str(config))
    results = tmp_path / "results"
    manifest = json.loads(layout.manifest(results, "imagenet").read_text())
    assert manifest["image_shape"] == [3, 224, 224] and not manifest["in_memory"]
    metrics = pd.read_csv(layout.metrics(results, "imagenet", "vgg16_imagenet", 0))
    assert metrics.test_accuracy.between(0, 1).all()
    units = pd.read_csv(layout.model_units(results, "imagenet", "vgg16_imagenet", "base"))
    assert tuple(dict.fromkeys(units.layer)) == LAYERS
    for layer in LAYERS:
        layer_units = units[units.layer == layer]
        assert len(layer_units) == WIDTHS[layer]  # selectivity of every unit
        assert layer_units.rs_iam.notna().sum() == 1 and layer_units.accuracy_drop.notna().sum() == 1
        rs = pd.read_csv(layout.am_file(results, "imagenet", "vgg16_imagenet", 0, "base", layer, "am", "rs"))
        assert rs.n_units.tolist() == [WIDTHS[layer]]
        images = np.load(layout.am_file(results, "imagenet", "vgg16_imagenet", 0, "base", layer, "am", "images"))
        assert images.shape == (1, 3, 224, 224)
        cumulative = pd.read_csv(layout.cumulative(results, "imagenet", "vgg16_imagenet", 0, layer))
        assert set(cumulative.fraction) == {0, 1}
    claims = pd.read_csv(layout.claims(results, "imagenet", "base"))
    assert set(claims.model) == {"vgg16_imagenet"} and "C3" in set(claims.claim_id)
    assert layout.figure(results, "imagenet", "vgg16_imagenet", "fig2_substitutes").is_file()


def test_every_layer_of_the_pretrained_vgg16_has_its_width_at_224_px(tmp_path):
    """What the workflow analyses of any layer it is given: the re-cut blocks of torchvision's
    VGG16 loaded from a state-dict file, every layer's units at 224 px."""
    from repsub.nets.names import build_model

    torch.manual_seed(0)
    torch.save(torchvision_vgg16().state_dict(), tmp_path / "vgg16-random.pth")
    model = build_model("vgg16_imagenet", weights=str(tmp_path / "vgg16-random.pth")).eval()
    assert model.layers == kind_of("vgg16_imagenet").layers == tuple(WIDTHS)
    with torch.no_grad():
        activations = model.layer_activations(torch.rand(1, 3, 224, 224), list(WIDTHS))
    assert {layer: a.shape[1] for layer, a in activations.items()} == WIDTHS


def torchvision_vgg16():
    import torchvision

    return torchvision.models.vgg16(weights=None)
