"""Checkpoints: a state dict plus the metadata that says what made it.

Read through :func:`repsub.torchfiles.load_torch_file`, so a checkpoint can never run code.
"""

from pathlib import Path

import torch

from .errors import UserError
from .nets.names import build_model
from .torchfiles import load_torch_file, save_torch

META_KEYS = {"model": str, "build": dict, "manifest_sha256": str}


def save_checkpoint(path, model, meta):
    """Write the model's weights (on CPU) and ``meta`` atomically."""
    save_torch(path, {"state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, "meta": meta})


def load_model(path, expect_model=None, expect_manifest_sha256=None):
    """Rebuild the model stored at ``path`` and check it is the one the caller expects."""
    checkpoint = load_torch_file(path)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("meta"), dict) \
            or not isinstance(checkpoint.get("state_dict"), dict):
        raise UserError(f"{path} is not a repsub checkpoint (no meta/state_dict); train it with "
                        f"'python -m repsub train'")
    meta = checkpoint["meta"]
    bad = [key for key, kind in META_KEYS.items() if not isinstance(meta.get(key), kind)]
    if bad:
        raise UserError(f"checkpoint {path} lacks the metadata {', '.join(bad)}; train it again with "
                        f"'python -m repsub train'")
    if expect_model is not None and meta["model"] != expect_model:
        raise UserError(f"checkpoint {path} holds a {meta['model']!r} model, not {expect_model!r}; "
                        f"point to the checkpoint of the right model")
    if expect_manifest_sha256 is not None and meta["manifest_sha256"] != expect_manifest_sha256:
        raise UserError(f"checkpoint {path} was trained on other data than this manifest "
                        f"describes; retrain it on this data set")
    _check_factory(path, meta)
    try:
        with torch.device("meta"):  # no random initialisation to throw away (1.9 s for VGG16)
            model = build_model(meta["model"], **meta["build"])
    except TypeError as error:
        raise UserError(f"checkpoint {path} has build settings its model does not take ({error}); "
                        f"train it again with 'python -m repsub train'") from None
    try:
        model.load_state_dict(checkpoint["state_dict"], assign=True)
    except RuntimeError as error:
        first = str(error).splitlines()[1].strip() if "\n" in str(error) else str(error)
        raise UserError(f"checkpoint {path} does not fit the {meta['model']} architecture "
                        f"({first}); retrain it") from None
    return model.eval(), meta


def _check_factory(path, meta):
    """A checkpoint of a user's model is rebuilt by its factory: refuse code that changed since."""
    from .io import sha256_file

    factory = meta.get("factory", {})
    if not isinstance(factory, dict):
        raise UserError(f"checkpoint {path} has malformed factory metadata; make it again with the workflow")
    for file, digest in factory.items():
        if not Path(file).is_file() or sha256_file(file) != digest:
            raise UserError(f"checkpoint {path} was made with the model code in {file} as it was then, and that "
                            f"file changed or is gone; rerun the workflow, which makes the checkpoint again")
