"""The tiny study through a real one-node SLURM cluster, against a local run.

tests/slurm/cluster.sh installs (Debian's slurm-wlm and munge, if missing) and
starts the cluster on localhost; it is stopped whatever happens.
"""

import filecmp
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, tiny_config, write_config
from test_workflow import snakemake

CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"


def slurm_study_config(results):
    """The tiny study cut to one model and two layers: each job waits for the scheduler."""
    config = tiny_config(results)
    config["runs"] = [{**config["runs"][1], "layers": ["conv2", "fc1"]}]
    return config


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slurm")
    subprocess.run(["bash", str(CLUSTER), "start", str(folder)], check=True, timeout=600)
    try:
        yield {**os.environ, "SLURM_CONF": str(folder / "slurm.conf")}
    finally:
        subprocess.run(["bash", str(CLUSTER), "stop", str(folder)], check=False, timeout=60)


def test_profile_asks_gpus_for_torch_rules_only():
    import yaml

    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    gpu_rules = {rule for rule, resources in profile["set-resources"].items() if resources.get("gpu")}
    assert gpu_rules == {"train", "pretrained_checkpoint", "selectivity", "activation_maximisation",
                         "single_unit_ablation", "cumulative_ablation"}


def test_tiny_study_on_slurm_equals_a_local_run(slurm_cluster, tmp_path):
    local, cluster = tmp_path / "local", tmp_path / "cluster"
    for workdir in (local, cluster):
        workdir.mkdir()
        write_config(workdir / "study.json", slurm_study_config(workdir / "results"))
    snakemake(local, "--cores", "2", "--configfile", str(local / "study.json"))

    no_gpus = [f"{rule}:gpu=0" for rule in ("train", "selectivity", "activation_maximisation",
                                             "single_unit_ablation", "cumulative_ablation")]
    snakemake(cluster, "--profile", str(REPO / "profiles" / "slurm"), "--configfile", str(cluster / "study.json"),
              "--slurm-no-account", "--slurm-status-command", "squeue",
              "--slurm-init-seconds-before-status-checks", "2", "--latency-wait", "5",
              "--set-resources", *no_gpus, env=slurm_cluster, timeout=1500)

    records = list((cluster / "results").rglob("*.prov.json"))
    assert len(records) > 20
    job_ids = {json.loads(path.read_text())["slurm_job_id"] for path in records}
    assert None not in job_ids, "an artifact was made outside SLURM"
    assert len(job_ids) >= 14  # one SLURM job per rule instance

    tables = [p.relative_to(local / "results") for p in (local / "results").rglob("*")
              if p.suffix in (".csv", ".npy", ".pt") and "benchmarks" not in p.parts]
    assert len(tables) > 20
    different = [str(t) for t in tables if not filecmp.cmp(local / "results" / t, cluster / "results" / t,
                                                           shallow=False)]
    assert different == []
