"""The tiny study through a real one-node SLURM cluster, against a local run, with the
workflow profile layered over a site profile as a SLURM user runs it.

tests/slurm/cluster.sh installs (Debian's slurm-wlm and munge, if missing) and
starts the cluster on localhost; it is stopped whatever happens.
"""

import filecmp
import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from conftest import REPO, tiny_config, write_cifar_batches, write_config
from test_workflow import snakemake

CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"


def slurm_study_config(workdir, cifar_root):
    """The tiny study on a tiny CIFAR-10 folder that the download rule lists (it is there, so
    nothing is fetched), cut to one model, two layers and one variant (one job): each
    job waits for the scheduler. Both runs read the same folder, so that their manifests
    (which name it) agree."""
    config = tiny_config(workdir / "results")
    config["variants"] = {"iam_as_first": config["variants"]["iam_as_first"]}
    config["datasets"] = {"cifar": {"source": "cifar10", "root": str(cifar_root), "download": True}}
    config["runs"] = [{**config["runs"][1], "dataset": "cifar", "layers": ["conv2", "fc1"]}]
    return config


def site_profile(folder):
    """What a site's own profile holds (here: no accounting, status from squeue)."""
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump({
        "slurm-no-account": True, "slurm-status-command": "squeue",
        "slurm-init-seconds-before-status-checks": 2, "latency-wait": 5,
        "default-resources": {"slurm_partition": "debug"}}))
    return folder


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slurm")
    subprocess.run(["bash", str(CLUSTER), "start", str(folder)], check=True, timeout=600)
    try:
        yield {**os.environ, "SLURM_CONF": str(folder / "slurm.conf")}
    finally:
        subprocess.run(["bash", str(CLUSTER), "stop", str(folder)], check=False, timeout=60)


def test_workflow_profile_leaves_site_settings_to_the_site_profile():
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm" and profile["retries"] >= 1
    assert "default-resources" not in profile and "set-resources" not in profile


def test_torch_jobs_hold_a_gpu_with_a_cpu_share_on_one_gpu_partition(tmp_path):
    config = tiny_config(tmp_path / "results")
    config["jobs"] = {"gpus": 1, "gpu_partition": "gpu-a100", "threads": 3}
    result = snakemake(tmp_path, "-n", "--configfile", str(write_config(tmp_path / "c.json", config)))
    jobs = [block for block in re.split(r"\n(?=rule \w+:)", result.stdout) if block.startswith("rule ")]
    torch_rules = {"prepare_data", "train", "selectivity", "activation_maximisation", "single_unit_ablation",
                   "cumulative_ablation"}
    seen = set()
    for block in jobs:
        rule = block.split("rule ", 1)[1].split(":", 1)[0]
        rule = "activation_maximisation" if rule.startswith("activation_maximisation") else rule  # one per method set
        seen.add(rule)
        on_gpu = rule in torch_rules - {"prepare_data"}
        assert ("gpu=1" in block and "cpus_per_gpu=3" in block and "slurm_partition=gpu-a100" in block) == on_gpu, block
    assert torch_rules <= seen


def test_tiny_study_on_slurm_equals_a_local_run(slurm_cluster, tmp_path):
    local, cluster = tmp_path / "local", tmp_path / "cluster"
    write_cifar_batches(tmp_path / "cifar")
    for workdir in (local, cluster):
        workdir.mkdir()
        write_config(workdir / "study.json", slurm_study_config(workdir, tmp_path / "cifar"))
    with ThreadPoolExecutor(1) as pool:  # the local run goes on while the cluster's jobs wait for the scheduler
        local_run = pool.submit(snakemake, local, "--cores", "2", "--configfile", str(local / "study.json"))
        snakemake(cluster, "--profile", str(site_profile(tmp_path / "site")), "--workflow-profile",
                  str(REPO / "profiles" / "slurm"), "--configfile", str(cluster / "study.json"),
                  env=slurm_cluster, timeout=1500)
        local_run.result()

    records = {path: json.loads(path.read_text()) for path in (cluster / "results").rglob("*.prov.json")}
    assert len(records) > 20
    download = cluster / "results" / "cifar" / "data" / "download.json.prov.json"
    assert records.pop(download)["slurm_job_id"] is None, "the download rule must run where Snakemake runs"
    summaries = {"stats", "study-stats", "figures", "robustness", "study-figures", "report-pages"}
    local_steps = {r["command"] for r in records.values() if r["slurm_job_id"] is None}
    assert local_steps == summaries, "torch steps run in SLURM jobs, the seconds-long summary steps where Snakemake runs"
    job_ids = {r["slurm_job_id"] for r in records.values() if r["command"] not in summaries}
    assert None not in job_ids and len(job_ids) >= 10  # one SLURM job per torch rule instance

    tables = [p.relative_to(local / "results") for p in (local / "results").rglob("*")
              if p.suffix in (".csv", ".npy", ".pt") and "benchmarks" not in p.parts]
    assert len(tables) > 20
    different = [str(t) for t in tables if not filecmp.cmp(local / "results" / t, cluster / "results" / t,
                                                           shallow=False)]
    assert different == []
