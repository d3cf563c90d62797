"""A data set's finished results as a referee needs them, in a folder to commit.

The study's claims, statistics (per seed and pooled), trajectory and robustness
tables, each analysis variant's trajectory (the AM steps a long-AM variant adds), and
its registered analysis where it has one; per run its per-unit table,
per-seed training metrics and cumulative-ablation curves (one table each, with a seed
column); the figures (PNG). ``published.json``
names each file's source under the results folder and the sha256 of what was read.
Nothing derived from a data set's images is copied beyond the figures (arrays of AM
images and top images stay in the results folder).
"""

import shutil
import tempfile
from pathlib import Path

import pandas as pd

from . import layout
from .errors import UserError
from .io import read_json, read_table, sha256_file, write_csv, write_json
from .provenance import check_made
from .stats import CUMULATIVE_COLUMNS, per_seed


VARIANTS = "variants"  # the published folder's subfolder of the variants' tables
SEED_TABLES = {"metrics.csv": ["epoch", "test_accuracy"], "cumulative.csv": CUMULATIVE_COLUMNS}


def publish(results: Path, dataset: str, out: Path):
    """Publish ``dataset``'s study from ``results`` into ``out`` (new or empty, written
    whole or not at all); the runs published and the number of files."""
    check_out(results, out)
    runs, copies, tables = sources(results, dataset)  # runs: {run: seeds}
    check_made([*copies.values(), *(path for paths in tables.values() for path in paths.values())])
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    # a folder of this call's own: an earlier call's leftovers, or anyone's files, are never removed
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.publishing-", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp's folder is private; the published one is read by anyone
    try:
        for name, source in copies.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, staging / name)
        for name, paths in tables.items():
            write_csv(staging / name, _seed_table(paths, SEED_TABLES[Path(name).name]))
        registered = registered_trainings(results, dataset, runs)
        if registered:
            write_csv(staging / REGISTRATION_TABLE, pd.DataFrame([row for row, _ in registered]))
        write_json(staging / "published.json", {
            "results": str(results.resolve()), "dataset": dataset,
            "files": {name: {"from": str(source.relative_to(results)), "sha256": sha256_file(source)}
                      for name, source in copies.items()},
            "tables": {name: {"from": [str(p.relative_to(results)) for p in paths.values()],
                              "sha256": [sha256_file(p) for p in paths.values()]} for name, paths in tables.items()}
            | ({REGISTRATION_TABLE: {"from": [str(record.relative_to(results)) for _, record in registered],
                                     "sha256": [sha256_file(record) for _, record in registered]}} if registered else {})})
        if out.exists():
            out.rmdir()
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return list(runs), len(copies) + len(tables) + bool(registered) + 1


def check_out(results: Path, out: Path):
    """Refuse an ``out`` that is not a new or empty folder of its own: one that holds files, the
    working folder, or one equal to, inside or above the results folder."""
    where, study = out.resolve(), results.resolve()
    if where == Path.cwd().resolve() or where in (study, *study.parents) or study in where.parents:
        raise UserError(f"--out {out} is the working folder, or the results folder, inside it or above it; publish "
                        f"into a new folder of its own such as docs/results/NAME")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} exists and is not an empty folder; publish into a new folder (remove the old one "
                        f"first to replace it)")


def sources(results: Path, dataset: str):
    """The runs, the files copied as they are (published name -> source) and the tables
    gathered over seeds (published name -> {seed: source})."""
    study = {"claims.csv": layout.claims(results, dataset, layout.BASE),
             "stats.csv": layout.study_stats(results, dataset, layout.BASE),
             "trajectory.csv": layout.study_trajectory(results, dataset, layout.BASE),
             "robustness.csv": layout.robustness(results, dataset)}
    missing = [str(p) for p in study.values() if not p.is_file()]
    if missing:
        raise UserError(f"{results} holds no finished study of {dataset} ({', '.join(missing)} missing); "
                        f"run the workflow to its end first")
    # The study's own table says which runs and seeds it holds: a run folder left from an
    # earlier config, or a run's per-unit table from fewer seeds, is not part of it.
    stats = per_seed(read_table(study["stats.csv"], ["model", "seed"], "publish"))
    study_seeds = {run: sorted(set(rows.seed.astype(int))) for run, rows in stats.groupby("model", sort=True)}
    copies, tables = dict(study), {}
    for run, seeds in study_seeds.items():
        units = layout.model_units(results, dataset, run, layout.BASE)
        if not units.is_file():
            raise UserError(f"{units} is missing although the study's stats.csv holds run {run}; "
                            f"run the workflow to its end first")
        found = read_table(units, ["seed", "layer"], "publish")
        unit_seeds = sorted(set(found.seed.astype(int)))
        if unit_seeds != seeds:
            raise UserError(f"{units} holds seeds {unit_seeds} but the study's stats.csv holds {seeds} for run {run}; "
                            f"run the workflow to its end first")
        copies[f"{run}/units.csv"] = units
        layers = list(dict.fromkeys(found.layer))
        tables[f"{run}/metrics.csv"] = {seed: layout.metrics(results, dataset, run, seed) for seed in seeds}
        tables[f"{run}/cumulative.csv"] = {(seed, layer): layout.cumulative(results, dataset, run, seed, layer)
                                           for seed in seeds for layer in layers}
        copies.update({f"{run}/{figure}.png": layout.figure(results, dataset, run, figure)
                       for figure in layout.MODEL_FIGURES})
    copies.update({f"{figure}.png": layout.study_figure(results, dataset, figure) for figure in layout.STUDY_FIGURES})
    # each variant's trajectory, of the variants the study's robustness table holds (the
    # rows of C3's cuts read the base's statistics again and have none)
    variants = dict.fromkeys(read_table(study["robustness.csv"], ["variant"], "publish").variant)
    copies.update({f"{VARIANTS}/{variant}/trajectory.csv": layout.study_trajectory(results, dataset, variant)
                   for variant in variants if variant != layout.BASE})
    # the registered analysis, where the study has one (only the files that exist are copied)
    copies.update({f"registered/{table}.csv": layout.registered(results, dataset, table)
                   for table in layout.REGISTERED_TABLES})
    copies = {name: path for name, path in copies.items() if path.is_file()}
    tables = {name: {key: path for key, path in paths.items() if path.is_file()} for name, paths in tables.items()}
    return study_seeds, copies, {name: paths for name, paths in tables.items() if paths}


REGISTRATION_TABLE = "registration.csv"


def registered_trainings(results: Path, dataset: str, runs: dict):
    """(row, record) for each training made under a registration: its run, seed, the sha256 of
    the registered text it recorded, when it started and ended, and the code it ran, so that
    a clone can check each against the committed registration (tests/test_committed_results.py)."""
    found = []
    for run, seeds in runs.items():
        for seed in seeds:
            record = Path(str(layout.checkpoint(results, dataset, run, seed)) + ".prov.json")
            made = read_json(record) if record.is_file() else {}
            if made.get("registration"):
                found.append(({"model": run, "seed": seed, "registration": made["registration"]["file"],
                               "registered_sha256": made["registration"]["registered_sha256"],
                               "started": made["started"], "ended": made["ended"],
                               "git_commit": made["code"]["git_commit"]}, record))
    return found


def _seed_table(paths, columns):
    """The tables of ``paths`` ({seed or (seed, layer): path}) in one, a seed column first."""
    frames = [read_table(path, columns, "publish").assign(seed=key if isinstance(key, int) else key[0])
              for key, path in paths.items()]
    table = pd.concat(frames, ignore_index=True)
    return table[["seed", *[c for c in table.columns if c != "seed"]]]
