"""Bad input at the command line: one clear sentence, exit status 2, no partial output."""

import os
import re
import pickle
import random
import subprocess
import sys

import pytest
import torch

from conftest import REPO


def repsub(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "repsub", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd)


def assert_one_sentence_error(result, pattern):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and "it/s]" not in line]
    assert len(lines) == 1 or lines[0].startswith("usage:"), result.stderr
    assert "Traceback" not in result.stderr
    import re

    assert re.search(pattern, result.stderr), result.stderr


@pytest.fixture(scope="module")
def trained(digits_manifest, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    result = repsub("train", "--manifest", digits_manifest, "--model", "shallow_cnn", "--seed", "0",
                    "--settings", '{"epochs": 1, "batch_size": 128}', "--checkpoint", out / "cnn.pt",
                    "--metrics", out / "metrics.csv")
    assert result.returncode == 0, result.stderr
    return out / "cnn.pt"


def am_outputs(folder):
    return ["--out-dir", folder / "fc1"]


def test_unknown_model(digits_manifest, tmp_path):
    result = repsub("train", "--manifest", digits_manifest, "--model", "resnet50", "--seed", "0",
                    "--checkpoint", tmp_path / "c.pt", "--metrics", tmp_path / "m.csv")
    assert_one_sentence_error(result, "unknown model 'resnet50'; name a built-in family")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("settings, key", [('{"epochs": 0}', "epochs"), ('{"batch_size": -3}', "batch_size")])
def test_non_positive_training_settings(digits_manifest, tmp_path, settings, key):
    result = repsub("train", "--manifest", digits_manifest, "--model", "mlp", "--seed", "0", "--settings", settings,
                    "--checkpoint", tmp_path / "c.pt", "--metrics", tmp_path / "m.csv")
    assert_one_sentence_error(result, f"train.{key} must be a positive integer")
    assert list(tmp_path.iterdir()) == []


def test_settings_must_be_json_data(digits_manifest, tmp_path):
    result = repsub("train", "--manifest", digits_manifest, "--model", "mlp", "--seed", "0",
                    "--settings", "__import__('os').system('touch pwned')", "--checkpoint", tmp_path / "c.pt",
                    "--metrics", tmp_path / "m.csv", cwd=tmp_path)
    assert_one_sentence_error(result, "not valid JSON")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flag, value, pattern", [
    ("--layer", "conv9", "has no layer 'conv9'; its layers are conv1"),
    ("--methods", "xam", "invalid choice: 'xam'"),
    ("--settings", '{"max_units_per_layer": 0}', "am.max_units_per_layer must be a positive integer"),
])
def test_bad_am_arguments(trained, digits_manifest, tmp_path, flag, value, pattern):
    args = {"--layer": "conv1", "--methods": "am", flag: value}
    result = repsub("am", "--checkpoint", trained, "--manifest", digits_manifest,
                    *[x for kv in args.items() for x in kv], *am_outputs(tmp_path))
    assert_one_sentence_error(result, pattern)
    assert list(tmp_path.iterdir()) == []


def test_missing_data_root(tmp_path):
    result = repsub("prepare", "--spec", f'{{"source": "imagefolder", "root": "{tmp_path / "nowhere"}"}}',
                    "--manifest", tmp_path / "out" / "manifest.json")
    assert_one_sentence_error(result, "nowhere does not exist")
    assert not (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "garbage after a brace", "code"])
def test_damaged_or_unsafe_checkpoint(trained, digits_manifest, tmp_path, damage):
    bad = tmp_path / "bad.pt"
    if damage == "truncated":
        bad.write_bytes(trained.read_bytes()[:5000])
    elif damage == "garbage":
        bad.write_bytes(random.Random(0).randbytes(4096))
    elif damage == "garbage after a brace":  # begins as JSON would, yet is no JSON
        bad.write_bytes(b"{" + random.Random(1).randbytes(4095))
    else:  # a pickle that would run code when unpickled without weights_only
        bad.write_bytes(pickle.dumps(type("Evil", (), {"__reduce__": lambda self: (os.system, ("touch pwned",))})()))
    result = repsub("selectivity", "--checkpoint", bad, "--manifest", digits_manifest, "--out", tmp_path / "s.csv",
                    cwd=tmp_path)
    assert_one_sentence_error(result, "truncated, corrupted or not a weights-only torch file")
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "pwned").exists()


def test_checkpoint_of_another_architecture(trained, digits_manifest, tmp_path):
    checkpoint = torch.load(trained, weights_only=True)
    checkpoint["meta"]["model"] = "mlp"
    checkpoint["meta"]["build"].pop("batch_norm", None)
    torch.save(checkpoint, tmp_path / "wrong.pt")
    result = repsub("selectivity", "--checkpoint", tmp_path / "wrong.pt", "--manifest", digits_manifest,
                    "--out", tmp_path / "s.csv")
    assert_one_sentence_error(result, "does not fit the mlp architecture")
    assert not (tmp_path / "s.csv").exists()


def test_checkpoint_of_another_data_set(trained, tmp_path):
    from repsub.data import prepare

    prepare({"source": "digits", "test_fraction": 0.5, "split_seed": 1}, tmp_path / "other")
    result = repsub("ablate", "--checkpoint", trained, "--manifest", tmp_path / "other" / "manifest.json",
                    "--layer", "conv1", "--out", tmp_path / "a.csv")
    assert_one_sentence_error(result, "was trained on other data than this manifest describes")
    assert not (tmp_path / "a.csv").exists()


def test_every_argument_of_every_step_has_help_and_settings_list_their_keys():
    import argparse

    from repsub.cli import build_parser

    steps = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, parser in steps.items():
        for action in parser._actions:
            assert action.help, (name, action.option_strings or action.dest)
    settings = next(a for a in steps["am"]._actions if a.dest == "settings")
    assert '"steps": 64' in settings.help and '"max_units_per_layer"' in settings.help


def test_version_and_a_manifest_passed_as_a_checkpoint(tmp_path, capsys, digits_manifest):
    import pytest

    from repsub import __version__
    from repsub.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"repsub {__version__}"
    out = tmp_path / "sel.csv"
    assert main(["selectivity", "--checkpoint", str(digits_manifest), "--manifest", str(digits_manifest), "--out",
                 str(out)]) == 2
    assert "is a JSON file (a manifest or a record?), not a torch file" in capsys.readouterr().err
    assert not out.exists()


def test_a_bad_setting_stops_the_step_before_its_banner(tmp_path, capsys, digits_manifest):
    from repsub.cli import main

    out = tmp_path / "a.csv"
    code = main(["ablate", "--checkpoint", str(tmp_path / "none.pt"), "--manifest", str(digits_manifest),
                 "--layer", "fc1", "--settings", '{"max_imagez": 3}', "--out", str(out)])
    said = capsys.readouterr()
    assert code == 2 and "unknown ablation setting(s) max_imagez" in said.err and "started" not in said.out


def test_check_config_names_the_file_and_line_that_snakemake_does_not(tmp_path, capsys):
    """Snakemake reports a YAML error in a --configfile file without file or line; check-config
    names both, and checks the merged files against the schema as the workflow does."""
    from repsub.cli import main

    presets = [str(REPO / "configs" / name) for name in ("paper-cpu.yaml", "paper-cpu-variants.yaml",
                                                         "cifar10-imagefolder.yaml")]
    data = tmp_path / "cifar10"
    data.mkdir()
    root = tmp_path / "root.yaml"  # check-config checks what the workflow checks, the data folder included
    root.write_text(f"datasets: {{cifar10: {{root: {data}}}}}\n")
    assert main(["check-config", *presets, str(root)]) == 0 and "matching the schema" in capsys.readouterr().out
    broken = tmp_path / "broken.yaml"
    broken.write_text("results: r\nruns:\n  - dataset: [cifar10\n")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("analysis: {am: {stepz: 3}}\n")
    for files, pattern in (([broken], rf"{broken} is not valid YAML at line 4, column 1"),
                           ([presets[0], unknown], r"analysis\.am: Additional properties .*'stepz'"),
                           ([presets[2]], r"'runs' is a required property")):
        assert main(["check-config", *map(str, files)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and re.search(pattern, err), err


def test_check_config_refuses_a_repeated_key_and_a_crop_larger_than_the_images(tmp_path, capsys):
    """Snakemake keeps the last of two equal keys silently, and a centre crop larger than the
    images pads them with black: check-config (and the workflow, before any job) refuse both."""
    from conftest import write_image_folder
    from repsub.cli import main

    twice = tmp_path / "twice.yaml"
    twice.write_text("results: r\nresults: s\n")
    assert main(["check-config", str(twice)]) == 2
    assert f"{twice} gives the key 'results' twice (line 2)" in capsys.readouterr().err
    root = write_image_folder(tmp_path / "images", size=12)
    cropped = tmp_path / "cropped.yaml"
    cropped.write_text(f"results: {tmp_path / 'results'}\ndatasets:\n  images: {{source: imagefolder, root: {root}, "
                       f"crop: 1000}}\nruns:\n  - {{dataset: images, model: mlp, seeds: [0], train: {{epochs: 1}}}}\n")
    assert main(["check-config", str(cropped)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "datasets.images.crop: 1000 pixels is larger than the images' 12-pixel side" in err


@pytest.mark.parametrize("registration, named", [
    ({"file": "docs/NOT-REGISTERED.md", "seeds": [0]}, "registration.file: docs/NOT-REGISTERED.md does not exist"),
    ({"file": "docs/REGISTRATION.md", "seeds": [0], "exploratory_stats": "docs/results/none/stats.csv"},
     "registration.exploratory_stats: docs/results/none/stats.csv does not exist"),
    ({"file": "docs/REGISTRATION.md", "seeds": [0], "runs": ["mlp", "vgg16"]},
     "registration.runs: vgg16 is not a run of runs: with every registered seed [0]"),
    ({"file": "docs/REGISTRATION.md", "seeds": [0, 1], "runs": ["mlp"]},
     "registration.runs: mlp is not a run of runs: with every registered seed [0, 1]")])
def test_check_config_refuses_a_registration_naming_a_missing_file(tmp_path, capsys, registration, named):
    import json

    from repsub.cli import main

    config = tmp_path / "registered.json"
    config.write_text(json.dumps({"results": str(tmp_path / "results"), "registration": registration}))
    assert main(["check-config", str(REPO / "config.yaml"), str(config)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and named in err


def test_check_config_refuses_a_file_whose_aliases_expand_without_end(tmp_path, capsys):
    """A 'billion laughs' file (nine levels of nine aliases) is refused at once, not expanded."""
    from repsub.cli import main

    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]")
    laughs = tmp_path / "laughs.yaml"
    laughs.write_text("\n".join(lines) + "\n")
    assert main(["check-config", str(laughs)]) == 2
    assert "expands to more than 100,000 values" in capsys.readouterr().err


def test_recount_refuses_files_that_do_not_belong_together(trained, digits_manifest, tmp_path):
    made = tmp_path / "made"
    result = repsub("am", "--checkpoint", trained, "--manifest", digits_manifest, "--layer", "conv1",
                    "--methods", "am", "noise", "--settings", '{"steps": 4, "max_units_per_layer": 4}',
                    "--out-dir", made)
    assert result.returncode == 0, result.stderr

    def recount(methods, trajectory):
        return repsub("recount", "--layer", "conv1", "--methods", *methods, "--settings", '{"rs_tolerance": 0.01}',
                      "--units", made / "am/units.npy", "--substitution", made / "am/substitution.npy",
                      "--trajectory", trajectory, "--base-rs-steps", made / "am/rs_steps.csv",
                      "--rs", tmp_path / "out/rs.csv", "--rs-steps", tmp_path / "out/rs_steps.csv")

    assert_one_sentence_error(recount(["am", "noise"], made / "am/trajectory.npy"),
                              r"give each of --units, .* one file per method, in the order of --methods \(am noise\)")
    assert_one_sentence_error(recount(["am"], made / "noise/trajectory.npy"),
                              r"noise/trajectory.npy has shape \(1, 4, 64\) where 4 recorded steps of .* belong")
    assert not (tmp_path / "out").exists()
    assert recount(["am"], made / "am/trajectory.npy").returncode == 0
    assert (tmp_path / "out/rs.csv").is_file() and (tmp_path / "out/rs_steps.csv").is_file()
