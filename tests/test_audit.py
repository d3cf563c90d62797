"""audit: exit 0 only when the whole chain back to the data source checks out."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_step, write_image_folder
from repsub.provenance import package_digest

AM = "digits/mlp/seed0/base/fc1/am"


def audit(path, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "repsub", "audit", str(path)], capture_output=True, text=True,
                          env=env, cwd=cwd)


def error_line(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture
def study(small_study, tmp_path):
    """A private copy of the small study: moving it also shows records do not depend on its place."""
    return shutil.copytree(small_study, tmp_path / "results")


@pytest.mark.parametrize("spelling", ["relative", "dot-relative", "absolute", "from inside"])
def test_an_unchanged_file_audits_ok_however_it_is_named(study, spelling):
    target = study / "digits" / "study" / "base" / "stats.csv"
    path, cwd = {"relative": ("results/digits/study/base/stats.csv", study.parent),
                 "dot-relative": ("./results/digits/study/base/stats.csv", study.parent),
                 "absolute": (target, None),
                 "from inside": ("stats.csv", target.parent)}[spelling]
    result = audit(path, cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "source digits at scikit-learn's digits: ok" in result.stdout
    assert "checkpoint.pt: ok" in result.stdout and "train.pt: ok" in result.stdout
    assert f"repsub {package_digest()[:12]}" in result.stdout


def test_a_changed_file_is_reported(study):
    rs = study / AM / "rs.csv"
    rs.write_text(rs.read_text() + "\n")
    result = audit(rs)
    assert "rs.csv: CHANGED since it was made" in result.stdout
    assert "changed, lost its record or never finished" in error_line(result)


def test_a_missing_file_is_an_error(study):
    assert "does not exist" in error_line(audit(study / "digits" / "nonexistent.csv"))


def test_a_deleted_record_fails_the_file_and_everything_made_from_it(study):
    (study / "digits" / "mlp" / "seed0" / "checkpoint.pt.prov.json").unlink()
    for target in (study / "digits" / "mlp" / "seed0" / "checkpoint.pt", study / AM / "rs.csv"):
        result = audit(target)
        assert "checkpoint.pt: NO RECORD" in result.stdout
        error_line(result)


def test_a_malformed_record_is_reported_not_a_traceback(study):
    (study / AM / "rs.csv.prov.json").write_text("{not json")
    result = audit(study / AM / "rs.csv")
    assert "MALFORMED RECORD" in result.stdout
    error_line(result)


@pytest.mark.parametrize("field, value", [("code", "abc"), ("inputs", ["a"]), ("outputs", {"rs.csv": 1}),
                                          ("command", 7)])
def test_a_record_with_the_wrong_kinds_of_values_is_malformed_not_a_traceback(study, field, value):
    record_file = study / AM / "rs.csv.prov.json"
    record = json.loads(record_file.read_text())
    record[field] = value
    record_file.write_text(json.dumps(record))
    result = audit(study / AM / "rs.csv")
    assert "MALFORMED RECORD" in result.stdout and "Traceback" not in result.stderr
    error_line(result)


def test_a_stale_input_is_caught_in_every_record_that_names_it(study):
    """Retrain, rerun selectivity and cumulative by hand: cumulative's inputs all match its own
    record, but the RS table it read was made from the old checkpoint."""
    seed = study / "digits" / "mlp" / "seed0"
    manifest = study / "digits" / "data" / "manifest.json"
    run_step("train", "--manifest", manifest, "--model", "mlp", "--seed", 1, "--settings", '{"epochs": 1}',
             "--checkpoint", seed / "checkpoint.pt", "--metrics", seed / "metrics.csv", "--device", "cpu")
    common = ["--manifest", manifest, "--checkpoint", seed / "checkpoint.pt", "--device", "cpu"]
    run_step("selectivity", *common, "--out", seed / "base" / "selectivity.csv")
    run_step("cumulative", *common, "--layer", "fc1", "--settings", '{"max_images": 60, "fractions": [0, 1]}',
             "--selectivity", seed / "base" / "selectivity.csv", "--rs", study / AM / "rs.csv",
             "--out", seed / "fc1" / "cumulative.csv")
    assert audit(seed / "base" / "selectivity.csv").returncode == 0
    result = audit(seed / "fc1" / "cumulative.csv")
    assert "checkpoint.pt: input CHANGED since rs.csv was made from it" in result.stdout
    error_line(result)


def test_a_changed_split_fails_the_files_made_from_it(study):
    split = study / "digits" / "data" / "train.pt"
    split.write_bytes(split.read_bytes() + b"\0")
    result = audit(study / "digits" / "mlp" / "seed0" / "checkpoint.pt")
    assert "train.pt: input CHANGED" in result.stdout
    error_line(result)


def test_outputs_of_a_killed_step_audit_as_incomplete(study):
    """The am step dies (SIGKILL) right after writing rs.csv, before its contact sheet."""
    seed = study / "digits" / "mlp" / "seed0"
    argv = ["am", "--checkpoint", seed / "checkpoint.pt", "--manifest", study / "digits/data/manifest.json",
            "--layer", "fc1", "--methods", "am", "--settings", '{"steps": 2, "max_units_per_layer": 6}', "--device", "cpu",
            "--out-dir", (study / AM).parent]
    killer = ("import os, signal, sys; import repsub.sheets as sheets; "
              "sheets.contact_sheet = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL); "
              "from repsub.cli import main; main(sys.argv[1:])")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    killed = subprocess.run([sys.executable, "-c", killer, *map(str, argv)], env=env, capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    for name in ("rs.csv", "images.npy"):
        result = audit(study / AM / name)
        assert "INCOMPLETE (its step 'am' started" in result.stdout
        error_line(result)


def test_a_changed_data_source_fails_the_chain(tmp_path):
    root = write_image_folder(tmp_path / "images")
    manifest = tmp_path / "results" / "data" / "manifest.json"
    run_step("prepare", "--spec", json.dumps({"source": "imagefolder", "root": str(root)}), "--manifest", manifest)
    assert audit(manifest).returncode == 0
    image = next((root / "train" / "cat").iterdir())
    image.write_bytes(image.read_bytes() + b"\0")
    result = audit(manifest)
    assert f"source imagefolder at {root}: CHANGED since it was prepared" in result.stdout
    error_line(result)


def test_a_relative_data_root_is_read_from_the_folder_prepare_ran_in(tmp_path, monkeypatch):
    """prepare ran in tmp_path with root: images; audited from elsewhere, the source check
    reads tmp_path/images, not ./images of the auditor."""
    write_image_folder(tmp_path / "images")
    monkeypatch.chdir(tmp_path)
    manifest = tmp_path / "results" / "data" / "manifest.json"
    run_step("prepare", "--spec", json.dumps({"source": "imagefolder", "root": "images"}), "--manifest", manifest)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = audit(manifest, cwd=elsewhere)
    assert result.returncode == 0 and f"source imagefolder at {tmp_path / 'images'}: ok" in result.stdout, result.stdout


def test_records_name_the_code_where_the_tree_is_no_git_checkout(tmp_path):
    """A copied tree has no commit; its records still name the code, by a digest that any byte changes."""
    shutil.copytree(REPO / "repsub", tmp_path / "repsub", ignore=shutil.ignore_patterns("__pycache__"))

    def code_version():
        result = subprocess.run([sys.executable, "-c", "import json; from repsub.provenance import code_version; "
                                 "print(json.dumps(code_version()))"], capture_output=True, text=True, check=True,
                                env={**os.environ, "PYTHONPATH": str(tmp_path),
                                     "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)}, cwd=tmp_path)
        return json.loads(result.stdout)

    copied = code_version()
    assert copied["git_commit"] is None and copied["repsub_sha256"] == package_digest()
    with open(tmp_path / "repsub" / "stats.py", "a") as source:
        source.write("# one changed line\n")
    assert code_version()["repsub_sha256"] != package_digest()


PROVENANCE_RUN_CRATE = "https://w3id.org/ro/wfrun/provenance/0.5"


def test_the_chain_exports_as_a_provenance_run_crate(study, tmp_path):
    """Read back with rocrate: the entities the Provenance Run Crate profile requires (a
    ComputationalWorkflow that is also a HowTo, with its tools as hasPart and its steps as
    step; a HowToStep per step with workExample; a CreateAction per tool run with its tool as
    instrument; a ControlAction per run with the step as instrument and the run as object; an
    OrganizeAction for the engine), and every file of the chain with its sha256."""
    from rocrate.rocrate import ROCrate

    from repsub.io import sha256_file
    from repsub.provenance import audit as walk_chain

    target = study / "digits" / "study" / "base" / "claims.csv"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "repsub", "audit", "--ro-crate", str(tmp_path / "crate"),
                             str(target)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    crate = ROCrate(tmp_path / "crate")
    assert PROVENANCE_RUN_CRATE in [p.id if hasattr(p, "id") else p for p in crate.root_dataset["conformsTo"]]
    workflow = crate.mainEntity
    assert set(workflow.type) >= {"File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo"}
    tools = {tool.id for tool in workflow["hasPart"]}
    steps = {step.id: step for step in workflow["step"]}
    assert tools and all(step["workExample"].id in tools for step in steps.values())
    by_type = lambda kind: [e for e in crate.get_entities() if kind in (e.type if isinstance(e.type, list) else [e.type])]
    runs = {a.id: a for a in by_type("CreateAction")}
    tool_runs = {i: a for i, a in runs.items() if a["instrument"].id in tools}
    workflow_runs = [a for a in runs.values() if a["instrument"].id == workflow.id]
    chain = walk_chain(target).records
    named = {(path.parent / name).resolve() for path, record in chain.items()
             for name in {**record["inputs"], **record["outputs"]}}
    root = Path(os.path.commonpath([p.parent for p in named]))  # the crate holds the files under their common folder
    assert len(workflow_runs) == 1 and workflow_runs[0]["result"][0].id == target.relative_to(root).as_posix()
    controls = by_type("ControlAction")
    assert {c["object"].id for c in controls} == set(tool_runs)
    assert all(c["instrument"].id in steps for c in controls)
    organize, = by_type("OrganizeAction")
    assert organize["result"].id == workflow_runs[0].id and {c.id for c in organize["object"]} == {c.id for c in controls}
    commands = {a["instrument"]["name"].split()[-1] for a in tool_runs.values()}
    assert commands == {"prepare", "train", "selectivity", "am", "ablate", "cumulative", "stats", "study-stats"}
    files = {e.id: e for e in by_type("File")}
    for path, record in chain.items():  # every file each record names, with its hash
        for name, digest in {**record["inputs"], **record["outputs"]}.items():
            relative = (path.parent / name).resolve().relative_to(root).as_posix()
            assert files[relative]["sha256"] == digest == sha256_file(tmp_path / "crate" / relative), relative


def test_a_crate_goes_only_into_a_new_or_empty_folder(study, tmp_path):
    (tmp_path / "crate").mkdir()
    (tmp_path / "crate" / "x").write_text("")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "repsub", "audit", "--ro-crate", str(tmp_path / "crate"),
                             str(study / "digits" / "study" / "base" / "claims.csv")], capture_output=True, text=True,
                            env=env)
    assert "exists and is not an empty folder" in error_line(result) and "checkpoint" not in result.stdout
