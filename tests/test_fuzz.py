"""Generated corruptions of every kind of input a step reads: the step either succeeds or
ends with exit status 2 and one sentence, leaves no output behind, and never raises
(a traceback). In-process through the CLI's ``main``, on the small study's files, each
restored after its example; the corpus is seed-fixed (``derandomize``), so CI runs the
same examples every time. REPSUB_FUZZ_EXAMPLES=2000 runs a longer search on demand."""

import contextlib
import io
import json
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import write_cifar_batches
from repsub.cli import main
from repsub.errors import UserError
from repsub.settings import AblationSettings, AMSettings, TrainSettings
from test_bad_inputs import FILES, command, error_lines

EXAMPLES = int(os.environ.get("REPSUB_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

scalars = (st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.sampled_from([2**64, -1, 0, 1, 3])
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=6))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


@pytest.fixture(scope="module")
def cifar_folder(tmp_path_factory):
    return write_cifar_batches(tmp_path_factory.mktemp("cifar"), n_per_batch=4)


@contextlib.contextmanager
def corrupted(path, data: bytes):
    """``path`` holds ``data`` for the duration, then its own bytes again; its record is away
    meanwhile, so that the step reads the bytes rather than refusing a file changed since it
    was made (tests/test_bad_inputs.py)."""
    original, record = path.read_bytes(), Path(str(path) + ".prov.json")
    kept = record.read_bytes() if record.is_file() else None
    record.unlink(missing_ok=True)
    path.write_bytes(data)
    try:
        yield
    finally:
        path.write_bytes(original)
        if kept is not None:
            record.write_bytes(kept)


def outcome(argv_of):
    """Run the step (``argv_of(out)``) into a fresh folder: success, or exit 2 with one
    sentence and nothing left. A raised exception fails the example as it is."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out"
        out.mkdir()
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = main([str(a) for a in argv_of(out)])
        lines = error_lines(err.getvalue())
        if status != 0:
            assert status == 2 and len(lines) == 1 and lines[0].startswith("error: "), (status, lines)
            assert list(out.iterdir()) == [], list(out.iterdir())
        return status


@FUZZ
@given(key=st.sampled_from(["source", "options", "classes", "counts", "source_sha256", "in_memory", "image_shape",
                            "mean", "std", "split_sha256"]), value=json_values)
def test_a_manifest_field_with_any_value(small_study, key, value):
    path = small_study / FILES["manifest"]
    manifest = json.loads(path.read_text())
    with corrupted(path, json.dumps({**manifest, key: value}).encode()):
        outcome(lambda out: command("selectivity", small_study, out))


CSV_FILES = {"selectivity": ["layer", "kind", "unit", "selectivity", "mean_activation", "dead"],
             "rs": ["unit", "rs"], "ablation": ["unit", "accuracy_drop", "max_drop_class"], "movement": ["unit", "moved"]}


@FUZZ
@given(key=st.sampled_from(sorted(CSV_FILES)), data=st.data())
def test_a_table_with_rows_cut_cells_changed_or_a_column_lost(small_study, key, data):
    path = small_study / FILES[key]
    table = pd.read_csv(path)
    how = data.draw(st.sampled_from(["rows", "cell", "column", "duplicate"]))
    if how == "rows":
        table = table.iloc[: data.draw(st.integers(0, len(table)))]
    elif how == "cell":
        column = data.draw(st.sampled_from(CSV_FILES[key]))
        row = data.draw(st.integers(0, len(table) - 1))
        table[column] = table[column].astype(object)
        table.loc[row, column] = data.draw(scalars)
    elif how == "column":
        table = table.drop(columns=data.draw(st.sampled_from(CSV_FILES[key])))
    else:
        table = pd.concat([table, table.iloc[[data.draw(st.integers(0, len(table) - 1))]]])
    with corrupted(path, table.to_csv(index=False).encode()):
        outcome(lambda out: command("stats", small_study, out))


dtypes = st.sampled_from([np.uint8, np.int64, np.float32, np.float64, np.bool_, np.complex64])


@FUZZ
@given(key=st.sampled_from(["images", "units", "substitution"]),
       shape=st.lists(st.integers(0, 9), min_size=0, max_size=4), dtype=dtypes,
       fill=st.sampled_from([0.0, 0.5, 1.0, -3.0, 7.0, np.nan, np.inf]))
def test_an_am_array_of_any_shape_dtype_and_values(small_study, key, shape, dtype, fill):
    path = small_study / FILES["images"].parent / f"{key}.npy"
    buffer = io.BytesIO()
    with np.errstate(invalid="ignore"):
        np.save(buffer, np.full(shape, fill).astype(dtype))
    with corrupted(path, buffer.getvalue()):
        outcome(lambda out: command("figures", small_study, out))


@FUZZ
@given(key=st.sampled_from(["model", "build", "manifest_sha256", "factory", "seed", "extra"]), value=json_values,
       drop=st.booleans())
def test_checkpoint_metadata_with_any_value(small_study, key, value, drop):
    path = small_study / FILES["checkpoint"]
    checkpoint = torch.load(path, weights_only=True)
    meta = {k: v for k, v in checkpoint["meta"].items() if not (drop and k == key)}
    if not drop:
        meta[key] = value
    buffer = io.BytesIO()
    torch.save({**checkpoint, "meta": meta}, buffer)
    with corrupted(path, buffer.getvalue()):
        outcome(lambda out: command("selectivity", small_study, out))


@FUZZ
@given(kind=st.sampled_from([TrainSettings, AMSettings, AblationSettings]), data=st.data())
def test_settings_with_any_values_are_taken_or_refused_in_one_sentence(kind, data):
    names = [*kind().as_dict(), "unknown"]
    values = data.draw(st.dictionaries(st.sampled_from(names), json_values, max_size=3))
    try:
        kind.from_dict(values)
    except UserError as error:
        assert "\n" not in str(error) and ("unknown" in str(error) or "must be" in str(error)), str(error)


@FUZZ
@given(field=st.sampled_from(["data", "labels"]), value=json_values | st.builds(
    lambda shape, dtype: np.zeros(shape, dtype), st.sampled_from([(0,), (4,), (4, 3072), (4, 3071), (4, 3, 1024),
                                                                  (5, 3072), (0, 3072)]), dtypes))
def test_a_cifar_batch_field_with_any_value(cifar_folder, field, value):
    path = cifar_folder / "test_batch"
    with open(path, "rb") as handle:
        batch = pickle.load(handle)
    try:
        data = pickle.dumps({**batch, field: value})
    except (pickle.PicklingError, TypeError, ValueError, OverflowError, RecursionError):
        return  # a value pickle cannot write is no file anyone could hand the step
    with corrupted(path, data):
        outcome(lambda out: ["prepare", "--spec", json.dumps({"source": "cifar10", "root": str(cifar_folder.parent)}),
                             "--manifest", out / "data" / "manifest.json"])


def test_the_corpus_finds_no_traceback_where_a_probe_once_did(small_study, cifar_folder):
    """Examples that once ended in a traceback, pinned: a manifest's garbled shape, a cut
    rs.csv, 5-channel images, labels that are a string, and a pickle asking for a 1 PiB array."""
    manifest = small_study / FILES["manifest"]
    garbled = {**json.loads(manifest.read_text()), "image_shape": [1, "x", 8]}
    with corrupted(manifest, json.dumps(garbled).encode()):
        assert outcome(lambda out: command("selectivity", small_study, out)) == 2
    rs = small_study / FILES["rs"]
    with corrupted(rs, "\n".join(rs.read_text().splitlines()[:3]).encode() + b"\n"):
        assert outcome(lambda out: command("stats", small_study, out)) == 2
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((6, 5, 8, 8), np.float32))
    with corrupted(small_study / FILES["images"], buffer.getvalue()):
        assert outcome(lambda out: command("figures", small_study, out)) == 2
    batch = cifar_folder / "test_batch"
    prepare = ["prepare", "--spec", json.dumps({"source": "cifar10", "root": str(cifar_folder.parent)})]

    class Huge:
        def __reduce__(self):
            return np._core.multiarray._reconstruct, (np.ndarray, (1 << 50,), b"b")

    for payload in ({"data": np.zeros((2, 3072), np.uint8), "labels": "ab"}, {"data": Huge(), "labels": [1]}):
        with corrupted(batch, pickle.dumps(payload, protocol=4)):
            assert outcome(lambda out: [*prepare, "--manifest", out / "m.json"]) == 2


BAD_VALUES = [None, [], [None], [["scale"]], [[0, 1]], {"a": [1]}, "x", "", -1, 0, 2 ** 40, 1e300, float("nan"),
              True, 0.5, {}]


@pytest.mark.parametrize("kind", [TrainSettings, AMSettings, AblationSettings])
def test_every_setting_with_every_kind_of_wrong_value_is_taken_or_one_sentence(kind):
    """Every key of every stage, each with nulls, nested lists, mappings, text, booleans and
    numbers out of range: taken, or refused with one sentence naming the key; no traceback."""
    for name in kind().as_dict():
        for value in BAD_VALUES:
            try:
                kind.from_dict({name: value})
            except UserError as error:
                assert "\n" not in str(error) and f"{kind.STAGE}.{name}" in str(error), (name, value, str(error))
