"""The data manifest that ``prepare`` writes, read back and checked (torch-free, so the
summary steps can read it in their lighter environment)."""

import math
from pathlib import Path

from .errors import UserError
from .io import read_json
from .layout import SPLITS

MANIFEST_KEYS = {"source": str, "options": dict, "classes": list, "counts": dict, "source_sha256": str,
                 "in_memory": bool, "image_shape": list, "mean": list, "std": list}


def read_manifest(path) -> dict:
    """A manifest written by ``prepare``, or one sentence saying what is wrong with the file."""
    path = Path(path)
    fix = "delete it and run the prepare step (or the workflow) again"
    if not path.is_file():
        raise UserError(f"data manifest {path} does not exist; run the prepare step (or the workflow) first")
    try:
        manifest = read_json(path)
    except (ValueError, UnicodeDecodeError) as error:
        raise UserError(f"data manifest {path} is not valid JSON ({error}); {fix}") from None
    if not isinstance(manifest, dict):
        raise UserError(f"data manifest {path} is not a JSON object; {fix}")
    bad = [key for key, kind in MANIFEST_KEYS.items() if not isinstance(manifest.get(key), kind)]
    bad = bad or [key for key, good in MANIFEST_VALUES.items() if not good(manifest)]
    if bad:
        raise UserError(f"data manifest {path} lacks or garbles {', '.join(bad)}; {fix}")
    return manifest


def _positive_ints(values, count):
    return len(values) == count and all(type(v) is int and 0 < v <= 1 << 16 for v in values)


def _per_channel(manifest, key, low):
    values, shape = manifest[key], manifest["image_shape"]
    return len(values) == shape[0] and all(
        type(v) in (int, float) and math.isfinite(v) and v >= low for v in values) and (key != "std" or min(values) > 0)


# What each manifest value must be beyond its type (prepare writes nothing else), checked in order.
MANIFEST_VALUES = {
    "image_shape": lambda m: _positive_ints(m["image_shape"], 3),
    "classes": lambda m: len(m["classes"]) >= 2 and all(isinstance(c, str) for c in m["classes"])
    and len(set(m["classes"])) == len(m["classes"]),
    "mean": lambda m: _per_channel(m, "mean", 0),
    "std": lambda m: _per_channel(m, "std", 0),
    "split_sha256": lambda m: not m["in_memory"] or (isinstance(m.get("split_sha256"), dict) and all(
        isinstance(m["split_sha256"].get(split), str) for split in SPLITS)),
}
