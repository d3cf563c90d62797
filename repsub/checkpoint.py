"""Checkpoints: a state dict plus the metadata that says what made it.

Files are always read with ``weights_only=True``: a checkpoint can never run code.
"""

import warnings
from pathlib import Path

import torch

from .errors import UserError
from .io import atomic_path
from .models import build_model


def save_torch(path, obj) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def save_checkpoint(path, model, meta):
    """Write the model's weights (on CPU) and ``meta`` atomically."""
    save_torch(path, {"state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, "meta": meta})


def load_state_dict_file(path):
    """Read a checkpoint-like file safely, or fail with one sentence."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist; train the model first or fix the path")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickles before refusing them
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise UserError(f"checkpoint {path} is truncated, corrupted or not a weights-only torch "
                        f"file ({type(error).__name__}); delete it and run training again") from None


def load_model(path, expect_model=None, expect_manifest_sha256=None):
    """Rebuild the model stored at ``path`` and check it is the one the caller expects."""
    checkpoint = load_state_dict_file(path)
    if not isinstance(checkpoint, dict) or "meta" not in checkpoint or "state_dict" not in checkpoint:
        raise UserError(f"{path} is not a repsub checkpoint (no meta/state_dict); train it with "
                        f"'python -m repsub train'")
    meta = checkpoint["meta"]
    if expect_model is not None and meta["model"] != expect_model:
        raise UserError(f"checkpoint {path} holds a {meta['model']!r} model, not {expect_model!r}; "
                        f"point to the checkpoint of the right model")
    if expect_manifest_sha256 is not None and meta["manifest_sha256"] != expect_manifest_sha256:
        raise UserError(f"checkpoint {path} was trained on other data than this manifest "
                        f"describes; retrain it on this data set")
    model = build_model(meta["model"], **meta["build"])
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        first = str(error).splitlines()[1].strip() if "\n" in str(error) else str(error)
        raise UserError(f"checkpoint {path} does not fit the {meta['model']} architecture "
                        f"({first}); retrain it") from None
    return model.eval(), meta
