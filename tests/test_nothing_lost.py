"""Nothing lost: a refused step leaves every earlier output and record as it was, publish
removes only what it made, and layer names survive CSV round trips (a resumed run redoing
every unfinished job is tested with the killed run, in test_workflow.py)."""

import hashlib
import shutil
from pathlib import Path

import pytest

from conftest import REPO, small_study_steps
from repsub import layout
from repsub.cli import main


def snapshot(folder):
    """Every file under ``folder`` with its bytes' sha256 and modification time."""
    return {p.relative_to(folder): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def replaced(argv, flag, value):
    """``argv`` with ``flag``'s value replaced (or the flag added)."""
    argv = list(argv)
    if flag in argv:
        argv[argv.index(flag) + 1] = str(value)
        return argv
    return [*argv, flag, str(value)]


def bad_arguments(results, truncated):
    """Per step, wrong arguments a user may give when rerunning it by hand."""
    steps = small_study_steps(results)
    rs = layout.method_dir(results, "digits", "mlp", 0, "base", "fc1", "am") / "rs.csv"
    trace = rs.with_name("trace.csv")  # made by 'am', read by no statistics
    selectivity = layout.selectivity(results, "digits", "mlp", 0, "base")
    table = [("prepare", replaced(steps["prepare"], "--spec", '{"source": "nope"}'), "unknown data source"),
             ("prepare", replaced(steps["prepare"], "--spec", '{"source": "digits", "test_fraction": 0.999}'),
              "test_fraction")]
    for step in ("train", "selectivity", "am", "ablate", "cumulative"):
        table.append((step, replaced(steps[step], "--device", "gpu"), "unknown device 'gpu'"))
    for step in ("selectivity", "am", "ablate", "cumulative"):
        table.append((step, replaced(steps[step], "--checkpoint", truncated), str(truncated)))
    for step in ("am", "ablate", "cumulative"):
        table.append((step, replaced(steps[step], "--layer", "Conv2"), "Conv2"))
    table += [
        ("selectivity", replaced(steps["selectivity"], "--layers", "Conv2"), "Conv2"),
        ("train", replaced(steps["train"], "--settings", '{"epochs": null}'), "train.epochs"),
        ("am", replaced(steps["am"], "--settings", '{"transforms": [["scale"]]}'), "am.transforms"),
        ("ablate", replaced(steps["ablate"], "--settings", '{"fractions": null}'), "ablation.fractions"),
        ("cumulative", replaced(steps["cumulative"], "--rs", selectivity), "lacks the column"),
        ("stats", replaced(steps["stats"], "--units", trace), "finished output of the step 'am'"),
        ("stats", replaced(steps["stats"], "--units", rs), "both an input and an output"),
        ("stats", replaced(steps["stats"], "--layers", "Conv2"), "Conv2"),
        ("study-stats", replaced(steps["study-stats"], "--inputs", results / "missing.csv"), "missing.csv"),
        ("figures", replaced(steps["figures"], "--layers", "Conv2"), "Conv2"),
        ("study-figures", replaced(steps["study-figures"], "--stats", rs), "rs.csv"),
    ]
    return table


def test_a_refused_step_leaves_every_earlier_output_and_record_byte_for_byte(small_study, tmp_path, capsys):
    """Each wrong argument, given to a step rerun over its own finished outputs, is one sentence
    with exit status 2, and every file of the results tree (outputs and records) keeps its bytes
    and its modification time."""
    results = tmp_path / "results"
    shutil.copytree(small_study, results)
    truncated = tmp_path / "truncated.pt"
    checkpoint = layout.checkpoint(results, "digits", "mlp", 0)
    truncated.write_bytes(checkpoint.read_bytes()[:1000])
    before = snapshot(results)
    capsys.readouterr()
    for step, argv, named in bad_arguments(results, truncated):
        assert main([step, *argv]) == 2, (step, argv)
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error: ") and named in err, (step, named, err)
        assert snapshot(results) == before, (step, named)


def test_a_figure_path_without_suffix_is_refused_by_the_parser(small_study, capsys):
    argv = replaced(small_study_steps(small_study)["study-figures"], "--out", small_study / "figures" / "fig3b")
    with pytest.raises(SystemExit) as stop:
        main(["study-figures", *argv])
    assert stop.value.code == 2 and "must name a .png file" in capsys.readouterr().err


def test_a_rerun_that_fails_after_writing_began_puts_the_previous_outputs_back(small_study, tmp_path,
                                                                               monkeypatch):
    """A failure inside the step, once writing has begun, removes what the step wrote and
    returns the previous run's files."""
    from repsub import commands
    from repsub.errors import UserError

    results = tmp_path / "results"
    shutil.copytree(small_study, results)
    before = snapshot(results)

    def half_written(args):
        Path(args.out).write_text("half")
        raise UserError("the images could not be read; fix them")

    monkeypatch.setattr(commands, "selectivity_command", half_written)  # the parser takes it from there
    assert main(["selectivity", *small_study_steps(results)["selectivity"]]) == 2
    assert snapshot(results) == before


def test_publish_removes_only_what_it_made_and_refuses_a_folder_that_is_not_its_own(small_study, tmp_path,
                                                                                    capsys, monkeypatch):
    leftover = tmp_path / ".pub.publishing"
    leftover.mkdir()
    (leftover / "notes.txt").write_text("mine")
    result = main(["publish", "--results", str(small_study), "--dataset", "digits", "--out", str(tmp_path / "pub")])
    assert result == 2  # the small study has no robustness table: refused, nothing written
    assert (leftover / "notes.txt").read_text() == "mine" and not (tmp_path / "pub").exists()
    assert not list(tmp_path.glob(".pub.publishing-*"))
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)
    for out in (".", str(small_study), str(small_study / "digits" / "pub"), str(small_study.parent)):
        assert main(["publish", "--results", str(small_study), "--dataset", "digits", "--out", out]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "publish into a new folder of its own" in err, (out, err)


@pytest.mark.parametrize("flag", ["-n", "-np", "--dry-run"])
def test_a_dry_run_moves_no_unfinished_output_but_says_what_a_run_will(tmp_path, flag):
    from test_workflow import snakemake

    seed = tmp_path / "results" / "digits" / "mlp" / "seed0"
    seed.mkdir(parents=True)
    (seed / "metrics.csv").write_text("cut short")
    (seed / "metrics.csv.prov.json").write_text('{"format": 2, "status": "in_progress", "command": "train", '
                                                '"started": "2026-12-05T00:00:00+00:00", "host": "elsewhere", '
                                                '"pid": 1}')
    before = snapshot(tmp_path / "results")
    said = snakemake(tmp_path, flag, "--configfile", str(REPO / "config.yaml"), "--config",
                     f"results={tmp_path / 'results'}")
    assert snapshot(tmp_path / "results") == before
    assert "a run (not this dry run) will set aside 2 files" in said.stderr + said.stdout
