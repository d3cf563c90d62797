"""Data sets: load a source, write the prepared splits and a manifest, serve batches.

Three sources: ``digits`` (scikit-learn's embedded 8x8 digits, the offline
default), ``cifar10`` (the official ``cifar-10-batches-py`` folder) and
``imagefolder`` (``train/`` and ``test/`` or ``val/`` folders of class folders,
as ImageNet is laid out). Small sets are prepared once into uint8 tensors that
training keeps whole on the device; an image folder with ``in_memory: false``
is streamed from disk in batches instead (ImageNet).
"""

import hashlib
import io
from pathlib import Path

import numpy as np
import torch

from .configuration import IMAGE_SUFFIXES, check_digits_split
from .errors import UserError
from .settings import MAX_COUNT, MAX_SEED
from .torchfiles import save_torch
from .io import files_digest, sha256_file, write_json
from .manifest import read_manifest
from .layout import SPLITS, split_path


class TensorSplit:
    """A split held in memory as uint8 images (N, C, H, W) and int64 labels."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def subset(self, indices):
        return TensorSplit(self.images[indices], self.labels[indices])

    def batches(self, batch_size, device="cpu"):
        """Yield (float images in [0, 1], labels) on ``device``."""
        for start in range(0, len(self), batch_size):
            images = self.images[start : start + batch_size].to(device)
            yield images.float().div_(255), self.labels[start : start + batch_size].to(device)


class StreamedSplit:
    """A split decoded from image files batch by batch (for sets too big for memory)."""

    def __init__(self, files, labels, resize=None, crop=None, workers=2):
        self.files, self.labels = list(files), torch.as_tensor(labels, dtype=torch.int64)
        self.resize, self.crop, self.workers = resize, crop, workers

    def __len__(self):
        return len(self.labels)

    def subset(self, indices):
        indices = torch.as_tensor(indices).tolist()
        return StreamedSplit([self.files[i] for i in indices], self.labels[indices],
                             self.resize, self.crop, self.workers)

    def batches(self, batch_size, device="cpu"):
        from concurrent.futures import ThreadPoolExecutor

        def decode(path):
            return _decode_image(path, self.resize, self.crop)

        with ThreadPoolExecutor(self.workers) as pool:
            for start in range(0, len(self), batch_size):
                chunk = self.files[start : start + batch_size]
                images = torch.stack(list(pool.map(decode, chunk))).to(device)
                yield images.float().div_(255), self.labels[start : start + batch_size].to(device)


# --- sources -----------------------------------------------------------------


def load_digits(test_fraction=0.25, split_seed=0):
    """scikit-learn's digits, split train/test stratified by class with a seed."""
    if type(split_seed) is not int or not 0 <= split_seed <= MAX_SEED:
        raise UserError(f"digits split_seed must be an integer from 0 to {MAX_SEED}, got {split_seed!r}; fix "
                        f"datasets.<name>.split_seed")
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    check_digits_split(test_fraction, "datasets.<name>.test_fraction", len(bunch.target), len(bunch.target_names))
    images = np.rint(bunch.images * (255 / 16)).astype(np.uint8)[:, None]
    train_idx, test_idx = train_test_split(
        np.arange(len(images)), test_size=test_fraction, random_state=split_seed,
        stratify=bunch.target,
    )
    splits = {
        name: TensorSplit(torch.from_numpy(images[idx]), torch.from_numpy(bunch.target[idx]).long())
        for name, idx in (("train", np.sort(train_idx)), ("test", np.sort(test_idx)))
    }
    source_hash = hashlib.sha256(images.tobytes() + bunch.target.astype(np.int64).tobytes()).hexdigest()
    return splits, [str(c) for c in bunch.target_names], source_hash


def load_cifar10(root, download=False):
    """The official ``cifar-10-batches-py`` folder under ``root`` (see :mod:`repsub.cifar`)."""
    from . import cifar

    folder = Path(root) / cifar.FOLDER
    if download and not folder.is_dir():
        cifar.download(root)
    arrays, classes = cifar.read_folder(folder)
    splits = {name: TensorSplit(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels))
              for name, (images, labels) in arrays.items()}
    return splits, classes, cifar10_digest(root)


def cifar10_digest(root):
    """sha256 over the names and contents of the files in the CIFAR-10 folder."""
    from . import cifar

    folder = Path(root) / cifar.FOLDER
    return files_digest(folder, sorted(p for p in folder.iterdir() if p.is_file()))


def _decode_image(path, resize=None, crop=None):
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms import functional as F

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            if resize:
                image = F.resize(image, resize)
            if crop:
                if crop > min(image.size):  # center_crop would pad with black
                    raise UserError(f"image {path} is {image.size[0]}x{image.size[1]} pixels"
                                    + (" after resize" if resize else "") + f", smaller than the crop of {crop}; "
                                    f"set datasets.<name>.crop up to {min(image.size)}")
                image = F.center_crop(image, crop)
            return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)
    except (UnidentifiedImageError, OSError) as error:
        raise UserError(f"image {path} cannot be read ({error}); remove or replace it") from None


MAX_SIDE = 4096  # pixels of a resized or cropped image side (the schema says the same)


def list_image_folder(root, max_per_class=None):
    """Sorted class names and, per split, the (file, label) pairs of an image folder."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"image folder root {root} does not exist; set datasets.<name>.root to a "
                        f"folder that holds train/ and test/ (or val/) class folders")
    split_dirs = {"train": root / "train", "test": root / "test" if (root / "test").is_dir() else root / "val"}
    classes = None
    listing = {}
    for split, folder in split_dirs.items():
        if not folder.is_dir():
            raise UserError(f"image folder {root} has no {folder.name}/ folder; it needs train/ and "
                            f"test/ (or val/) folders of class folders")
        found = sorted(p.name for p in folder.iterdir() if p.is_dir())
        if not found:
            raise UserError(f"{folder} holds no class folders; put each class's images in a folder "
                            f"named after the class")
        if classes is None:
            if len(found) < 2:
                raise UserError(f"{folder} holds one class folder; selectivity compares classes, so give it at "
                                f"least two")
            classes = found
        elif found != classes:
            raise UserError(f"{folder} has classes {found} but train/ has {classes}; use the same "
                            f"class folders in every split")
        pairs = []
        for label, name in enumerate(classes):
            files = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise UserError(f"class folder {folder / name} holds no image files "
                                f"({', '.join(IMAGE_SUFFIXES)}); add images or remove the folder")
            pairs += [(f, label) for f in files[:max_per_class]]
        listing[split] = pairs
    for path in [*(split_dirs["train"] / name for name in classes), *(f for pairs in listing.values() for f, _ in pairs)]:
        try:
            path.name.encode("utf-8")
        except UnicodeEncodeError:  # a byte sequence that is no UTF-8 (Python keeps it as surrogates)
            raise UserError(f"image folder {root} holds a name that is not UTF-8 ({ascii(str(path))}); rename it, "
                            f"as names go into the manifest and the provenance") from None
    return classes, listing


def load_image_folder(root, resize=None, crop=None, max_per_class=None, in_memory=True, download=False, workers=2):
    for key, value, most in (("resize", resize, MAX_SIDE), ("crop", crop, MAX_SIDE), ("max_per_class", max_per_class,
                                                                                         MAX_COUNT)):
        if value is not None and (type(value) is not int or not 1 <= value <= most):
            raise UserError(f"imagefolder {key} must be an integer from 1 to {most} or null, got {value!r}; fix "
                            f"datasets.<name>.{key}")
    if type(in_memory) is not bool:
        raise UserError(f"imagefolder in_memory must be true or false, got {in_memory!r}; fix "
                        f"datasets.<name>.in_memory")
    classes, listing = list_image_folder(root, max_per_class)
    splits = {}
    for split, pairs in listing.items():
        files, labels = zip(*pairs)
        streamed = StreamedSplit(files, labels, resize, crop, workers)
        if in_memory:
            images = torch.cat([x for x, _ in streamed.batches(1024)]).mul_(255).round_().to(torch.uint8)
            splits[split] = TensorSplit(images, streamed.labels)
        else:
            splits[split] = streamed
    return splits, classes, image_folder_digest(root, listing, in_memory)


def image_folder_digest(root, listing, in_memory=True):
    """sha256 over the relative names and bytes of the listed files; for a streamed
    set over names and sizes (hashing ImageNet's bytes would take hours)."""
    digest = hashlib.sha256()
    for split, pairs in listing.items():
        for path, _ in pairs:
            name = f"{split}/{path.relative_to(root)}:"
            digest.update(name.encode() + path.read_bytes() if in_memory else f"{name}{path.stat().st_size}".encode())
    return digest.hexdigest()


def source_digest(source, options):
    """Recompute the ``source_sha256`` that ``prepare`` recorded, from the source as it is now."""
    if source == "digits":
        return load_digits(**options)[2]
    if source == "cifar10":
        return cifar10_digest(options["root"])
    _, listing = list_image_folder(options["root"], options.get("max_per_class"))
    return image_folder_digest(options["root"], listing, options.get("in_memory", True))


SOURCES = {"digits": load_digits, "cifar10": load_cifar10, "imagefolder": load_image_folder}
SOURCE_OPTIONS = {"digits": {"test_fraction", "split_seed"}, "cifar10": {"root", "download"},
                  "imagefolder": {"root", "download", "resize", "crop", "max_per_class", "in_memory"}}

# --- prepared data on disk -------------------------------------------------------


def channel_stats(split, batch_size=1024):
    """Per-channel mean and std of a split's pixels in [0, 1], in float64."""
    total, total_sq, count = 0.0, 0.0, 0
    for images, _ in split.batches(batch_size):
        x = images.double()
        total = total + x.sum(dim=(0, 2, 3))
        total_sq = total_sq + (x * x).sum(dim=(0, 2, 3))
        count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(1e-12).sqrt()
    return [round(v, 6) for v in mean.tolist()], [round(v, 6) for v in std.tolist()]


def prepare(spec: dict, out_dir, workers: int = 2) -> dict:
    """Load ``spec``'s source, write its splits and ``manifest.json`` into ``out_dir``
    (an image folder is decoded with ``workers`` threads)."""
    out_dir = Path(out_dir)
    source = spec.get("source")
    if source not in SOURCES:
        raise UserError(f"unknown data source {source!r} in the data set spec; use one of {', '.join(SOURCES)}")
    options = {k: v for k, v in spec.items() if k != "source"}
    unknown = sorted(set(options) - SOURCE_OPTIONS[source])
    if unknown:
        raise UserError(f"the {source} data set spec has unknown key(s) {', '.join(unknown)}; its keys are "
                        f"{', '.join(sorted(SOURCE_OPTIONS[source]))}")
    if source != "digits" and not isinstance(options.get("root"), str):
        raise UserError(f"the {source} data set spec needs a root folder (a string); set datasets.<name>.root")
    extra = {"workers": workers} if source == "imagefolder" else {}
    splits, classes, source_hash = SOURCES[source](**options, **extra)
    manifest = {
        "source": source,
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in options.items()},
        "classes": classes,
        "counts": {name: len(split) for name, split in splits.items()},
        "source_sha256": source_hash,
        "in_memory": isinstance(splits["train"], TensorSplit),
    }
    first, _ = next(splits["train"].batches(1))
    manifest["image_shape"] = list(first.shape[1:])
    manifest["mean"], manifest["std"] = channel_stats(splits["train"])
    if manifest["in_memory"]:
        manifest["split_sha256"] = {}
        for name, split in splits.items():
            path = split_path(out_dir / "manifest.json", name)
            save_torch(path, {"images": split.images, "labels": split.labels})
            manifest["split_sha256"][name] = sha256_file(path)
    write_json(out_dir / "manifest.json", manifest)
    return manifest


def load_split(manifest_path, split: str, workers: int = 2):
    """A prepared split (``train`` or ``test``) named by its manifest; a streamed one decodes
    images with ``workers`` threads (a job's CPU threads)."""
    manifest_path = Path(manifest_path)
    manifest = read_manifest(manifest_path)
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; use train or test")
    if manifest["in_memory"]:
        path = split_path(manifest_path, split)
        payload = path.read_bytes() if path.is_file() else None  # read once: hash, then load
        expected = manifest.get("split_sha256", {}).get(split)
        if payload is None or hashlib.sha256(payload).hexdigest() != expected:
            raise UserError(f"prepared split {path} is missing or changed since {manifest_path} was written; "
                            f"delete the manifest and run the prepare step again")
        return _checked_split(path, payload, manifest)
    options = manifest["options"]
    _, listing = list_image_folder(options["root"], options.get("max_per_class"))
    files, labels = zip(*listing[split])
    return StreamedSplit(files, labels, options.get("resize"), options.get("crop"), workers)


def _checked_split(path, payload, manifest):
    """The images and labels of a prepared split, as prepare writes them, or one sentence."""
    fix = "delete the manifest and run the prepare step again"
    try:
        data = torch.load(io.BytesIO(payload), weights_only=True)
    except Exception as error:  # the weights-only unpickler refuses code with many kinds of error
        raise UserError(f"prepared split {path} is not a tensor file ({type(error).__name__}); {fix}") from None
    images, labels = (data.get("images"), data.get("labels")) if isinstance(data, dict) else (None, None)
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor) \
            or images.dtype != torch.uint8 or tuple(images.shape[1:]) != tuple(manifest["image_shape"]) \
            or labels.dtype != torch.int64 or labels.shape != images.shape[:1] or not len(labels) \
            or labels.min() < 0 or labels.max() >= len(manifest["classes"]):
        raise UserError(f"prepared split {path} does not hold uint8 images of shape {manifest['image_shape']} and "
                        f"one label of the {len(manifest['classes'])} classes each; {fix}")
    return TensorSplit(images, labels)


def stratified_subset(split, max_images, seed=0):
    """At most ``max_images`` of ``split``, the same share of each class, chosen with ``seed``."""
    if max_images is None or max_images >= len(split):
        return split
    labels = split.labels.numpy()
    generator = np.random.default_rng(seed)
    share = max_images / len(labels)
    keep = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = max(1, int(round(share * len(members))))
        keep.append(generator.choice(members, size=min(count, len(members)), replace=False))
    return split.subset(torch.from_numpy(np.sort(np.concatenate(keep))))
