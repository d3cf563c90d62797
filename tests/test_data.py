import os
import pickle

import numpy as np
import pytest
import torch

from conftest import write_cifar_batches, write_image_folder
from repsub.data import load_split, prepare, stratified_subset
from repsub.errors import UserError
from repsub.io import read_json


def test_digits_split_is_stratified_seeded_and_complete(digits_manifest):
    manifest = read_json(digits_manifest)
    assert manifest["counts"] == {"train": 1347, "test": 450}
    assert manifest["image_shape"] == [1, 8, 8]
    assert manifest["classes"] == [str(d) for d in range(10)]
    test = load_split(digits_manifest, "test")
    per_class = np.bincount(test.labels.numpy(), minlength=10)
    assert per_class.min() >= 43 and per_class.max() <= 46  # 25% of each class


def test_digits_prepare_is_deterministic(tmp_path, digits_manifest):
    prepare({"source": "digits", "test_fraction": 0.25, "split_seed": 0}, tmp_path)
    again = read_json(tmp_path / "manifest.json")
    assert again == read_json(digits_manifest)
    assert torch.equal(load_split(tmp_path / "manifest.json", "train").images,
                       load_split(digits_manifest, "train").images)


def test_cifar10_reads_official_pickle_format(tmp_path):
    write_cifar_batches(tmp_path)
    manifest = prepare({"source": "cifar10", "root": str(tmp_path)}, tmp_path / "prepared")
    assert manifest["counts"] == {"train": 100, "test": 20}
    assert manifest["image_shape"] == [3, 32, 32]
    assert manifest["classes"][0] == "airplane"
    train = load_split(tmp_path / "prepared" / "manifest.json", "train")
    assert train.images.dtype == torch.uint8 and train.images.shape == (100, 3, 32, 32)
    assert 0.45 < manifest["mean"][0] < 0.55  # uniform random pixels


def test_cifar10_missing_folder_names_path_and_fixes(tmp_path):
    with pytest.raises(UserError, match="cifar-10-batches-py.*download: true.*point root"):
        prepare({"source": "cifar10", "root": str(tmp_path / "nowhere")}, tmp_path / "out")


def test_cifar10_corrupted_batch_fails_clearly(tmp_path):
    folder = write_cifar_batches(tmp_path)
    (folder / "data_batch_3").write_bytes(b"\x80\x04truncated")
    with pytest.raises(UserError, match="data_batch_3 is not a CIFAR-10 pickle"):
        prepare({"source": "cifar10", "root": str(tmp_path)}, tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.json").exists()


class Payload:
    """An object whose pickle calls ``function(*args)`` when it is unpickled."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


@pytest.mark.parametrize("name", ["data_batch_1", "batches.meta"])
@pytest.mark.parametrize("function, refused", [(os.system, "posix.system"), (np.load, "numpy.load")])
def test_cifar10_pickles_that_call_functions_are_refused(tmp_path, name, function, refused):
    folder = write_cifar_batches(tmp_path)
    marker = tmp_path / "pwned"
    argument = f"touch {marker}" if function is os.system else str(tmp_path / "saved.npy")
    np.save(tmp_path / "saved.npy", np.arange(3))
    with open(folder / name, "wb") as handle:
        pickle.dump({"data": Payload(function, argument), "labels": [0], "label_names": Payload(function, argument)},
                    handle)
    with pytest.raises(UserError, match=f"{name} is not a CIFAR-10 pickle \\(it names {refused}"):
        prepare({"source": "cifar10", "root": str(tmp_path)}, tmp_path / "out")
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_cifar10_batch_of_the_wrong_shape_is_refused(tmp_path):
    folder = write_cifar_batches(tmp_path)
    with open(folder / "test_batch", "wb") as handle:
        pickle.dump({"data": np.zeros((4, 100), np.uint8), "labels": [0, 1, 2, 3]}, handle)
    with pytest.raises(UserError, match="test_batch does not hold 'data' \\(N x 3072 uint8\\)"):
        prepare({"source": "cifar10", "root": str(tmp_path)}, tmp_path / "out")


@pytest.mark.parametrize("test_name", ["test", "val"])
def test_image_folder_in_memory(tmp_path, test_name):
    root = write_image_folder(tmp_path / "images", test_name=test_name)
    manifest = prepare({"source": "imagefolder", "root": str(root), "max_per_class": 3}, tmp_path / "out")
    assert manifest["classes"] == ["cat", "dog", "emu"]
    assert manifest["counts"] == {"train": 9, "test": 9}
    split = load_split(tmp_path / "out" / "manifest.json", "test")
    assert split.images.shape == (9, 3, 12, 12)
    assert split.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_image_folder_streamed_with_resize_and_crop(tmp_path):
    root = write_image_folder(tmp_path / "images", size=20)
    spec = {"source": "imagefolder", "root": str(root), "resize": 16, "crop": 8, "in_memory": False}
    manifest = prepare(spec, tmp_path / "out")
    assert manifest["image_shape"] == [3, 8, 8] and not manifest["in_memory"]
    assert not (tmp_path / "out" / "train.pt").exists()
    images, labels = next(load_split(tmp_path / "out" / "manifest.json", "train").batches(5))
    assert images.shape == (5, 3, 8, 8) and images.dtype == torch.float32 and 0 <= images.min() <= images.max() <= 1


def test_image_folder_class_without_images_fails(tmp_path):
    root = write_image_folder(tmp_path / "images")
    for path in (root / "train" / "dog").iterdir():
        path.rename(path.with_suffix(".txt"))
    with pytest.raises(UserError, match="dog holds no image files"):
        prepare({"source": "imagefolder", "root": str(root)}, tmp_path / "out")


def test_image_folder_unreadable_image_fails(tmp_path):
    root = write_image_folder(tmp_path / "images")
    (root / "test" / "cat" / "0000.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match="0000.png cannot be read"):
        prepare({"source": "imagefolder", "root": str(root)}, tmp_path / "out")


@pytest.mark.parametrize("root", ["missing", ""])
def test_image_folder_missing_or_empty_root(tmp_path, root):
    (tmp_path / "empty").mkdir()
    target = tmp_path / ("missing" if root else "empty")
    with pytest.raises(UserError, match="does not exist|has no train/ folder"):
        prepare({"source": "imagefolder", "root": str(target)}, tmp_path / "out")


def test_stratified_subset_keeps_class_shares(digits_manifest):
    test = load_split(digits_manifest, "test")
    subset = stratified_subset(test, 100, seed=0)
    assert 95 <= len(subset) <= 105
    counts = np.bincount(subset.labels.numpy(), minlength=10)
    assert counts.min() >= 9 and counts.max() <= 11
    assert torch.equal(subset.labels, stratified_subset(test, 100, seed=0).labels)


def test_a_changed_prepared_split_is_refused(tmp_path):
    prepare({"source": "digits", "test_fraction": 0.25, "split_seed": 0}, tmp_path)
    data = torch.load(tmp_path / "test.pt", weights_only=True)
    data["labels"][0] = (data["labels"][0] + 1) % 10
    torch.save(data, tmp_path / "test.pt")
    with pytest.raises(UserError, match="test.pt is missing or changed since"):
        load_split(tmp_path / "manifest.json", "test")
    assert len(load_split(tmp_path / "manifest.json", "train")) == 1347
