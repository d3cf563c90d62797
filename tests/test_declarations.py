"""Each step is declared once (:class:`repsub.cli.Step`): every rule's command passes exactly
the arguments its step declares, the step's input and output files are the job's, and a
summary step needs no file beyond its declared inputs."""

import re
import shlex
import shutil
from pathlib import Path

from conftest import REPO, tiny_config, write_config, write_image_folder
from repsub.cli import build_parser, main
from repsub.layout import SPLITS, split_path

RULE_FILES = sorted((REPO / "workflow" / "rules").glob("*.smk"))


def dry_run_jobs(workdir, *configfiles):
    """Every job of a forced dry run: its rule, input and output files and its step's argv."""
    from test_workflow import snakemake

    result = snakemake(workdir, "-n", "-p", "-F", "--configfile", *map(str, configfiles))
    jobs = []
    for block in re.split(r"\n(?=\[[^\n]*\d{4}\]\n)", result.stdout):
        command = re.search(r"^Shell command: python -m repsub (.*?) > ", block, re.M)
        if not command:
            continue

        def files(field):
            line = re.search(rf"^    {field}: (.*)$", block, re.M)
            return {Path(path).resolve() for path in line.group(1).split(", ")} if line else set()

        jobs.append({"rule": re.search(r"^(?:local)?rule (\w+):", block, re.M).group(1),
                     "inputs": files("input"), "outputs": files("output"), "argv": shlex.split(command.group(1))})
    return jobs


def check_job(job):
    """The job's command against its step's declaration; returns the step and the flags passed."""
    args = build_parser().parse_args(job["argv"])  # an undeclared flag stops here
    step = args.step
    passed = {word for word in job["argv"][1:] if word.startswith("--")}
    declared = set(step.declared())
    assert passed <= declared and declared - passed <= step.when_configured, (job["rule"], declared ^ passed)
    splits = [split_path(args.manifest, split) for split in SPLITS] if step.reads_splits else []  # none yet
    read = {Path(p).resolve() for p in [*step.inputs(args), *splits, *step.external_inputs(args)]}
    assert read <= job["inputs"], (job["rule"], "reads undeclared files", read - job["inputs"])
    waited_for = job["inputs"] - read  # inputs that only order jobs: a model's check, a data set's download
    assert {path.name for path in waited_for} <= {"model_check.json", "download.json"}, (job["rule"], waited_for)
    assert {Path(p).resolve() for p in step.outputs(args)} == job["outputs"], job["rule"]
    return step, passed


def other_kinds_config(tmp_path):
    """Runs that reach the rules the tiny study does not: a downloaded CIFAR-10 (no internet
    needed for a dry run), downloaded ImageNet weights, a torchvision model's check and
    stored weights, a registered training, and a variant that only recounts RS."""
    import torch
    import torchvision

    root = write_image_folder(tmp_path / "shapes", classes=("a", "b", "c"), per_class=2, size=16)
    torch.save(torchvision.models.resnet18(num_classes=3).state_dict(), tmp_path / "resnet18.pt")
    config = tiny_config(tmp_path / "results", variants={"near_ties": {"am": {"rs_tolerance": 0.01}}})
    config["datasets"] = {"shapes": {"source": "imagefolder", "root": str(root)},
                          "cifar": {"source": "cifar10", "root": str(tmp_path / "cifar"), "download": True},
                          "imagenet": {"source": "imagefolder", "root": str(root)}}
    config["runs"] = [
        {"dataset": "shapes", "model": "torchvision:resnet18", "seeds": [0], "layers": ["relu", "flatten"],
         "model_options": {"weights": str(tmp_path / "resnet18.pt")}},
        {"dataset": "imagenet", "model": "vgg16_imagenet", "seeds": [0], "layers": ["fc2"],
         "model_options": {"weights": "IMAGENET1K_V1"}},
        {"dataset": "cifar", "model": "mlp", "seeds": [0], "layers": ["fc1"], "train": {"epochs": 1}},
    ]
    config["registration"] = {"file": "docs/REGISTRATION.md", "seeds": [0], "runs": ["mlp"]}
    return write_config(tmp_path / "other.json", config)


def test_every_rule_passes_exactly_its_steps_declared_arguments(tmp_path):
    jobs = [*dry_run_jobs(tmp_path, write_config(tmp_path / "tiny.json", tiny_config(tmp_path / "results"))),
            *dry_run_jobs(tmp_path, other_kinds_config(tmp_path))]
    steps, passed = {}, set()
    for job in jobs:
        step, flags = check_job(job)
        steps[step.name] = step
        passed |= {(step.name, flag) for flag in flags}
    in_rules = {m for path in RULE_FILES for m in re.findall(r"python -m repsub ([\w-]+)", path.read_text())}
    assert set(steps) == in_rules  # every step a rule runs was checked
    when_configured = {(name, flag) for name, step in steps.items() for flag in step.when_configured}
    assert when_configured and when_configured <= passed  # each was passed where its config asks


def replay_in_a_fresh_folder(job, results, fresh):
    """Run ``job``'s step with only its declared inputs (and their records) copied into
    ``fresh``; returns the step's status and a map of its outputs to the study's."""
    for path in job["inputs"]:
        for source in (path, Path(str(path) + ".prov.json")):
            if source.is_file():
                target = fresh / source.relative_to(results)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    argv = [word.replace(str(results), str(fresh)) for word in job["argv"]]
    return main(argv), {fresh / path.relative_to(results): path for path in job["outputs"]}


SUMMARY_RULES = ("model_statistics", "model_figures", "study_statistics", "robustness", "study_figures",
                 "report_pages")


def check_summary_steps_need_only_their_declared_inputs(study, tmp_path):
    """Called from tests/test_workflow.py with its finished tiny study."""
    results = study.resolve()
    jobs = dry_run_jobs(study.parent, study.parent / "tiny.json")
    checked = set()
    for job in jobs:
        if job["rule"] not in SUMMARY_RULES or (job["rule"] in checked and job["rule"] != "model_statistics"):
            continue
        checked.add(job["rule"])
        fresh = tmp_path / f"fresh-{len(list(tmp_path.iterdir()))}"
        status, outputs = replay_in_a_fresh_folder(job, results, fresh)
        assert status == 0, job["argv"]
        for made, original in outputs.items():
            assert made.is_file(), made
            if made.suffix in (".csv", ".html"):
                text = made.read_text().replace(str(fresh), str(results))
                assert text == original.read_text(), made
    assert checked == set(SUMMARY_RULES)
