"""The Snakemake workflow: config validation, dry runs of every preset, and real runs."""

import filecmp
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, tiny_config, write_config
from repsub import layout
from repsub.robustness import claim_labels

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]


def snakemake(workdir, *args, check=True, env=None, **kwargs):
    env = env or os.environ
    env = {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"}
    result = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True, text=True,
                            env=env, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(result.stdout[-3000:] + result.stderr[-3000:])
    return result


@pytest.mark.parametrize("configs", [
    ["config.yaml"],
    ["configs/cifar10.yaml"],
    ["configs/cifar10.yaml", "configs/cifar10-imagefolder.yaml"],
    ["configs/paper.yaml"],
    ["configs/paper-cpu.yaml"],
    ["configs/paper-cpu.yaml", "configs/paper-cpu-variants.yaml"],
    ["configs/paper-cpu.yaml", "configs/paper-cpu-variants.yaml", "configs/paper-cpu-without-vgg16.yaml"],
    ["configs/paper-cpu.yaml", "configs/paper-cpu-variants.yaml", "configs/cifar10-imagefolder.yaml",
     "configs/confirmatory.yaml"],
    ["configs/paper-cpu.yaml", "configs/cifar10-imagefolder.yaml", "configs/confirmatory-only.yaml",
     "configs/confirmatory-sensitivity.yaml"],
    ["config.yaml", "configs/quick-look.yaml"],
])
def test_every_preset_builds_its_dag(tmp_path, configs):
    paths = [str(REPO / c) for c in configs]
    if "configs/cifar10-imagefolder.yaml" in configs:  # the overlay's root must exist: point it at one that does
        (tmp_path / "cifar10").mkdir()
        paths.append(str(write_config(tmp_path / "root.json", {"datasets": {"cifar10": {"root": str(tmp_path / "cifar10")}}})))
    result = snakemake(tmp_path, "-n", "--quiet", "rules", "--configfile", *paths)
    assert "train" in result.stdout or "prepare_data" in result.stdout


def test_the_confirmatory_seeds_train_as_the_exploratory_ones_under_the_registration():
    """configs/confirmatory.yaml adds the registered seeds to the four small networks, each
    trained exactly as in the exploratory presets; the variants stay on the exploratory seeds."""
    import yaml

    second, confirmatory = (yaml.safe_load((REPO / "configs" / name).read_text())
                            for name in ("paper-cpu-variants.yaml", "confirmatory.yaml"))
    registration = confirmatory["registration"]
    assert (REPO / registration["file"]).is_file()
    assert f"seeds **{', '.join(map(str, registration['seeds'][:-1]))} and {registration['seeds'][-1]}**" in (
        REPO / registration["file"]).read_text()
    before = {run.get("name", run["model"]): run for run in second["runs"]}
    for run in confirmatory["runs"]:
        name, exploratory = run.get("name", run["model"]), before[run.get("name", run["model"])]
        assert run["train"] == exploratory["train"] and run.get("model_options") == exploratory.get("model_options")
        added = [seed for seed in run["seeds"] if seed not in exploratory["seeds"]]
        assert added in ([], registration["seeds"]), name
        assert not set(run.get("variant_scope", {}).get("seeds", run["seeds"])) & set(registration["seeds"]), name
    # the registered networks are the four with the registered seeds; the sensitivity overlay's
    # 100-epoch runs of seed 100 are not among them, so they join no sample of the registered analysis
    assert registration["runs"] == [run.get("name", run["model"]) for run in confirmatory["runs"]
                                    if set(registration["seeds"]) <= set(run["seeds"])]
    sensitivity = yaml.safe_load((REPO / "configs" / "confirmatory-sensitivity.yaml").read_text())
    assert [run["name"] for run in sensitivity["runs"] if run.get("name", run["model"]) not in registration["runs"]] == [
        "shallow_cnn_100ep", "shallow_cnn_nobn_100ep"]


def test_the_confirmatory_only_overlay_trains_the_registered_seeds_as_the_registered_preset():
    """configs/confirmatory-only.yaml, for a results folder of the confirmatory seeds alone, has
    the same runs as configs/confirmatory.yaml, each with the registered seeds only and no
    variant scope, the same registration, and the exploratory statistics the study published."""
    import yaml

    confirmatory, alone = (yaml.safe_load((REPO / "configs" / name).read_text())
                           for name in ("confirmatory.yaml", "confirmatory-only.yaml"))
    registration = alone.pop("registration")
    assert registration.pop("exploratory_stats") == "docs/results/cifar10/stats.csv"
    assert registration == confirmatory["registration"]
    small = [{k: v for k, v in run.items() if k != "variant_scope"} | {"seeds": registration["seeds"]}
             for run in confirmatory["runs"] if set(registration["seeds"]) <= set(run["seeds"])]
    assert alone == {"runs": small}


def test_the_second_cpu_preset_trains_exactly_what_the_first_does():
    """paper-cpu-variants.yaml repeats the runs (a list replaces a list): each of the first
    preset's runs must train there exactly as in the first, so that the second part reuses
    every checkpoint (it adds one run, E6's learning-rate control); the list without VGG16
    is the second part's, VGG16 left out."""
    import yaml

    first, second, without = (yaml.safe_load((REPO / "configs" / name).read_text())["runs"]
                              for name in ("paper-cpu.yaml", "paper-cpu-variants.yaml", "paper-cpu-without-vgg16.yaml"))
    assert without == [r for r in second if r["model"] != "vgg16"]

    def training(runs):
        return {(r["dataset"], r.get("name", r["model"])): (r.get("train"), r.get("model_options"), r.get("analysis"))
                for r in runs}

    trained_first, trained_second = training(first), training(second)
    assert {run: how for run, how in trained_second.items() if run in trained_first} == trained_first
    assert set(trained_second) - set(trained_first) == {("cifar10", "shallow_cnn_lr005")}
    seeds = {r.get("name", r["model"]): r["seeds"] for r in second}
    assert seeds["vgg16"] == [0, 1, 2] and all(set(r["seeds"]) >= {0} for r in first)


def test_paper_preset_with_imagenet_on_includes_the_pretrained_vgg(tmp_path):
    overlay = write_config(tmp_path / "imagenet.json", {"datasets": {"imagenet": {"root": str(tmp_path)}}})
    off = snakemake(tmp_path, "-n", "--configfile", str(REPO / "configs/paper.yaml"))
    on = snakemake(tmp_path, "-n", "--configfile", str(REPO / "configs/paper.yaml"), str(overlay))
    assert "pretrained_checkpoint" not in off.stdout and "root: null" in off.stderr
    assert "pretrained_checkpoint" in on.stdout


@pytest.mark.parametrize("change, named", [
    ({"runs": [{"dataset": "digits", "model": "resnet", "seeds": [0]}]}, "resnet"),
    ({"analysis": {"am": {"steps": 0}}}, "steps"),
    ({"analysis": {"ablation": {"max_images": -5}}}, "max_images"),
    ({"datasets": {"digits": {"source": "digits", "colour": True}}}, "colour"),
    ({"analysis": {"am": {"methods": ["xam"]}}}, "xam"),
    ({"runs": [{"dataset": "digits", "model": "mlp", "seeds": [0], "train": {"epochs": -1}}]}, "epochs"),
    ({"variants": {"v": {"am": {"steps": 0}}}}, "steps"),
    ({"variants": {"v": {"unit": "spatial_median"}}}, "spatial_median"),
    ({"precision": "fp16"}, "fp16"),
    ({"colour": True}, "'colour' was unexpected"),
])
def test_schema_rejects_bad_configs_naming_the_key(tmp_path, change, named):
    config = tiny_config(tmp_path / "results")
    config.update(change)
    result = snakemake(tmp_path, "-n", "--configfile", str(write_config(tmp_path / "bad.json", config)), check=False)
    assert result.returncode == 2
    said = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("Assuming")]
    assert len(said) == 1 and said[0].startswith("error: ") and named in said[0], result.stderr


def test_an_overlay_given_alone_is_one_sentence(tmp_path):
    result = snakemake(tmp_path, "-n", "--configfile", str(REPO / "configs" / "paper-cpu-variants.yaml"), check=False)
    said = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("Assuming")]
    assert result.returncode == 2 and said == ["error: the config top level: 'datasets' is a required property; fix "
                                               "it (every key and its allowed values are in "
                                               "workflow/schemas/config.schema.yaml)"]


def with_image_folder(config, root):
    config["datasets"]["images"] = {"source": "imagefolder", "root": root}
    config["runs"].append({"dataset": "images", "model": "mlp", "seeds": [0], "train": {"epochs": 1}})
    return config


@pytest.mark.parametrize("change, message", [
    (lambda c: c["runs"][1].update(layers=["conv1", "conv9"]), "runs[1].layers: shallow_cnn has no layer 'conv9'"),
    (lambda c: c["runs"][1].update(layers=["Conv2"]), "runs[1].layers: shallow_cnn has no layer 'Conv2'"),
    (lambda c: (c["datasets"].update({"my.digits": c["datasets"].pop("digits")}),
                [run.update(dataset="my.digits") for run in c["runs"]]), "datasets.my.digits: a data set name"),
    (lambda c: c.update(results=""), "results: the results folder is empty"),
    (lambda c: c["datasets"].update(images={"source": "imagefolder"}), "datasets.images.root is missing"),
    (lambda c: with_image_folder(c, "no/such/folder"), "datasets.images.root: folder no/such/folder does not exist"),
    (lambda c: c["runs"][0].update(dataset="nowhere"), "runs[0].dataset: data set 'nowhere' is not defined"),
    (lambda c: c["runs"].append({"dataset": "digits", "model": "vgg16_imagenet", "seeds": [0],
                                 "model_options": {"weights": "nowhere.pth"}}),
     "runs[2].model_options.weights: file nowhere.pth does not exist"),
    (lambda c: c["runs"].append({**c["runs"][0]}), "runs[2]: a second run named 'mlp' on digits"),
    (lambda c: c["runs"][0].update(name="study"), "runs[0].name: 'study' cannot name a run"),
    (lambda c: c["variants"].update(seed1={}), "variants.seed1: a variant name must be"),
    (lambda c: c["variants"].update(base={"unit": "spatial_max"}), "variants.base: a variant name must be"),
    (lambda c: c["variants"].update(deep={"layers": ["conv9"]}), "variants.deep.layers: no run's model has layer"),
    (lambda c: c["variants"].update(mid={"layers": ["fc2"]}), "variants.mid covers no run"),
    (lambda c: c["runs"][0].update(name="-rf"), "runs[0].name: '-rf' cannot name a run"),
    (lambda c: c["datasets"]["digits"].update(test_fraction=0.999), "datasets.digits.test_fraction: 0.999 leaves"),
    (lambda c: [run.update(variant_scope={"layers": [layer]}) for run, layer in zip(c["runs"], ("fc4", "conv3"))],
     "variants.long_am covers no run"),
    *[(lambda c, folder=folder: c.update(results=str(REPO / folder / "out")), f"is in the project's {folder}/")
      for folder in ("repsub", "workflow")],
    (lambda c: c.update(results="-out"), "results: '-out' begins with '-'"),
    *[(lambda c, folder=folder: c.update(results=folder), f"results: '{folder}' is ")
      for folder in (".", "..", "/", "/etc")],
    (lambda c: (c["datasets"].update(logs=c["datasets"].pop("digits")),
                [run.update(dataset="logs") for run in c["runs"]]), "datasets.logs: a data set name"),
])
def test_config_errors_stop_the_dag_with_one_sentence_naming_the_key(tmp_path, change, message):
    config = tiny_config(tmp_path / "results")
    change(config)
    result = snakemake(tmp_path, "-n", "--configfile", str(write_config(tmp_path / "bad.json", config)), check=False)
    assert result.returncode == 2
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        line for line in result.stderr.splitlines() if message in line], result.stderr
    assert not (tmp_path / "results").exists()


def test_a_null_root_switches_a_data_set_off_with_a_notice(tmp_path):
    config = with_image_folder(tiny_config(tmp_path / "results"), None)
    result = snakemake(tmp_path, "-n", "--configfile", str(write_config(tmp_path / "c.json", config)))
    assert "data set 'images' has root: null, so its mlp run is off" in result.stderr


def test_every_value_in_every_rule_command_is_quoted():
    """Snakemake's {...:q} quotes a value for the shell; a bare {...} would let a config value run."""
    import re

    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        for command in re.findall(r"\n    shell:\n((?:        .*\n)+)", path.read_text()):
            fields = re.findall(r"(?<!{){([^{}]+)}(?!})", command)
            assert fields and all(field.endswith(":q") for field in fields), (path.name, command)


def test_hostile_paths_are_quoted_and_gpu_jobs_never_overlap(tmp_path):
    """A data root with a space, an apostrophe and $(...), and a results folder with a space
    beside a file whose name is its prefix: the study runs and touches nothing else. It runs
    on a CPU stand-in for a one-GPU box: every torch job holds one 'gpu', so under
    --resources gpu=1 on 4 cores they run one at a time (their logs say when)."""
    from datetime import datetime

    from conftest import write_image_folder

    root = write_image_folder(tmp_path / "img" / "plain'$(touch PWNED) x", per_class=5)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes").write_text("my notes")
    config = tiny_config("x/notes 2026", jobs={"gpus": 1, "threads": 1}, variants={})
    config["datasets"] = {"tiny": {"source": "imagefolder", "root": str(root.relative_to(tmp_path))}}
    config["runs"] = [{"dataset": "tiny", "model": "mlp", "seeds": [0], "layers": ["fc4"],
                       "train": {"epochs": 1, "batch_size": 8}}]
    config["analysis"]["am"]["max_units_per_layer"] = 4
    write_config(tmp_path / "hostile.json", config)

    def snapshot():
        return {p: p.read_bytes() for p in tmp_path.rglob("*")
                if p.is_file() and "notes 2026" not in str(p) and ".snakemake" not in p.parts}

    before = snapshot()
    snakemake(tmp_path, "--cores", "4", "--resources", "gpu=1", "--configfile", str(tmp_path / "hostile.json"))
    assert snapshot() == before
    assert not list(tmp_path.rglob("PWNED")) and not (REPO / "PWNED").exists()
    results = tmp_path / "x" / "notes 2026"
    manifest = json.loads((results / "tiny" / "data" / "manifest.json").read_text())
    assert manifest["options"]["root"] == str(root.relative_to(tmp_path))
    assert (results / "tiny" / "study" / "base" / "claims.csv").is_file()
    spans = []
    for log in (results / "logs").rglob("*.log"):
        times = dict(line.split(": ", 1)[1].split(" ", 2)[:2] for line in log.read_text().splitlines()
                     if line.startswith("repsub ") and (": started " in line or ": finished " in line))
        if "started" in times and "prepare_data" not in log.name:
            assert "on cpu (1 thread)" in log.read_text(), log
            spans.append((datetime.fromisoformat(times["started"]), datetime.fromisoformat(times["finished"]), log))
    assert len(spans) >= 5  # training, selectivity, AM (every method), single-unit and cumulative ablation
    spans.sort()
    for (_, end, first), (start, _, second) in zip(spans, spans[1:]):
        assert end <= start, f"{first.name} and {second.name} ran at once"
    record = json.loads((results / "tiny" / "mlp" / "seed0" / "checkpoint.pt.prov.json").read_text())
    assert record["device"] == "cpu (1 thread)"


def test_a_run_can_override_the_study_wide_analysis_settings(tmp_path):
    config = tiny_config(tmp_path / "results")
    config["runs"][0]["analysis"] = {"am": {"max_units_per_layer": 5}, "ablation": {"max_images": 33}}
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(write_config(tmp_path / "c.json", config)))
    commands = [line for line in result.stdout.splitlines() if "python -m repsub" in line]
    mlp = [c for c in commands if "/mlp/" in c and ("repsub am " in c or "repsub ablate " in c)]
    cnn = [c for c in commands if "/shallow_cnn/" in c and ("repsub am " in c or "repsub ablate " in c)]
    assert mlp and cnn
    assert all('"max_units_per_layer": 5' in c or '"max_images": 33' in c for c in mlp)
    assert all('"max_units_per_layer": 24' in c or '"max_images": 120' in c for c in cnn)


def run_tiny_study(workdir, **overrides):
    config = write_config(workdir / "tiny.json", tiny_config(workdir / "results", **overrides))
    snakemake(workdir, "--cores", "2", "--configfile", str(config))
    return workdir / "results"


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    # near_ties changes only how RS is counted (rule recount_rs); only this study has it
    variants = {**tiny_config("")["variants"], "near_ties": {"am": {"rs_tolerance": 0.2}, "layers": ["conv2"]}}
    return run_tiny_study(tmp_path_factory.mktemp("study"), variants=variants)


def test_tiny_study_writes_every_artifact(tiny_study):
    run = tiny_study / "digits" / "shallow_cnn" / "seed0"
    study = tiny_study / "digits" / "study"
    for path in [run / "checkpoint.pt", run / "metrics.csv", run / "base" / "selectivity.csv",
                 run / "conv2" / "ablation.csv", run / "conv2" / "cumulative.csv",
                 *[run / "base" / "conv1" / m / f for m in ("am", "iam") for f in
                   ("images.npy", "units.npy", "substitution.npy", "trace.csv", "rs.csv", "contact_sheet.png")],
                 study / "base" / "stats.csv", study / "base" / "claims.csv",
                 study / "long_am" / "claims.csv", study / "spatial_max" / "claims.csv",
                 tiny_study / "digits" / "robustness.csv",
                 tiny_study / "figures" / "digits" / "robustness.png",
                 tiny_study / "figures" / "digits" / "fig3b_correlation_vs_depth.png",
                 tiny_study / "figures" / "digits" / "mlp" / "fig1_selectivity_vs_rs.pdf",
                 tiny_study / "logs" / "digits" / "shallow_cnn" / "seed0" / "train.log",
                 tiny_study / "benchmarks" / "digits" / "shallow_cnn" / "seed0" / "train.tsv"]:
        assert path.is_file(), path
        if path.suffix != ".log" and "benchmarks" not in path.parts:
            assert Path(str(path) + ".prov.json").is_file(), path
    for log in (tiny_study / "logs").rglob("*.log"):  # lines, not carriage-return progress bars
        assert "\r" not in log.read_text(), log
    assert "ablate conv2: 1/1 (100%)" in (tiny_study / "logs/digits/shallow_cnn/seed0/conv2/ablation.log").read_text()


def test_a_variant_reruns_only_what_it_changes_in_its_own_paths(tiny_study):
    """long_am (more AM steps, fc1) redoes AM and IAM of fc1 and nothing else; spatial_max
    (a conv unit is its map's max, conv1 and conv2) redoes selectivity and every method."""
    import numpy as np
    import pandas as pd

    seed = tiny_study / "digits" / "shallow_cnn" / "seed0"
    made = {p.relative_to(seed).as_posix() for p in (seed / "long_am").rglob("*.npy")}
    assert made == {f"long_am/fc1/{m}/{k}.npy" for m in ("am", "iam")
                    for k in ("images", "units", "substitution", "trajectory")}
    for method in ("am", "iam"):
        base, long = seed / "base" / "fc1" / method, seed / "long_am" / "fc1" / method
        assert not np.array_equal(np.load(base / "images.npy"), np.load(long / "images.npy"))
        assert pd.read_csv(base / "trace.csv").step.max() == 6 and pd.read_csv(long / "trace.csv").step.max() == 12
    spatial = {p.relative_to(seed / "spatial_max").as_posix() for p in (seed / "spatial_max").rglob("rs.csv")}
    assert spatial == {f"{layer}/{m}/rs.csv" for layer in ("conv1", "conv2") for m in ("am", "iam", "noise", "top_image")}
    base_sel = pd.read_csv(seed / "base" / "selectivity.csv")
    max_sel = pd.read_csv(seed / "spatial_max" / "selectivity.csv")
    conv1 = base_sel.layer == "conv1"
    assert (max_sel[conv1].mean_activation.to_numpy() > base_sel[conv1].mean_activation.to_numpy()).all()
    assert not (tiny_study / "digits" / "mlp" / "seed0" / "spatial_max").exists()  # no conv layer to cover
    # iam_as_first changes IAM alone: AM is the base's; moved_only changes statistics alone
    first = {p.relative_to(seed).as_posix() for p in (seed / "iam_as_first").rglob("images.npy")}
    assert first == {"iam_as_first/conv2/iam/images.npy"}
    assert not np.array_equal(np.load(seed / "base/conv2/iam/images.npy"),
                              np.load(seed / "iam_as_first/conv2/iam/images.npy"))
    assert not (seed / "moved_only").exists() and (tiny_study / "digits/shallow_cnn/moved_only/stats.csv").is_file()
    fourier = {p.relative_to(seed).as_posix() for p in (seed / "feature_vis").rglob("images.npy")}
    assert fourier == {f"feature_vis/conv2/{m}/images.npy" for m in ("am", "iam")}


def test_a_variant_that_only_recounts_rs_writes_what_the_am_step_would(tiny_study, tmp_path):
    """near_ties (rs_tolerance 0.2, conv2) makes no image: it counts RS again on the base's
    substitution matrices, and its tables equal, byte for byte, those the am step writes when
    it makes conv2's images again with that tolerance."""
    from repsub.settings import METHODS

    seed = tiny_study / "digits" / "shallow_cnn" / "seed0"
    made = {p.relative_to(seed / "near_ties").as_posix() for p in (seed / "near_ties").rglob("*")
            if p.is_file() and not p.name.endswith(".prov.json")}
    assert made == {f"conv2/{m}/{table}" for m in METHODS for table in ("rs.csv", "rs_steps.csv")}
    argv = json.loads((seed / "base/conv2/am/rs.csv.prov.json").read_text())["argv"]
    step = argv[argv.index("am"):]
    settings = json.loads(step[step.index("--settings") + 1])
    step[step.index("--settings") + 1] = json.dumps({**settings, "rs_tolerance": 0.2})
    step[step.index("--out-dir") + 1] = str(tmp_path)
    subprocess.run([sys.executable, "-m", "repsub", *step], cwd=REPO, check=True, capture_output=True)
    counted_apart = 0
    for method in METHODS:
        for table in ("rs.csv", "rs_steps.csv"):
            assert filecmp.cmp(seed / "near_ties/conv2" / method / table, tmp_path / method / table, shallow=False)
        counted_apart += (seed / "near_ties/conv2" / method / "rs.csv").read_bytes() != \
            (seed / "base/conv2" / method / "rs.csv").read_bytes()
    assert counted_apart  # the tolerance changed some unit's RS


def test_robustness_table_says_which_layers_each_variant_covers(tiny_study):
    import pandas as pd

    table = pd.read_csv(tiny_study / "digits" / "robustness.csv", keep_default_na=False)
    assert list(dict.fromkeys(table.variant)) == ["base", "long_am", "spatial_max", "iam_as_first", "feature_vis",
                                                   "moved_only", "near_ties", "c3_cut_40", "c3_cut_60"]
    base = table[table.variant == "base"]
    assert set(base.layers[base.model == "shallow_cnn"]) == {"conv1 conv2 conv3 conv4 fc1"} and base.all_layers.all()
    long_am = table[table.variant == "long_am"]
    assert set(long_am.layers) == {"fc1"} and not long_am.all_layers.any()
    assert set(long_am.model) == {"mlp", "shallow_cnn"}
    assert not long_am["values"].str.contains(r"conv\d").any()  # claims from fc1 alone
    spatial = table[table.variant == "spatial_max"]
    assert set(spatial.model) == {"shallow_cnn"} and set(spatial.layers) == {"conv1 conv2"}
    assert {"C1 AM", "C1 IAM", "C1 noise", "C1 top image", "C2 IAM", "E1 IAM"} <= set(spatial.label)
    assert set(table.verdict) <= {"reproduced", "contradicted", "inconclusive"}
    assert set(table.verdict_v3) <= {"reproduced", "contradicted", "inconclusive", "absent"}


def test_rs_and_the_verdicts_along_the_am_trajectory(tiny_study):
    """RS is recorded at steps 0, 1, 2, 4 and the last (6); its last step is rs.csv; each
    claim's verdict at each step is in the claims table, the last one the claim's own."""
    import pandas as pd

    method = tiny_study / "digits" / "shallow_cnn" / "seed0" / "base" / "conv2" / "am"
    steps, final = pd.read_csv(method / "rs_steps.csv"), pd.read_csv(method / "rs.csv")
    assert sorted(steps.step.unique()) == [0, 1, 2, 4, 6]
    assert steps[steps.step == 6].rs.tolist() == final.rs.tolist()
    claims = pd.read_csv(tiny_study / "digits" / "study" / "base" / "claims.csv")
    assert (claims.verdict_by_step.str.split("; ").str[-1] == "6: " + claims.verdict).all()
    assert claims.verdict_by_step.str.startswith("0: ").all()
    trajectory = pd.read_csv(tiny_study / "digits" / "study" / "base" / "trajectory.csv")
    assert set(trajectory.step) == {0, 1, 2, 4, 6} and (tiny_study / "figures/digits/trajectory.png").is_file()
    moved = pd.read_csv(method / "movement.csv")
    assert list(moved.columns) == ["unit", "start_objective", "best_objective", "moved"] and moved.moved.all()


def test_tiny_study_rs_table_matches_its_layer(tiny_study):
    import pandas as pd

    rs = pd.read_csv(tiny_study / "digits" / "shallow_cnn" / "seed0" / "base" / "conv3" / "iam" / "rs.csv")
    assert len(rs) == 24 and set(rs.n_units) == {128}  # max_units_per_layer: 24 of 128
    assert ((rs.rs >= 0) & (rs.rs <= 1)).all()
    assert (rs.rs == rs.n_greater / rs.n_units).all()


def chromium():
    """Debian's headless Chromium, installed as tests/slurm/cluster.sh installs SLURM."""
    if not shutil.which("chromium"):
        subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium",
                       shell=True, check=True, capture_output=True)
    return shutil.which("chromium")


def rendered_text(html_file):
    """The page as Chromium renders it (scripts run), with the scripts stripped: what a reader sees."""
    dom = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                          "--dump-dom", html_file.as_uri()], capture_output=True, text=True, timeout=120).stdout
    return re.sub(r"<script\b.*?</script>", "", dom, flags=re.S)


def test_report_shows_the_verdicts_in_the_browser(tiny_study):
    import pandas as pd

    workdir = tiny_study.parent
    config = workdir / "tiny.json"
    snakemake(workdir, "--configfile", str(config), "--report", str(workdir / "report.html"))
    html = (workdir / "report.html").read_text(errors="replace")
    assert "System Message" not in html  # a docutils warning shown to every reader
    page = rendered_text(workdir / "report.html")
    assert "<tbody>" in page and "Verdict per claim and model" in page  # the browser built the front page's tables
    assert str(config) in page
    claims = pd.read_csv(tiny_study / "digits" / "study" / "base" / "claims.csv")
    front = page[page.index("Verdict per claim and model"):]
    for row, label in zip(claims.itertuples(), claim_labels(claims)):  # every claim's verdict per model
        cells = re.search(rf"<td>{label}</td><td>[^<]*</td>(.*?)</tr>", front).group(1)
        if row.verdict == "inconclusive":  # says why: the seeds and how many layers counted
            assert ">inconclusive (one seed: " in cells, (label, row.model)
        else:
            assert f">{row.verdict}</td>" in cells, (label, row.model)
    pages = tiny_study / "report" / "digits"
    for name in ("claims", "robustness"):
        table = rendered_text(pages / f"{name}.html")
        assert table.count('style="background:') >= len(claims)  # verdicts coloured
    from html import escape as html_text

    claims_page = rendered_text(pages / "claims.html")  # verdicts first, each rule once
    assert claims_page.count(html_text(claims.rule.iloc[0], quote=False)) == 1


def test_workflow_is_lint_clean_and_formatted(tmp_path):
    lint = snakemake(tmp_path, "--lint", "--configfile", str(REPO / "config.yaml"))
    assert "Congratulations, your workflow is in a good condition!" in lint.stdout + lint.stderr
    formatted = subprocess.run([sys.executable, "-m", "snakefmt", "--check", str(REPO)], capture_output=True,
                               text=True)
    assert formatted.returncode == 0, formatted.stderr


def test_audit_walks_back_to_the_data(tiny_study):
    rs = tiny_study / "digits" / "shallow_cnn" / "seed0" / "base" / "conv1" / "iam" / "rs.csv"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "repsub", "audit", str(rs)], capture_output=True, text=True,
                            env=env, cwd=tiny_study.parent)
    assert result.returncode == 0, result.stderr
    assert "checkpoint.pt: ok" in result.stdout and "manifest.json: ok" in result.stdout


def test_a_killed_run_of_one_model_resumes_to_the_tiny_studys_files_byte_for_byte(tiny_study, tmp_path):
    """Killed mid-stage (SIGKILL to Snakemake and its job) and resumed with --rerun-incomplete,
    a run of the tiny study's MLP alone, without the variants, gives every file of that run
    byte for byte as the tiny study made it: the resume repairs what the kill cut, the runs
    are deterministic, and neither the other model nor the variants touch a run's base
    analysis. (The shallow CNN's files are compared byte for byte in the SLURM test.)"""
    config = tiny_config(tmp_path / "results", variants={})
    config["runs"] = [run for run in config["runs"] if run["model"] == "mlp"]
    config = write_config(tmp_path / "tiny.json", config)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    process = subprocess.Popen([*SNAKEMAKE, "--directory", str(tmp_path), "--cores", "2", "--configfile",
                                str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                               start_new_session=True)
    deadline = time.time() + 300
    while not list((tmp_path / "results").rglob("iam/rs.csv")) and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # Snakemake and the job it runs, mid-stage
    process.wait()
    claims = Path("digits") / "study" / "base" / "claims.csv"
    assert not (tmp_path / "results" / claims).exists()
    result = snakemake(tmp_path, "--cores", "2", "--configfile", str(config), "--rerun-incomplete", check=False)
    if "LockException" in result.stderr + result.stdout or "locked" in result.stderr:
        snakemake(tmp_path, "--unlock", "--configfile", str(config))
        snakemake(tmp_path, "--cores", "2", "--configfile", str(config), "--rerun-incomplete")
    again = tmp_path / "results"
    assert (again / claims).is_file()
    run_files = [Path("digits") / "data", Path("digits") / "mlp", Path("figures") / "digits" / "mlp"]
    names = [p.relative_to(again) for folder in run_files for p in (again / folder).rglob("*")
             if p.suffix in (".csv", ".pt", ".npy", ".png", ".pdf")]
    assert len(names) > 30
    different = [str(n) for n in names if not filecmp.cmp(tiny_study / n, again / n, shallow=False)]
    assert different == []
    redo_after_two_faults(tmp_path, str(config), again)


def made_files(results):
    """The sha256 of every table, array, checkpoint and figure of a run (records hold times)."""
    return {p.relative_to(results): hashlib.sha256(p.read_bytes()).hexdigest() for p in Path(results).rglob("*")
            if p.is_file() and ".unfinished" not in p.relative_to(results).parts
            and p.suffix in (".csv", ".pt", ".npy", ".png", ".pdf", ".json") and not p.name.endswith(".prov.json")}


def _unfinish(paths):
    """Leave ``paths`` as a job leaves them when its folder turned read-only mid-run: the files
    there (one cut short), their records still in progress."""
    for path in paths:
        record = Path(str(path) + ".prov.json")
        record.write_text(json.dumps({"format": 2, "status": "in_progress", "command": "am",
                                      "started": "2026-12-05T00:00:00+00:00", "host": "elsewhere", "pid": 1}))
    paths[0].write_bytes(paths[0].read_bytes()[:40])


def redo_after_two_faults(workdir, config, results):
    """Two faults that leave files Snakemake takes as made, on a finished run: a job's outputs
    kept by a read-only folder, and a hand-run step killed midway. After each,
    ``--rerun-incomplete`` sets the unfinished files aside, says so, redoes their jobs and
    reaches the uninterrupted run's bytes."""
    made = made_files(results)
    am = layout.method_dir(results, "digits", "mlp", 0, "base", "fc1", "am")
    _unfinish([am / "rs.csv", am / "images.npy"])
    said = snakemake(workdir, "--cores", "2", "--configfile", config, "--rerun-incomplete")
    assert re.search(r"set aside \d+ files of steps that never finished, and of steps after them", said.stderr)
    assert made_files(results) == made

    # a hand-run am step (the workflow's own command for fc4), killed once it has begun
    record = Path(str(layout.method_dir(results, "digits", "mlp", 0, "base", "fc4", "am") / "rs.csv") + ".prov.json")
    argv = json.loads(record.read_text())["argv"]
    process = subprocess.Popen([sys.executable, "-m", "repsub", *argv[1:]], cwd=workdir,
                               env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (record.is_file() and '"in_progress"' in record.read_text(errors="replace")) and time.time() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert '"in_progress"' in record.read_text()
    said = snakemake(workdir, "--cores", "2", "--configfile", config, "--rerun-incomplete")
    assert "of steps that never finished" in said.stderr
    assert made_files(results) == made


def test_publish_copies_what_a_referee_needs_and_refuses_to_overwrite(tiny_study, tmp_path, capsys):
    """The study's tables, each run's per-unit table, per-seed metrics and cumulative curves,
    and the figures, each traced to its source by sha256; an existing folder or an
    unfinished source is refused in one sentence with nothing written."""
    import hashlib

    import pandas as pd

    from repsub.cli import main

    out = tmp_path / "published"
    assert main(["publish", "--results", str(tiny_study), "--dataset", "digits", "--out", str(out)]) == 0
    assert (out / "claims.csv").read_bytes() == (tiny_study / "digits" / "study" / "base" / "claims.csv").read_bytes()
    for run, layers in (("mlp", 2), ("shallow_cnn", 5)):
        assert (out / run / "units.csv").read_bytes() == (tiny_study / "digits" / run / "base" / "units.csv").read_bytes()
        curves = pd.read_csv(out / run / "cumulative.csv")
        assert list(curves.columns[:2]) == ["seed", "layer"] and curves.layer.nunique() == layers
        one = pd.read_csv(tiny_study / "digits" / run / "seed0" / curves.layer[0] / "cumulative.csv")
        assert len(curves[curves.layer == curves.layer[0]]) == len(one)
        assert set(pd.read_csv(out / run / "metrics.csv").seed) == {0}
        assert (out / run / "fig1_selectivity_vs_rs.png").is_file()
    published = json.loads((out / "published.json").read_text())
    for name, entry in published["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == entry["sha256"], name
    assert not list(out.rglob("*.npy")) and not list(out.rglob("*.prov.json"))
    assert (out / "variants" / "long_am" / "trajectory.csv").read_bytes() == (
        tiny_study / "digits" / "study" / "long_am" / "trajectory.csv").read_bytes()  # a variant's AM steps
    published_variants = {path.parent.name for path in out.glob("variants/*/trajectory.csv")}
    assert {"long_am", "near_ties"} <= published_variants and not published_variants & {"base", "c3_cut_40"}

    before = sorted(p.name for p in out.rglob("*"))
    assert main(["publish", "--results", str(tiny_study), "--dataset", "digits", "--out", str(out)]) == 2
    assert "exists and is not an empty folder" in capsys.readouterr().err
    assert sorted(p.name for p in out.rglob("*")) == before
    copy = shutil.copytree(tiny_study / "digits", tmp_path / "results" / "digits")
    (tmp_path / "results" / "figures").mkdir()
    record = copy / "mlp" / "base" / "units.csv.prov.json"
    record.write_text(record.read_text().replace('"complete"', '"in progress"'))
    assert main(["publish", "--results", str(tmp_path / "results"), "--dataset", "digits",
                 "--out", str(tmp_path / "again")]) == 2
    assert "is unfinished" in capsys.readouterr().err and not (tmp_path / "again").exists()


def test_publish_takes_the_runs_and_seeds_of_the_study_not_every_run_folder(tiny_study, tmp_path, capsys):
    """A run folder left from an earlier config is not published; a run of the study whose
    per-unit table lacks a seed of the study is refused, with nothing written."""
    import pandas as pd

    from repsub.cli import main

    results = tmp_path / "results"
    shutil.copytree(tiny_study / "digits", results / "digits")
    shutil.copytree(tiny_study / "figures", results / "figures")
    shutil.copytree(results / "digits" / "mlp", results / "digits" / "mlp_from_an_earlier_config")
    out = tmp_path / "published"
    assert main(["publish", "--results", str(results), "--dataset", "digits", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["mlp", "shallow_cnn", "variants"]

    units = results / "digits" / "mlp" / "base" / "units.csv"
    table = pd.read_csv(units)
    table.assign(seed=7).to_csv(units, index=False)
    assert main(["publish", "--results", str(results), "--dataset", "digits", "--out", str(tmp_path / "again")]) == 2
    assert "holds seeds [7] but the study's stats.csv holds [0] for run mlp" in capsys.readouterr().err
    assert not (tmp_path / "again").exists()


def test_each_summary_step_needs_only_its_declared_inputs(tiny_study, tmp_path):
    """Statistics, claims, robustness, figures and report pages rerun by hand in a fresh folder
    that holds only the files their rule declares (with the records beside them), and write
    the study's tables again."""
    from test_declarations import check_summary_steps_need_only_their_declared_inputs

    check_summary_steps_need_only_their_declared_inputs(tiny_study, tmp_path)
