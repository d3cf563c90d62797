"""The official ``cifar-10-batches-py`` folder, read without trusting its pickles.

The batches are Python pickles, and unpickling runs whatever a file names, so
a tampered copy could run code. torchvision reads them with plain
``pickle.load`` (trusting them because their md5 sums match the official
archive); we accept re-packed copies too, so we read every file with an
unpickler that admits only the globals CIFAR-10's pickles name (numpy's array
reconstruction, ``ndarray`` and ``dtype``) and refuses everything else.
"""

import math
import pickle
from pathlib import Path

import numpy as np

from .errors import UserError

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
META = "batches.meta"
IMAGE_BYTES = 3 * 32 * 32
# Where the official archive lives (torchvision's address and checksum).
ARCHIVE_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"

MAX_BYTES = 1 << 30  # of one array in a batch file (the official ones hold 30 MB)


def _reconstruct(cls, shape, dtype):
    """numpy's array reconstruction, refusing a shape too big before anything is allocated."""
    dims = shape if isinstance(shape, tuple) else (shape,)
    if not all(isinstance(d, int) and 0 <= d for d in dims) or \
            math.prod(dims) * np.dtype(dtype).itemsize > MAX_BYTES:
        raise pickle.UnpicklingError(f"it asks for an array of shape {shape}, bigger than any CIFAR-10 batch")
    return np._core.multiarray._reconstruct(cls, shape, dtype)


# numpy 1.x pickles name numpy.core; numpy 2 renamed it numpy._core.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR-10 batch never does") from None


def read_pickle(path):
    """Unpickle ``path`` admitting only CIFAR-10's globals, or fail with one sentence."""
    try:
        with open(path, "rb") as handle:
            return _BatchUnpickler(handle, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, OverflowError, RecursionError) as error:
        raise UserError(f"CIFAR-10 file {path} is not a CIFAR-10 pickle ({error}); replace the folder "
                        f"with the official cifar-10-batches-py") from None


def _read_batch(path):
    batch = read_pickle(path)
    data = batch.get("data") if isinstance(batch, dict) else None
    labels = batch.get("labels") if isinstance(batch, dict) else None
    if (not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2
            or data.shape[1] != IMAGE_BYTES or not isinstance(labels, list) or len(labels) != len(data)
            or not all(type(label) is int for label in labels)):
        raise UserError(f"CIFAR-10 file {path} does not hold 'data' (N x 3072 uint8) and a list of N integer 'labels'; replace "
                        f"the folder with the official cifar-10-batches-py")
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise UserError(f"CIFAR-10 file {path} has labels outside 0-9; replace the folder with the official "
                        f"cifar-10-batches-py")
    return data.reshape(-1, 3, 32, 32), labels


def check_folder(folder):
    """Fail with one sentence unless ``folder`` holds every batch file and the meta file."""
    fix = f"either set download: true to fetch the official archive, or point root at the folder that holds {FOLDER}"
    if not Path(folder).is_dir():
        raise UserError(f"CIFAR-10 folder {folder} does not exist; {fix}")
    missing = [name for name in (*TRAIN_BATCHES, *TEST_BATCHES, META) if not (Path(folder) / name).is_file()]
    if missing:
        raise UserError(f"CIFAR-10 folder {folder} lacks {', '.join(missing)}; {fix}")


def read_folder(folder):
    """Images (N, 3, 32, 32) uint8 and labels per split, and the class names."""
    folder = Path(folder)
    check_folder(folder)
    splits = {}
    for split, names in (("train", TRAIN_BATCHES), ("test", TEST_BATCHES)):
        parts = [_read_batch(folder / name) for name in names]
        splits[split] = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    meta = read_pickle(folder / META)
    classes = meta.get("label_names") if isinstance(meta, dict) else None
    if not isinstance(classes, list) or len(classes) != 10 or not all(isinstance(c, str) for c in classes):
        raise UserError(f"CIFAR-10 file {folder / META} does not list 10 label_names; replace the folder with "
                        f"the official {FOLDER}")
    return splits, classes


def download(root):
    """Fetch and unpack the official archive into ``root`` (checked against its md5)."""
    from torchvision.datasets.utils import download_and_extract_archive

    try:
        download_and_extract_archive(ARCHIVE_URL, str(root), md5=ARCHIVE_MD5)
    except Exception as error:  # urllib and tarfile raise many kinds
        raise UserError(f"downloading CIFAR-10 into {root} failed ({type(error).__name__}: {error}); "
                        f"check the network, or set download: false and point root at a local copy") from None
