"""Each rule's command runs in the env its rule names, built from nothing but that env file.

No conda channel is reachable here, so each env is built as a venv of this machine's
Python from the env file's ``pip:`` section (the packages that matter: the conda part
is Python itself and pip). Then every job of a small study, one that uses every rule
the default study uses, runs with the interpreter of its rule's env, exactly as
``snakemake -n -p`` prints it. A rule without ``conda:``, or a command that imports a
package its env lacks, fails here.

Built envs are cached under ``$REPSUB_ENV_CACHE`` (default ``~/.cache/repsub/envs``),
keyed by the env file's sha256; a fresh machine builds them once (a few minutes: the
torch env installs torch from the local wheel cache).
"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import REPO, tiny_config, write_config

ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))
CACHE = Path(os.environ.get("REPSUB_ENV_CACHE", Path.home() / ".cache" / "repsub" / "envs"))
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]


def env_spec(path):
    """(python version, pip requirements) of a conda env file."""
    dependencies = yaml.safe_load(path.read_text())["dependencies"]
    python = next(d.split("=", 1)[1] for d in dependencies if isinstance(d, str) and d.startswith("python="))
    pip = [p for d in dependencies if isinstance(d, dict) for p in d["pip"]]
    return python, pip


def build_env(path):
    """The interpreter of a venv holding exactly the env file's pip packages (built once)."""
    python, requirements = env_spec(path)
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == python, f"{path.name} asks for Python {python}"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    target = CACHE / f"{path.stem}-{digest}"
    if not (target / "complete").is_file():
        building = target.with_name(target.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        base = getattr(sys, "_base_executable", sys.executable)  # the machine's Python, not this venv's
        subprocess.run([base, "-m", "venv", str(building)], check=True)
        subprocess.run([str(building / "bin" / "python"), "-m", "pip", "install", "-q", "--no-input",
                        "--disable-pip-version-check", *requirements], check=True, capture_output=True)
        shutil.rmtree(target, ignore_errors=True)
        building.rename(target)  # venv scripts name their folder: rebuild rather than move one
        (target / "complete").write_text(digest)
    return target / "bin" / "python"


def rule_envs():
    """Every rule that runs a command -> the env file its ``conda:`` names (None: none). A rule
    made in a loop (one per set of AM methods) is named by a function: its key is the prefix
    that every name it makes starts with, ending in '*'."""
    found = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=\s*(?:local)?rule[ :])", smk.read_text()):
            name = re.match(r"\s*(?:local)?rule (\w+):", block) or re.search(r'name:\s*\n\s*am_rule_name\(', block)
            if name and "shell:" in block:
                env = re.search(r'conda:\s*\n\s*"([^"]+)"', block)
                key = name.group(1) if name.groups() else "activation_maximisation*"
                found[key] = env and (smk.parent / env.group(1)).resolve()
    return found


def env_of(envs, rule):
    """The env of ``rule``, by its name or by the prefix of a rule made in a loop."""
    if rule in envs:
        return envs[rule]
    return next(env for key, env in envs.items() if key.endswith("*") and rule.startswith(key[:-1]))


def planned_jobs(workdir, config):
    """(rule, shell command, files it writes) of every job, in the order Snakemake would run them."""
    dry = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), "--configfile", str(config), "-n", "-p"],
                         capture_output=True, text=True, check=True)
    jobs, rule, writes = [], None, []
    for line in dry.stdout.splitlines():
        if match := re.match(r"(?:local)?rule (\w+):$", line):
            rule, writes = match.group(1), []
        elif match := re.match(r"    (?:output|log|benchmark): (.+)$", line):
            writes += match.group(1).split(", ")
        elif line.startswith("Shell command: ") and line != "Shell command: None":  # None: rule all
            jobs.append((rule, line.removeprefix("Shell command: "), writes))
    return jobs


def test_env_files_pin_every_package():
    for path in ENV_FILES:
        python, pins = env_spec(path)
        assert re.fullmatch(r"3\.\d+", python) and pins, path.name
        for pin in pins:
            assert re.fullmatch(r"[\w.\-]+==[\w.+]+", pin), f"{path.name}: {pin!r} is not pinned"


def test_every_rule_names_an_env():
    envs = rule_envs()
    assert len(envs) >= 10
    missing = [rule for rule, env in envs.items() if env is None or not env.is_file()]
    assert not missing, f"rules without an env file: {missing}"


def test_statistics_env_has_no_torch():
    assert not [p for p in env_spec(REPO / "envs" / "stats.yaml")[1] if p.startswith("torch")]


def test_every_job_runs_with_its_own_env_alone(tmp_path):
    """A small study (the MLP's fc1 on digits with two variants) covers every rule the default study
    runs; each of its jobs runs with the python of its rule's env, nothing else on the path."""
    pythons = {path: build_env(path) for path in ENV_FILES}
    config = tiny_config(tmp_path / "results", variants={"long_am": {"am": {"steps": 8}, "layers": ["fc1"]},
                                                         "iam_as_first": {"am": {"iam_others": "optimised"},
                                                                          "layers": ["fc1"]}})
    config["runs"] = [{**config["runs"][0], "layers": ["fc1"]}]
    jobs = planned_jobs(tmp_path, write_config(tmp_path / "tiny.json", config))
    envs = rule_envs()
    default_rules = {job[0] for job in planned_jobs(tmp_path, REPO / "config.yaml")}
    assert default_rules <= {job[0] for job in jobs}, "the env test must cover every rule of the default study"
    used = set()
    for rule, command, writes in jobs:
        for path in writes:  # as Snakemake does before a job starts
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        python = pythons[env_of(envs, rule)]
        used.add(env_of(envs, rule).name)
        env = {"PATH": f"{python.parent}{os.pathsep}/usr/bin:/bin", "PYTHONPATH": str(REPO), "PYTHONNOUSERSITE": "1",
               "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
        result = subprocess.run(["bash", "-c", f"set -euo pipefail; {command}"], cwd=tmp_path, env=env,
                                capture_output=True, text=True)
        log = next((Path(p) for p in writes if p.endswith(".log") and Path(p).is_file()), None)
        text = log.read_text()[-2000:] if log else ""
        assert result.returncode == 0, f"rule {rule} failed in {env_of(envs, rule).name}:\n{result.stderr}{text}"
    assert used == {path.name for path in ENV_FILES}
    assert (tmp_path / "results" / "digits" / "robustness.csv").is_file()
