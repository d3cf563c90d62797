"""Command-line steps that turn per-unit tables into statistics, claims and figures."""

from pathlib import Path

from . import layout
from .errors import UserError
from .io import load_npy


def _run_files(args):
    """The per-seed tables a run's statistics and figures are made from."""
    files = []
    for seed in args.seeds:
        files += [layout.metrics(args.results, args.dataset, args.model, seed),
                  layout.selectivity(args.results, args.dataset, args.model, seed)]
        for layer in args.layers:
            files += [layout.ablation(args.results, args.dataset, args.model, seed, layer),
                      layout.cumulative(args.results, args.dataset, args.model, seed, layer)]
            files += [layout.am_file(args.results, args.dataset, args.model, seed, layer, method, kind)
                      for method in args.methods for kind in ("rs", "images", "units", "substitution")]
    return files


def run_stats(args):
    from .io import write_csv
    from .stats import layer_statistics, pool_seeds, unit_table

    units = unit_table(args.results, args.dataset, args.model, args.seeds, args.layers, args.methods)
    write_csv(args.units, units)
    write_csv(args.out, pool_seeds(layer_statistics(units)))
    return {"read": _run_files(args)}


def run_study_stats(args):
    import pandas as pd

    from .claims import claims_table
    from .io import read_table, write_csv
    from .stats import STATS_COLUMNS

    stats = pd.concat([read_table(path, STATS_COLUMNS, "stats") for path in args.inputs], ignore_index=True)
    write_csv(args.out, stats)
    write_csv(args.claims, claims_table(stats))
    return {"read": args.inputs}


def figure_files(args):
    return [Path(args.out_dir) / f"{stem}.{suffix}" for stem in layout.MODEL_FIGURES for suffix in ("png", "pdf")]


def am_arrays(args, seed, layer, method):
    """A layer's AM images, unit ids and substitution matrix, checked against each other."""
    def load(kind, ndim):
        return load_npy(layout.am_file(args.results, args.dataset, args.model, seed, layer, method, kind), "am", ndim)

    images, units, substitution = load("images", 4), load("units", 1), load("substitution", 2)
    if not len(images) == len(units) == len(substitution):
        raise UserError(f"the AM arrays of {args.model} seed {seed} {layer} {method} disagree ({len(images)} images, "
                        f"{len(units)} units, {len(substitution)} substitution rows); delete that folder and rerun "
                        f"the workflow")
    return images, units, substitution


def run_figures(args):
    import pandas as pd

    from . import figures
    from .io import read_table, save_figure

    units = read_table(args.units, ["seed", "layer", "unit", "selectivity", "dead", "accuracy_drop",
                                    *[f"rs_{m}" for m in args.methods]], "stats")
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
    panels = {}
    for layer in args.layers:
        alive = seed_units[(seed_units.layer == layer) & ~seed_units.dead.astype(bool)
                           & seed_units[f"rs_{method}"].notna()]  # units that have an AM image
        if alive.selectivity.notna().any():
            best = int(alive.loc[alive.selectivity.idxmax(), "unit"])
            panels[layer] = (*am_arrays(args, seed, layer, method), best)
    save(figures.substitutes(panels, f"{name}: most selective unit's {method.upper()} image and its "
                                     f"two best substitutes"), "fig2_substitutes")
    save(figures.ablation_scatter(seed_units, f"{name}, seed {seed}: single-unit ablation"),
         "ablation_drop_vs_scores")
    cumulative = pd.concat([read_table(layout.cumulative(args.results, args.dataset, args.model, s, layer),
                                       ["layer", "order", "fraction", "accuracy"], "cumulative")
                            for s in args.seeds for layer in args.layers])
    save(figures.cumulative_curves(cumulative, f"{name}: cumulative ablation (all seeds)"), "cumulative_ablation")
    metrics = {s: read_table(layout.metrics(args.results, args.dataset, args.model, s),
                             ["epoch", "test_loss", "test_accuracy"], "train") for s in args.seeds}
    save(figures.training_curves(metrics, f"{name}: training"), "training_curves")
    return {"read": _run_files(args)}


def run_study_figures(args):

    from . import figures
    from .io import read_table, save_figure
    from .stats import STATS_COLUMNS

    stats = read_table(args.stats, STATS_COLUMNS, "study-stats")
    save_figure(figures.correlation_vs_depth(stats), args.out, Path(args.out).with_suffix(".pdf"))


def study_figure_pdf(args):
    return [Path(args.out).with_suffix(".pdf")]


def add_report_steps(sub, Step, INPUTS, OUTPUTS):
    def run_arguments(step):
        step.parser.add_argument("--results", default="results", help="results folder")
        step.parser.add_argument("--dataset", required=True)
        step.parser.add_argument("--model", required=True)
        step.parser.add_argument("--seeds", type=int, nargs="+", required=True)
        step.parser.add_argument("--layers", nargs="+", required=True)
        step.parser.add_argument("--methods", nargs="+", default=["am", "iam"], choices=("am", "iam"))
        return step

    step = run_arguments(Step(sub, "stats", "Merge a run's unit tables; Spearman statistics per layer.", run_stats))
    step.add_file(OUTPUTS, "--units", "merged per-unit CSV to write").add_file(OUTPUTS, "--out", "stats CSV")

    step = Step(sub, "study-stats", "Concatenate the runs' statistics and test the paper's claims.", run_study_stats)
    step.parser.add_argument("--inputs", nargs="+", required=True, help="per-run stats CSVs")
    step.add_file(OUTPUTS, "--out", "study stats CSV").add_file(OUTPUTS, "--claims", "claims CSV")

    step = run_arguments(Step(sub, "figures", "A run's figures (PNG and PDF).", run_figures, more_outputs=figure_files))
    step.add_file(INPUTS, "--units", "merged per-unit CSV from 'stats'")
    step.parser.add_argument("--out-dir", required=True, help="folder for the figures")

    step = Step(sub, "study-figures", "Figures across runs: correlation against depth.", run_study_figures,
                more_outputs=study_figure_pdf)
    step.add_file(INPUTS, "--stats", "study stats CSV").add_file(OUTPUTS, "--out", "figure PNG (a PDF goes beside it)")
