"""Atomic file writes and content hashes (no torch here: statistics steps use it too).

Every artifact is written to a temporary name beside its target and renamed
into place only once complete, so a killed job never leaves a file that looks
finished.
"""

import contextlib
import hashlib
import json
import os
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path; on success it is renamed to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path, data) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_csv(path, frame) -> None:
    """Write a DataFrame with a fixed float format, so reruns give identical bytes."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.9g", lineterminator="\n")


def save_npy(path, array) -> None:
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, array)


def save_figure(figure, *paths) -> None:
    for path in paths:
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=Path(path).suffix[1:], dpi=150, bbox_inches="tight")


def sha256_file(path, chunk=1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_json(path):
    return json.loads(Path(path).read_text())
