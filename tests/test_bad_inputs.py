"""Every command against every missing, empty, malformed and wrong-shaped input file: exit
status 2, one sentence on stderr that names the file and says how to fix it, no output left
behind (in-process through the CLI's ``main``, so the matrix stays fast)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO
from repsub import layout
from repsub.cli import main

SEED = Path("digits/mlp/seed0")
AM = SEED / "base" / "fc1" / "am"
FILES = {
    "manifest": Path("digits/data/manifest.json"),
    "checkpoint": SEED / "checkpoint.pt",
    "metrics": SEED / "metrics.csv",
    "selectivity": SEED / "base" / "selectivity.csv",
    "rs": AM / "rs.csv",
    "images": AM / "images.npy",
    "ablation": SEED / "fc1" / "ablation.csv",
    "cumulative": SEED / "fc1" / "cumulative.csv",
    "units": Path("digits/mlp/base/units.csv"),
    "model_stats": Path("digits/mlp/base/stats.csv"),
    "study_stats": Path("digits/study/base/stats.csv"),
    "rs_steps": AM / "rs_steps.csv",
    "movement": AM / "movement.csv",
    "model_trajectory": Path("digits/mlp/base/trajectory.csv"),
    "study_trajectory": Path("digits/study/base/trajectory.csv"),
}


def command(name, results, out):
    """argv of ``name`` reading the study in ``results`` and writing only into ``out``."""
    f = {key: results / path for key, path in FILES.items()}
    data = ["--manifest", f["manifest"], "--device", "cpu"]
    model = [*data, "--checkpoint", f["checkpoint"]]
    study = ["--dataset", "digits", "--model", "mlp", "--seeds", "0", "--layers", "fc1", "--methods", "am",
             "--tables", *(t.path for t in layout.run_tables(results, "digits", "mlp", [0], ["fc1"], ["am"]))]
    return {
        "train": ["train", *data, "--model", "mlp", "--seed", "0", "--settings", '{"epochs": 1}',
                  "--checkpoint", out / "c.pt", "--metrics", out / "m.csv"],
        "selectivity": ["selectivity", *model, "--out", out / "s.csv"],
        "am": ["am", *model, "--layer", "fc1", "--methods", "am", "--settings", '{"steps": 1, "max_units_per_layer": 3}',
               "--out-dir", out],
        "ablate": ["ablate", *model, "--layer", "fc1", "--settings", '{"max_images": 30}', "--out", out / "a.csv"],
        "cumulative": ["cumulative", *model, "--layer", "fc1", "--settings", '{"max_images": 30, "fractions": [0, 1]}',
                       "--selectivity", f["selectivity"], "--rs", f["rs"], "--out", out / "c.csv"],
        "stats": ["stats", *study, "--architecture", "mlp", "--units", out / "u.csv", "--out", out / "s.csv",
                  "--trajectory", out / "t.csv"],
        "study-stats": ["study-stats", "--inputs", f["model_stats"], "--trajectories", f["model_trajectory"],
                        "--out", out / "s.csv", "--claims", out / "c.csv", "--trajectory", out / "t.csv"],
        "figures": ["figures", *study, "--units", f["units"], "--manifest", f["manifest"],
                    "--traces", f["rs"].parent / "trace.csv", "--out-dir", out],
        "study-figures": ["study-figures", "--stats", f["study_stats"], "--out", out / "f.png",
                          "--trajectory", f["study_trajectory"], "--trajectory-figure", out / "t.png"],
    }[name]


READS = {
    "train": ["manifest"],
    "selectivity": ["manifest", "checkpoint"],
    "am": ["manifest", "checkpoint"],
    "ablate": ["manifest", "checkpoint"],
    "cumulative": ["manifest", "checkpoint", "selectivity", "rs"],
    "stats": ["selectivity", "rs", "ablation", "rs_steps", "movement"],
    "study-stats": ["model_stats", "model_trajectory"],
    "figures": ["units", "cumulative", "metrics"],
    "study-figures": ["study_stats", "study_trajectory"],
}


def damage(path, how):
    """Damage ``path`` as a file from elsewhere would be: without the record that would have the
    step refuse it as changed before reading it (test_a_changed_or_unfinished_input_is_refused...)."""
    Path(str(path) + ".prov.json").unlink(missing_ok=True)
    if how == "missing":
        path.unlink()
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "malformed":
        path.write_bytes(b"\x00\x9f\x92garbage{,\n\x01")
    elif path.suffix == ".csv":  # wrong-shaped: a table, but not this one
        path.write_text("a,b\n1,2\n")
    elif path.suffix == ".json":
        path.write_text('{"source": "digits"}')
    elif path.suffix == ".pt":
        torch.save({"meta": {}, "state_dict": {}}, path)
    else:
        np.save(path, np.load(path).reshape(len(np.load(path)), -1))


CASES = [(step, key, how) for step, keys in READS.items() for key in keys
         for how in ("missing", "empty", "malformed", "wrong-shaped")]
CASES.append(("figures", "images", "wrong-shaped"))


PROGRESS = re.compile(r".*: \d+(/\d+ \(\d+%\))?, [\d.]+ s$|epoch \d+/\d+: ")


def error_lines(stderr):
    """stderr without progress lines (repsub.progress, a training epoch)."""
    return [line for line in stderr.splitlines() if line.strip() and not PROGRESS.match(line)]


def run(argv, capsys):
    status = main([str(a) for a in argv])
    lines = error_lines(capsys.readouterr().err)
    return status, lines


@pytest.mark.parametrize("step, key, how", CASES, ids=["-".join(case) for case in CASES])
def test_bad_input_gives_one_sentence_and_no_output(small_study, tmp_path, capsys, step, key, how):
    results = shutil.copytree(small_study, tmp_path / "results")
    out = tmp_path / "out"
    out.mkdir()
    damage(results / FILES[key], how)
    status, lines = run(command(step, results, out), capsys)
    assert status == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: ") and FILES[key].name in lines[0] and "; " in lines[0], lines[0]
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("argv, named", [
    (["prepare", "--spec", '{"source": "digits", "test_fraction": 2}'], "test_fraction"),
    (["prepare", "--spec", '{"source": "digits", "colour": true}'], "colour"),
    (["prepare", "--spec", '{"source": "imagefolder"}'], "root"),
])
def test_bad_data_set_spec_names_the_key(tmp_path, capsys, argv, named):
    status, lines = run([*argv, "--manifest", tmp_path / "out" / "manifest.json"], capsys)
    assert status == 2 and len(lines) == 1 and named in lines[0], lines
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag, value, named", [
    ("--settings", '{"stepz": 3}', "stepz"),
    ("--settings", '{"steps": "many"}', "am.steps"),
])
def test_bad_am_settings_name_the_key(small_study, tmp_path, capsys, flag, value, named):
    argv = command("am", small_study, tmp_path)
    argv[argv.index(flag) + 1] = value
    status, lines = run(argv, capsys)
    assert status == 2 and len(lines) == 1 and named in lines[0], lines
    assert list(tmp_path.iterdir()) == []


def test_unknown_training_setting_is_named(small_study, tmp_path, capsys):
    argv = command("train", small_study, tmp_path)
    argv[argv.index("--settings") + 1] = '{"epochz": 1}'
    status, lines = run(argv, capsys)
    assert status == 2 and len(lines) == 1 and "epochz" in lines[0], lines
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_one_sentence(small_study, tmp_path):
    """A file-size limit (SIGXFSZ ignored, so writes fail with EFBIG) stands in for a full disk:
    the checkpoint (20 MB) cannot be written, the in-progress records (1 kB) can."""
    import resource
    import signal

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    argv = command("train", small_study, tmp_path)
    result = subprocess.run([sys.executable, "-m", "repsub", *map(str, argv)], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, preexec_fn=limit)
    lines = error_lines(result.stderr)
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "cannot write" in lines[0] and "c.pt" in lines[0] and "free disk space" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_results_folder_is_one_sentence(small_study, tmp_path, capsys):
    blocker = tmp_path / "results"
    blocker.write_text("a file where the results folder should be")
    status, lines = run(command("selectivity", small_study, blocker / "out"), capsys)
    assert status == 2 and len(lines) == 1 and "cannot write" in lines[0] and "results/out" in lines[0], lines
    assert blocker.read_text().startswith("a file")


def test_a_read_only_results_folder_is_one_sentence(small_study, tmp_path, capsys):
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() == 0:  # root writes through permission bits: mount a read-only file system
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)]).returncode != 0:
            pytest.skip("running as root without the right to mount a read-only file system")
    else:
        folder.chmod(0o555)
    try:
        status, lines = run(command("selectivity", small_study, folder), capsys)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(folder)])
    assert status == 2 and len(lines) == 1 and "cannot write" in lines[0] and "read-only" in lines[0], lines


def test_unknown_pretrained_weights_are_named_before_any_download(tmp_path, capsys):
    status, lines = run(["download-weights", "--weights", "IMAGENET9K", "--out", tmp_path / "w.pt"], capsys)
    assert status == 2 and len(lines) == 1 and "unknown VGG16 weights 'IMAGENET9K'" in lines[0], lines
    assert list(tmp_path.iterdir()) == []


def test_download_of_a_present_cifar10_folder_lists_its_files(tmp_path, capsys):
    """The download step fetches nothing when the folder is there (so it is tested offline)."""
    from conftest import write_cifar_batches
    from repsub.io import read_json

    folder = write_cifar_batches(tmp_path / "cifar")
    status, _ = run(["download-cifar10", "--root", tmp_path / "cifar", "--out", tmp_path / "d.json"], capsys)
    listed = read_json(tmp_path / "d.json")["files"]
    assert status == 0 and sorted(listed) == sorted(p.name for p in folder.iterdir())


def test_an_input_replaced_while_the_step_runs_fails_the_step(small_study, tmp_path, capsys, monkeypatch):
    """The checkpoint is rewritten while selectivity reads it: the step cannot say which
    version its table came from, so it fails with one sentence and leaves nothing."""
    from repsub import commands

    results = shutil.copytree(small_study, tmp_path / "results")
    out = tmp_path / "out"
    out.mkdir()
    checkpoint = results / FILES["checkpoint"]
    real = commands.selectivity_command

    def replaced_meanwhile(args):
        real(args)
        checkpoint.write_bytes(checkpoint.read_bytes() + b"\0")

    monkeypatch.setattr(commands, "selectivity_command", replaced_meanwhile)  # main() builds its parser anew
    status, lines = run(command("selectivity", results, out), capsys)
    assert status == 2 and len(lines) == 1 and "changed while the step 'selectivity' ran" in lines[0], lines
    assert list(out.iterdir()) == []


def test_an_output_on_an_input_or_two_outputs_on_one_path_are_refused_before_anything_runs(small_study, tmp_path,
                                                                                          capsys):
    results = shutil.copytree(small_study, tmp_path / "results")
    checkpoint = results / FILES["checkpoint"]
    before = checkpoint.read_bytes()
    argv = command("selectivity", results, tmp_path)
    argv[argv.index("--out") + 1] = checkpoint
    status, lines = run(argv, capsys)
    assert status == 2 and len(lines) == 1 and "is both an input and an output" in lines[0], lines
    assert checkpoint.read_bytes() == before and (results / "digits/mlp/seed0/checkpoint.pt.prov.json").is_file()
    argv = command("stats", results, tmp_path)
    argv[argv.index("--out") + 1] = argv[argv.index("--units") + 1]
    status, lines = run(argv, capsys)
    assert status == 2 and len(lines) == 1 and "name the same file" in lines[0], lines
    assert list(tmp_path.glob("*.csv")) == []


def test_a_wrong_setting_in_a_hand_rerun_keeps_the_previous_outputs(small_study, tmp_path, capsys):
    """The previous, complete ablation table and its record survive a rerun with a typo."""
    results = shutil.copytree(small_study, tmp_path / "results")
    table = results / FILES["ablation"]
    before = table.read_bytes()
    argv = command("ablate", results, tmp_path)
    argv[argv.index("--out") + 1] = table
    argv[argv.index("--settings") + 1] = '{"max_imagez": 30}'
    status, lines = run(argv, capsys)
    assert status == 2 and len(lines) == 1 and "max_imagez" in lines[0], lines
    assert table.read_bytes() == before and json.loads(Path(f"{table}.prov.json").read_text())["status"] == "complete"


@pytest.mark.parametrize("how", ["changed", "unfinished", "malformed record"])
def test_a_changed_or_unfinished_input_is_refused_before_it_is_read(small_study, tmp_path, capsys, how):
    """A file the workflow made carries a record: a step refuses it, in one sentence, where the
    record says its step never finished or names other bytes (a hand-run step killed midway,
    a file edited since), before reading it, and a summary step likewise for the tables it finds."""
    results = shutil.copytree(small_study, tmp_path / "results")
    out = tmp_path / "out"
    out.mkdir()
    rs = results / FILES["rs"]
    record = Path(str(rs) + ".prov.json")
    if how == "changed":
        rs.write_text(rs.read_text().replace("unit,", "unit,", 1) + "\n")
    elif how == "unfinished":
        record.write_text(json.dumps({**json.loads(record.read_text()), "status": "in_progress"}))
    else:
        record.write_text("{not json")
    expected = {"changed": "changed since its step 'am' made it", "unfinished": "is unfinished: its step 'am'",
                "malformed record": "is malformed"}[how]
    for step in ("cumulative", "stats"):  # an argument, and one of the tables given
        status, lines = run(command(step, results, out), capsys)
        assert status == 2 and len(lines) == 1 and expected in lines[0] and "rs.csv" in lines[0], lines
        assert list(out.iterdir()) == []
