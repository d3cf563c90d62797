"""What the summary steps do: per-unit tables into statistics, claims and figures
(the parser is in :mod:`repsub.cli`)."""

from pathlib import Path

from . import layout
from .errors import UserError
from .io import load_npy


def given_tables(args):
    """The run's tables as ``--tables`` passes them, each with the kind, seed, layer and method
    its place in the order of :func:`repsub.layout.run_table_slots` gives it."""
    slots = list(layout.run_table_slots(args.seeds, args.layers, args.methods, getattr(args, "variant", layout.BASE)))
    order = "in the order 'python -m repsub stats --help' gives"
    if len(args.tables) != len(slots):
        raise UserError(f"--tables names {len(args.tables)} files where seeds {args.seeds}, layers {args.layers} and "
                        f"methods {args.methods} have {len(slots)}; pass every table of the run {order}")
    for (kind, seed, layer, method), path in zip(slots, args.tables):
        if Path(path).name != layout.TABLE_FILES[kind]:
            where = " ".join(str(part) for part in (f"seed {seed}", layer, method) if part is not None)
            raise UserError(f"--tables gives {path} where the {layout.TABLE_FILES[kind]} of {where} belongs; pass "
                            f"the tables {order}")
    return [layout.Table(*slot, Path(path)) for slot, path in zip(slots, args.tables)]


def stats_command(args):
    import pandas as pd

    from .io import write_csv
    from .settings import AblationSettings
    from .stats import (cumulative_statistics, layer_statistics, pool_seeds, trajectory_statistics, unit_table,
                        without_unmoved)

    tables = given_tables(args)
    units = unit_table(tables, args.dataset, args.model, args.architecture, args.layers, args.methods,
                       AblationSettings.from_dict(args.ablation_settings))
    if args.exclude_unmoved == "true":
        units = without_unmoved(units)
    write_csv(args.units, units)
    # strict fp32, or a checked low precision whose losses (not predictions) differ from fp32's
    precision = "+".join(sorted({ablation_mode(t.path) for t in tables if t.kind == "ablation"}))
    rows = pd.concat([layer_statistics(units), cumulative_statistics(units, tables)], ignore_index=True)
    write_csv(args.out, pool_seeds(rows.assign(ablation_precision=precision, batch_norm=args.batch_norm)))
    write_csv(args.trajectory, trajectory_statistics(units, tables))


def ablation_images(path, manifest) -> str:
    """How many images cumulative ablation measured ``path`` on, from its record's settings and
    the data's split sizes: "1,000 test images" (or "images not recorded" for a hand-made table)."""
    import json

    from .provenance import record_path

    try:
        parameters = json.loads(record_path(path).read_text())["parameters"]
        split, cap = parameters["split"], parameters["settings"].get("max_images")
        count = min(cap or manifest["counts"][split], manifest["counts"][split])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "images not recorded"
    return f"{count:,} {split} images"


def ablation_mode(path):
    """How single-unit ablation computed ``path`` (its record's precision mode): fp32, a
    checked low precision, or unrecorded for a table made by hand."""
    import json

    from .provenance import record_path

    try:
        return json.loads(record_path(path).read_text())["precision"]["mode"]
    except (OSError, ValueError, KeyError, TypeError):
        return "unrecorded"


def study_stats_command(args):
    import pandas as pd

    from .claims import claims_table, verdicts_by_step
    from .io import read_table, write_csv
    from .stats import STATS_COLUMNS

    stats = pd.concat([read_table(path, STATS_COLUMNS, "stats") for path in args.inputs], ignore_index=True)
    trajectory = pd.concat([read_table(path, [*STATS_COLUMNS, "step"], "stats") for path in args.trajectories],
                           ignore_index=True)
    write_csv(args.out, stats)
    write_csv(args.trajectory, trajectory)
    claims = claims_table(stats)
    write_csv(args.claims, claims.assign(verdict_by_step=verdicts_by_step(stats, trajectory, claims)))


def restate_command(args):
    from .claims import claims_table
    from .io import read_table, write_csv
    from .stats import STATS_COLUMNS, restate

    stats = restate(read_table(args.stats, STATS_COLUMNS, "study-stats"))
    write_csv(args.out, stats)
    write_csv(args.claims, claims_table(stats))


def registered_command(args):
    from .io import read_table, write_csv
    from .registered import joined_seeds, primary_test, samples
    from .registration import registered_text
    from .stats import STATS_COLUMNS

    registered_text(args.registration)  # readable, or one sentence
    stats = joined_seeds([read_table(path, STATS_COLUMNS, "study-stats") for path in args.stats], args.stats)
    sample_table, claims = samples(stats, args.seeds, args.runs)
    primary = primary_test(sample_table[sample_table["sample"] == "confirmatory"])
    write_csv(args.out, sample_table)
    write_csv(args.claims, claims)
    write_csv(args.primary, primary)
    print(f"primary test: {', '.join(f'{run} {v}' for run, v in dict(zip(primary.model, primary.verdict)).items())}"
          f"; the paper's claim: {primary.reading.iloc[0]}")


def figure_files(args):
    return [Path(args.out_dir) / f"{stem}.{suffix}" for stem in layout.MODEL_FIGURES for suffix in ("png", "pdf")]


def am_arrays(args, paths, seed, layer, method, shape):
    """A layer's AM images, unit ids and substitution matrix, checked against each other and
    against the data's image ``shape``."""
    def load(kind, ndim):
        return load_npy(paths[kind, seed, layer, method], "am", ndim)

    import numpy as np

    images, units, substitution = load("images", 4), load("units", 1), load("substitution", 2)
    where = f"the AM arrays of {args.model} seed {seed} {layer} {method}"
    fix = "delete that folder and rerun the workflow"
    if not len(images) == len(units) == len(substitution):
        raise UserError(f"{where} disagree ({len(images)} images, {len(units)} units, {len(substitution)} "
                        f"substitution rows); {fix}")
    if images.shape[1:] != shape or not np.isfinite(images).all() or images.min() < 0 or images.max() > 1:
        raise UserError(f"{where}: images.npy holds images of shape {images.shape[1:]} or values not finite or outside [0, 1], "
                        f"where the data's images are {shape} in [0, 1]; {fix}")
    if not np.issubdtype(units.dtype, np.integer) or len(set(units.tolist())) != len(units) or units.min() < 0 \
            or units.max() >= substitution.shape[1] or not np.isfinite(substitution).all():
        raise UserError(f"{where}: units.npy or substitution.npy names units outside the layer's "
                        f"{substitution.shape[1]} or holds values that are not finite; {fix}")
    return images, units, substitution


def figures_command(args):
    import pandas as pd

    from . import figures
    from .io import read_table, save_figure
    from .manifest import read_manifest
    from .settings import METHOD_NAMES, OPTIMISED, RS_ORDER_METHOD
    from .stats import CUMULATIVE_COLUMNS

    units = read_table(args.units, ["seed", "layer", "unit", "selectivity", "dead", "accuracy_drop",
                                    *[f"rs_{m}" for m in args.methods]], "stats")
    missing = sorted(set(map(str, args.seeds)) - set(units.seed))
    if missing:
        raise UserError(f"{args.units} has no seed {', '.join(missing)}; give --seeds of the run "
                        f"({', '.join(sorted(set(units.seed)))})")
    absent = [layer for layer in args.layers if layer not in set(units.layer)]
    if absent:
        raise UserError(f"{args.units} has no units of layer {absent[0]}; give --layers of the run "
                        f"({', '.join(dict.fromkeys(units.layer))})")
    tables = given_tables(args)
    paths = layout.table_paths(tables)
    name = f"{args.model} on {args.dataset}"
    seed = args.seeds[0]
    seed_units = units[units.seed == str(seed)]
    out = Path(args.out_dir)

    def save(figure, stem):
        save_figure(figure, out / f"{stem}.png", out / f"{stem}.pdf")
        figures.plt.close(figure)

    save(figures.selectivity_vs_rs(seed_units, f"{name}, seed {seed}: selectivity vs RS", args.methods),
         "fig1_selectivity_vs_rs")
    last = args.layers[-1]
    save(figures.selectivity_vs_rs(seed_units[seed_units.layer == last],
                                   f"{name}: {last}, the layer before the classifier", args.methods),
         "fig3a_fc_selectivity_vs_rs")
    method = "iam" if "iam" in args.methods else args.methods[0]
    manifest = read_manifest(args.manifest)
    shape = tuple(manifest["image_shape"])
    panels = {}
    for layer in args.layers:
        alive = seed_units[(seed_units.layer == layer) & ~seed_units.dead.astype(bool)
                           & seed_units[f"rs_{method}"].notna()]  # units that have an AM image
        if alive.selectivity.notna().any():
            best = int(alive.loc[alive.selectivity.idxmax(), "unit"])
            panels[layer] = (*am_arrays(args, paths, seed, layer, method, shape), best)
    save(figures.substitutes(panels, f"{name}: most selective unit's {METHOD_NAMES[method]} image and its "
                                     f"two best substitutes"), "fig2_substitutes")
    save(figures.ablation_scatter(seed_units, f"{name}, seed {seed}: single-unit ablation"),
         "ablation_drop_vs_scores")
    cumulative = pd.concat([read_table(t.path, CUMULATIVE_COLUMNS, "cumulative") for t in tables
                            if t.kind == "cumulative"])
    images = ablation_images(paths["cumulative", seed, args.layers[0], None], manifest)
    column = f"rs_{RS_ORDER_METHOD}"  # absent where that method was not run
    ranked = ({layer: (int(rows[column].notna().sum()), len(rows)) for layer, rows in seed_units.groupby("layer")}
              if column in seed_units else {})
    save(figures.cumulative_curves(cumulative, f"{name}: cumulative ablation (all seeds, {images})", ranked),
         "cumulative_ablation")
    metrics = {t.seed: read_table(t.path, ["epoch", "test_loss", "test_accuracy"], "train") for t in tables
               if t.kind == "metrics"}
    save(figures.training_curves(metrics, f"{name}: training"), "training_curves")
    save(figures.rs_distribution(seed_units, f"{name}, seed {seed}: RS per layer and method", args.methods),
         "rs_distribution")
    traced = [(layer, method) for layer in args.layers for method in args.methods if method in OPTIMISED]
    if len(args.traces) != len(traced):
        raise UserError(f"--traces names {len(args.traces)} files for the {len(traced)} optimised methods and layers "
                        f"of seed {seed}; pass one trace.csv per layer and method, layer by layer")
    traces = [read_table(path, ["step", "unit", "objective"], "am").assign(layer=layer, method=method)
              for (layer, method), path in zip(traced, args.traces)]
    save(figures.am_convergence(pd.concat(traces, ignore_index=True), f"{name}, seed {seed}: AM convergence"),
         "am_convergence")


def robustness_command(args):
    from . import figures
    from .io import read_table, save_figure, write_csv
    from .robustness import read_claims, robustness_table

    from .stats import STATS_COLUMNS

    if len(args.stats) != len(args.variants):
        raise UserError(f"--stats names {len(args.stats)} files for {len(args.variants)} --variants; pass one study "
                        f"stats file per variant, in the same order")
    stats = {v: read_table(path, STATS_COLUMNS, "study-stats") for v, path in zip(args.variants, args.stats)}
    table = robustness_table(read_claims(args.claims, args.variants), args.layers, stats[args.variants[0]])
    write_csv(args.out, table)
    save_figure(figures.robustness_grid(table), args.figure, pdf_beside(args.figure))
    save_figure(figures.forest(stats), args.forest, pdf_beside(args.forest))


def study_figures_command(args):
    from . import figures
    from .io import read_table, save_figure
    from .stats import STATS_COLUMNS

    stats = read_table(args.stats, STATS_COLUMNS, "study-stats")
    save_figure(figures.correlation_vs_depth(stats), args.out, pdf_beside(args.out))
    trajectory = read_table(args.trajectory, [*STATS_COLUMNS, "step"], "study-stats")
    save_figure(figures.correlation_vs_step(trajectory), args.trajectory_figure, pdf_beside(args.trajectory_figure))


def report_pages_command(args):
    """The claims and robustness tables of each data set as HTML pages, and the report's front page."""
    import pandas as pd

    from .claims import CLAIMS_COLUMNS
    from .io import read_table, write_text
    from .report_pages import claims_body, front_page, page, table_html
    from .robustness import ROBUSTNESS_COLUMNS

    for flag in ("claims_pages", "robustness", "robustness_pages", "stats", "manifests"):
        if len(getattr(args, flag)) != len(args.claims):
            raise UserError(f"--{flag.replace('_', '-')} names {len(getattr(args, flag))} files for "
                            f"{len(args.claims)} --claims; pass one per data set, in the same order")
    claims = [read_table(path, CLAIMS_COLUMNS, "study-stats") for path in args.claims]
    for table, path in zip(claims, args.claims_pages):
        write_text(path, page(f"Claims on {', '.join(table.dataset.unique())} (base analysis)", claims_body(table)))
    for source, path in zip(args.robustness, args.robustness_pages):
        table = read_table(source, ROBUSTNESS_COLUMNS, "robustness")
        write_text(path, page(f"Verdicts across the analysis variants on {', '.join(table.dataset.unique())}",
                              table_html(table)))
    from .manifest import read_manifest
    from .stats import STATS_COLUMNS

    stats = pd.concat([read_table(path, STATS_COLUMNS, "study-stats") for path in args.stats], ignore_index=True)
    manifests = {m["dataset"]: m for m in (read_manifest(path) | {"dataset": claim.dataset.iloc[0]}
                                           for path, claim in zip(args.manifests, claims))}
    measured = [run | {"accuracy": [read_table(path, ["epoch", "test_accuracy"], "train").test_accuracy.iloc[-1]
                                    for path in run["metrics"]]} for run in args.runs]
    write_text(args.front_page, front_page(pd.concat(claims, ignore_index=True), args.configfiles, measured, stats,
                                           manifests))


def pdf_beside(png):
    """The PDF that a study figure's command writes beside its PNG."""
    return Path(png).with_suffix(".pdf")


def pdf_of(*flags):
    """``more_outputs`` of a step whose figure PNGs are arguments ``flags``: the PDF beside each."""
    return lambda args: [pdf_beside(getattr(args, flag)) for flag in flags]


def article_command(args):
    from .article import render
    from .io import write_text

    write_text(args.out, render(args.template, args.study, args.ours, args.paper, args.registered, args.power))
    print(f"rendered {args.out} from {args.template}")


def publish_command(args):
    from .publish import publish

    runs, count = publish(Path(args.results), args.dataset, Path(args.out))
    print(f"published {count} files of {args.dataset} ({', '.join(runs)}) into {args.out}")
