"""Atomic file writes, content hashes and checked reads (no torch here: statistics
steps use it too).

Every artifact is written to a temporary name beside its target and renamed
into place only once complete, so a killed job never leaves a file that looks
finished. Every table or array a step reads is checked for the columns or
shape it needs, so a missing, empty or foreign file ends the step with one
sentence that names it, not with a traceback deep inside pandas or numpy.
"""

import contextlib
import hashlib
import json
import os
from pathlib import Path

from .errors import UserError


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path; on success it is renamed to ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except OSError as error:
        raise UserError(f"cannot write {path} ({error.strerror or error}); free disk space, make the folder "
                        f"writable or choose another results folder") from None
    finally:
        with contextlib.suppress(OSError):
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
    """PNG or PDF by suffix; the PDF without a creation date, so reruns give identical bytes."""
    for path in paths:
        kind = Path(path).suffix[1:]
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=kind, dpi=150, bbox_inches="tight",
                           metadata={"CreationDate": None} if kind == "pdf" else None)


def sha256_file(path, chunk=1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def files_digest(root, files) -> str:
    """sha256 over each file's name (relative to ``root``) and sha256, in the order given."""
    named = "".join(f"{Path(p).relative_to(root).as_posix()}:{sha256_file(p)}" for p in files)
    return hashlib.sha256(named.encode()).hexdigest()


def read_json(path):
    return json.loads(Path(path).read_text())


def _rerun(path, made_by):
    return f"delete it and rerun the workflow (or 'python -m repsub {made_by}') to make it again"


def read_table(path, columns, made_by):
    """A CSV table with at least ``columns`` and one row, or one sentence saying what is wrong."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; run the workflow (or 'python -m repsub {made_by}') to make it")
    try:
        table = pd.read_csv(path, dtype={column: str for column in TEXT_COLUMNS})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as error:
        raise UserError(f"{path} is empty or not a CSV table ({type(error).__name__}); {_rerun(path, made_by)}") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise UserError(f"{path} lacks the column(s) {', '.join(missing)}, so 'repsub {made_by}' did not write it; "
                        f"{_rerun(path, made_by)}")
    if table.empty:
        raise UserError(f"{path} has no rows; {_rerun(path, made_by)}")
    text = [c for c in columns if c in NUMERIC_COLUMNS and not (
        pd.api.types.is_numeric_dtype(table[c]) or pd.api.types.is_bool_dtype(table[c]))]
    if text:
        raise UserError(f"{path} holds text in the numeric column {text[0]}; {_rerun(path, made_by)}")
    return table


# Columns read as text whatever they hold: a seed ("0", "pooled"), a flag ("true", "false",
# "unknown") and names (a layer "1" of an nn.Sequential, a model) written back unchanged
# rather than as 0.0, True or 1.
TEXT_COLUMNS = ("seed", "batch_norm", "layer", "model", "variant", "dataset", "claim")

# Columns that hold numbers wherever a step reads them (an empty cell reads as NaN, still a number).
NUMERIC_COLUMNS = {"unit", "rs", "selectivity", "mean_activation", "weight_norm", "accuracy_drop", "loss_increase",
                   "max_class_accuracy_drop", "step", "objective", "fraction", "accuracy", "epoch", "test_loss",
                   "test_accuracy", "value", "n", "ci_low", "ci_high", "p", "repeat", "depth"}


def load_npy(path, made_by, ndim):
    """A numeric .npy array of ``ndim`` dimensions (never a pickle), or one sentence."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; run the workflow (or 'python -m repsub {made_by}') to make it")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise UserError(f"{path} is not a numeric .npy array ({error}); {_rerun(path, made_by)}") from None
    if array.ndim != ndim or array.size == 0:
        raise UserError(f"{path} has shape {array.shape}, not the {ndim}-dimensional array 'repsub {made_by}' "
                        f"writes; {_rerun(path, made_by)}")
    return array
