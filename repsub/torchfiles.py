"""Reading and writing torch files safely, apart from the models (so that
preparing data does not import them).

Files are always read with ``weights_only=True``: a file can never run code.
"""

import json
import warnings
from pathlib import Path

import torch

from .errors import UserError
from .io import atomic_path


def save_torch(path, obj) -> None:
    with atomic_path(path) as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError as error:  # torch reports a full disk as "unexpected pos ..."
            raise OSError(0, f"torch could not write the file: {str(error).splitlines()[0]}") from None


def load_torch_file(path, what="checkpoint", fix="delete it and run training again"):
    """Read a weights-only torch file, or fail with one sentence."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} {path} does not exist; train the model first or fix the path")
    if _is_json(path):
        raise UserError(f"{what} {path} is a JSON file (a manifest or a record?), not a torch file; pass the "
                        f".pt file the workflow wrote")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickles before refusing them
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a damaged or foreign file
        raise UserError(f"{what} {path} is truncated, corrupted or not a weights-only torch "
                        f"file ({type(error).__name__}); {fix}") from None


def _is_json(path: Path) -> bool:
    """Whether the file parses as JSON: one damaged file in 128 begins with a brace or a
    bracket by chance, and it must be reported as damaged, not as a manifest."""
    with open(path, "rb") as handle:
        if handle.read(1) not in (b"{", b"["):
            return False
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except ValueError:  # also a UnicodeDecodeError
        return False
    return True
