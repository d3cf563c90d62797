"""The paper's figures, regenerated from the per-unit tables (matplotlib, Agg)."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .claims import VERDICT_COLOURS  # noqa: E402
from .rs import top_substitutes  # noqa: E402
from .settings import METHOD_NAMES  # noqa: E402
from .stats import POOLED, per_seed  # noqa: E402
from .sheets import as_display  # noqa: E402

BASELINES_FIRST = ("noise", "top_image", "am", "iam")  # drawing order: the baselines under AM and IAM
METHOD_COLOURS = {"am": "tab:blue", "iam": "tab:orange", "noise": "tab:gray", "top_image": "tab:green"}
# AM and IAM points often overlap: told apart by shape (IAM open), not only by colour
METHOD_MARKERS = {"am": "o", "iam": "s", "noise": ".", "top_image": "^"}
SCORE_COLOURS = {"selectivity": "tab:red", "rs": "tab:blue", "mean_activation": "tab:green",
                 "weight_norm": "tab:purple"}
ORDER_STYLES = {f"{score}_{direction}": (colour, style) for score, colour in SCORE_COLOURS.items()
                for direction, style in (("high_to_low", "-"), ("low_to_high", "--"))}


def _grid(n_panels, width=3.2, height=2.8, columns=None):
    """Panels in a constrained layout, so that a legend can sit outside them."""
    columns = columns or min(n_panels, 4)
    rows = math.ceil(n_panels / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False,
                                layout="constrained")
    for ax in axes.flat[n_panels:]:
        ax.axis("off")
    return figure, axes.flat


def _legend_outside(figure, ax, fontsize=8):
    """One legend for the figure, right of the panels, off every data point."""
    figure.legend(*ax.get_legend_handles_labels(), loc="outside right upper", fontsize=fontsize, frameon=False)


def _unit_interval(ax, axis, values, name):
    """A score in [0, 1] on a fixed axis; where it never varies, say so in the panel."""
    (ax.set_xlim if axis == "x" else ax.set_ylim)(-0.03, 1.03)
    distinct = pd.Series(values).dropna().unique()
    if len(distinct) == 1:
        ax.text(0.5, 0.5, f"{name} = {distinct[0]:.3g} for every unit", transform=ax.transAxes, ha="center",
                fontsize=7, color="dimgray")


def selectivity_vs_rs(units: pd.DataFrame, title: str, methods=("am", "iam")):
    """Fig. 1 (and 3a, 4, 5, 6): selectivity against RS per layer, one colour per method, the
    baselines (noise, top image) drawn under AM and IAM."""
    layers = list(dict.fromkeys(units.sort_values("depth").layer))
    figure, axes = _grid(len(layers))
    for ax, layer in zip(axes, layers):
        alive = units[(units.layer == layer) & ~units.dead.astype(bool)]
        for order, method in enumerate(m for m in BASELINES_FIRST if m in methods):
            ax.scatter(alive.selectivity, alive[f"rs_{method}"], s=10, alpha=0.6, color=METHOD_COLOURS[method],
                       marker=METHOD_MARKERS[method], label=METHOD_NAMES[method], zorder=2 + order,
                       **({"facecolors": "none"} if method == "iam" else {"edgecolors": "none"}))
        ax.set(title=layer, xlabel="class selectivity", ylabel="RS (fraction of units)", xlim=(-0.02, 1.02),
               ylim=(-0.03, 1.03))
    _legend_outside(figure, axes[0])
    figure.suptitle(title)
    return figure


def substitutes(images_by_layer: dict, title: str):
    """Fig. 2: per layer, the most selective unit's IAM image and those of its two best substitutes.

    ``images_by_layer[layer]`` = (images, units, substitution, most selective unit).
    """
    layers = list(images_by_layer)
    figure, axes = plt.subplots(len(layers), 3, figsize=(6.3, 2.3 * len(layers)), squeeze=False)
    for row, layer in zip(axes, layers):
        images, units, substitution, unit = images_by_layer[layer]
        position = {int(u): k for k, u in enumerate(units)}
        activations = substitution[position[unit]]
        shown = [unit, *top_substitutes(activations, unit, k=2)]
        for ax, shown_unit, role in zip(row, shown, ("target", "substitute 1", "substitute 2")):
            ax.set(xticks=[], yticks=[])  # keep the frame: a saturated image is all white
            if shown_unit in position:
                ax.imshow(as_display(images[position[shown_unit]]), cmap="gray", vmin=0, vmax=1,
                          interpolation="nearest")
            ax.set_title(f"{layer} {role}: unit {shown_unit}\nactivation on target image "
                         f"{activations[shown_unit]:.3g}", fontsize=7)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


def correlation_vs_depth(stats: pd.DataFrame, x="selectivity"):
    """Fig. 3b: Spearman r of RS (IAM, or AM where IAM was not run) with selectivity against
    layer depth, one line per model, CI band."""
    y = "rs_iam" if (stats.y == "rs_iam").any() else "rs_am"
    rows = stats[(stats.seed == POOLED) & (stats.statistic == "spearman") & (stats.x == x) & (stats.y == y)]
    figure, ax = plt.subplots(figsize=(7.5, 3.8), layout="constrained")
    for (dataset, model), group in rows.groupby(["dataset", "model"], sort=True):
        group = group.sort_values("depth")
        line, = ax.plot(group.depth, group.value, marker="o", label=f"{model} ({dataset})")
        ax.fill_between(group.depth, group.ci_low, group.ci_high, color=line.get_color(), alpha=0.15)
    ax.axhline(0, color="grey", lw=0.8)
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))  # depths are layer counts
    ax.set(xlabel="layer depth (1 = first analysed layer)", ylabel=f"Spearman r({x}, {y})",
           title="RS/selectivity correlation against depth (band: 95% CI)")
    _legend_outside(figure, ax)
    return figure


def correlation_vs_step(trajectory: pd.DataFrame, x="selectivity"):
    """Spearman r(selectivity, RS) against the AM step RS was measured at, one line per layer
    (pooled over seeds), one panel per model and method: where the sign changes."""
    rows = trajectory[(trajectory.seed == POOLED) & (trajectory.statistic == "spearman") & (trajectory.x == x)
                      & trajectory.y.isin(["rs_am", "rs_iam"])]
    panels = list(dict.fromkeys(zip(rows.model, rows.y)))
    figure, axes = _grid(len(panels), width=3.8, columns=min(len(panels), 2))
    for ax, (model, y) in zip(axes, panels):
        panel = rows[(rows.model == model) & (rows.y == y)]
        colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, panel.layer.nunique()))
        for colour, (layer, line) in zip(colours, panel.sort_values("depth").groupby("layer", sort=False)):
            line = line.sort_values("step")
            ax.plot(line.step, line.value, marker="o", ms=3, color=colour, label=layer)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xscale("symlog", linthresh=1)
        steps = sorted(panel.step.unique())
        ax.set_xticks(steps, [str(s) for s in steps], fontsize=7)
        ax.set_xlim(-0.2, max(steps) * 1.15)
        ax.minorticks_off()
        ax.set(title=f"{model}: {METHOD_NAMES[y[3:]]}", xlabel="AM step (0: the starting noise)",
               ylabel=f"Spearman r({x}, RS)", ylim=(-1.05, 1.05))
        ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1, 0.5), frameon=False)  # off the lines
    figure.suptitle("r(selectivity, RS) along the AM trajectory, pooled over seeds", fontsize=10)
    return figure


def ablation_scatter(units: pd.DataFrame, title: str):
    """Single-unit accuracy drop against RS (IAM, or AM where IAM was not run) and against
    selectivity, per layer."""
    layers = list(dict.fromkeys(units.sort_values("depth").layer))
    rs = "rs_iam" if "rs_iam" in units else "rs_am"
    figure, axes = plt.subplots(len(layers), 2, figsize=(6.4, 2.5 * len(layers)), squeeze=False,
                                layout="constrained")
    for (ax_rs, ax_sel), layer in zip(axes, layers):
        alive = units[(units.layer == layer) & ~units.dead.astype(bool)]
        for ax, column, label in ((ax_rs, rs, f"RS ({METHOD_NAMES[rs[3:]]})"),
                                  (ax_sel, "selectivity", "class selectivity")):
            ax.scatter(alive[column], 100 * alive.accuracy_drop, s=8, alpha=0.6, edgecolors="none")
            ax.set(xlabel=label, ylabel="accuracy drop (points)", title=layer)
            _unit_interval(ax, "x", alive[column], label)
    figure.suptitle(title)
    return figure


def cumulative_curves(cumulative: pd.DataFrame, title: str, rs_coverage=None):
    """Accuracy as growing fractions of a layer are ablated, one panel per layer; bands span
    the repeats (random orders, and the tie-breaks of orders whose scores tie).
    ``rs_coverage``: layer -> (units with an RS, units); where AM took a subset, the panel says
    so, as its RS orders rank only that subset (the rest go last, in a seeded order)."""
    rs_coverage = rs_coverage or {}
    layers = list(dict.fromkeys(cumulative.layer))
    figure, axes = _grid(len(layers))
    for ax, layer in zip(axes, layers):
        data = cumulative[cumulative.layer == layer]
        randoms = data[data.order == "random"].groupby("fraction").accuracy
        ax.plot(randoms.mean().index, 100 * randoms.mean(), color="black", label="random")
        ax.fill_between(randoms.mean().index, 100 * randoms.min(), 100 * randoms.max(), color="black", alpha=0.15)
        for order, (colour, style) in ORDER_STYLES.items():
            repeats = data[data.order == order].groupby("fraction").accuracy
            curve = repeats.mean()
            ax.plot(curve.index, 100 * curve, color=colour, linestyle=style, label=order.replace("_", " "))
            if data[data.order == order].repeat.nunique() > 1:
                ax.fill_between(curve.index, 100 * repeats.min(), 100 * repeats.max(), color=colour, alpha=0.1)
        ranked, units = rs_coverage.get(layer, (0, 0))
        subset = f"\nRS orders rank {ranked} of {units} units" if 0 < ranked < units else ""
        ax.set(title=layer + subset, xlabel="fraction of units ablated", ylabel="test accuracy (%)", ylim=(0, 100))
    _legend_outside(figure, axes[0], fontsize=7)
    figure.suptitle(title)
    return figure


def training_curves(metrics_by_seed: dict, title: str):
    """Loss and accuracy per epoch and seed; a model whose weights were given (no epoch
    trained here) says so instead of drawing empty axes."""
    if all(len(metrics) == 1 and metrics.epoch.iloc[0] == 0 for metrics in metrics_by_seed.values()):
        figure, ax = plt.subplots(figsize=(6, 1.6), layout="constrained")
        accuracy = ", ".join(f"seed {seed} {100 * m.test_accuracy.iloc[0]:.2f}%" for seed, m in metrics_by_seed.items())
        ax.text(0.5, 0.5, f"weights given, not trained by the workflow\ntest accuracy: {accuracy}", ha="center",
                va="center")
        ax.axis("off")
        figure.suptitle(title)
        return figure
    figure, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
    for seed, metrics in metrics_by_seed.items():
        if "train_loss" in metrics:
            ax_loss.plot(metrics.epoch, metrics.train_loss, label=f"seed {seed} train")
            ax_acc.plot(metrics.epoch, 100 * metrics.train_accuracy, label=f"seed {seed} train")
        ax_loss.plot(metrics.epoch, metrics.test_loss, "--", label=f"seed {seed} test")
        ax_acc.plot(metrics.epoch, 100 * metrics.test_accuracy, "--", label=f"seed {seed} test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)")
    _legend_outside(figure, ax_acc, fontsize=7)
    figure.suptitle(title)
    return figure


def rs_distribution(units: pd.DataFrame, title: str, methods=("am", "iam")):
    """RS of every live unit per layer and method (box and points): how diverse RS is (claim C5)."""
    layers = list(dict.fromkeys(units.sort_values("depth").layer))
    figure, axes = _grid(len(layers), width=0.6 * len(methods) + 1.6)
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(units))  # fixed: a rerun draws the same figure
    for ax, layer in zip(axes, layers):
        alive = units[(units.layer == layer) & ~units.dead.astype(bool)]
        for k, method in enumerate(methods):
            values = alive[f"rs_{method}"].dropna()
            ax.boxplot([values], positions=[k], widths=0.5, showfliers=False, medianprops={"color": "black"})
            ax.scatter(k + jitter[:len(values)], values, s=6, alpha=0.5, color=METHOD_COLOURS[method],
                       edgecolors="none", zorder=3)
        ax.set_xticks(range(len(methods)), [METHOD_NAMES[m] for m in methods], rotation=30, fontsize=8)
        ax.set(title=layer, ylabel="RS (fraction of units)", ylim=(-0.03, 1.03))
    figure.suptitle(title)
    return figure


def am_convergence(traces: pd.DataFrame, title: str):
    """How far AM (and IAM) got: per layer, each unit's gain in its objective as a fraction of
    its gain by the last step, median over units with a band between the quartiles. Units
    whose objective never changed have no such fraction and are counted in the legend."""
    layers = list(dict.fromkeys(traces.layer))
    figure, axes = _grid(len(layers))
    for ax, layer in zip(axes, layers):
        for method, trace in traces[traces.layer == layer].groupby("method", sort=False):
            table = trace.pivot_table(index="step", columns="unit", values="objective")
            gain = table.iloc[-1] - table.iloc[0]
            moved = gain.abs() > 1e-12
            progress = (table.loc[:, moved] - table.iloc[0][moved]) / gain[moved]
            quartiles = progress.quantile([0.25, 0.5, 0.75], axis=1).T
            colour = METHOD_COLOURS[method]
            ax.plot(quartiles.index, quartiles[0.5], color=colour,
                    label=f"{METHOD_NAMES[method]} ({int((~moved).sum())} of {len(moved)} units never moved)")
            ax.fill_between(quartiles.index, quartiles[0.25], quartiles[0.75], color=colour, alpha=0.2)
        ax.set(title=layer, xlabel="AM step", ylabel="fraction of the final gain", ylim=(-0.1, 1.1))
        ax.legend(fontsize=6, loc="lower right")
    figure.suptitle(title)
    return figure


def forest(stats_by_variant: dict, x="selectivity"):
    """Every layer's r(selectivity, RS) with its 95% interval, pooled over seeds (filled) and
    per seed (open), in the base analysis and each variant: one panel per model and method."""
    stats = pd.concat([s.assign(variant=v) for v, s in stats_by_variant.items()], ignore_index=True)
    rows = stats[(stats.statistic == "spearman") & (stats.x == x) & stats.y.isin(["rs_am", "rs_iam"])]
    panels = list(dict.fromkeys(zip(rows.model, rows.y)))
    variants = list(stats_by_variant)
    colours = dict(zip(variants, plt.get_cmap("tab10").colors))
    most_layers = rows.groupby("model").layer.nunique().max()
    figure, axes = _grid(len(panels), width=3.6, height=0.45 * most_layers + 1.4, columns=min(len(panels), 2))
    for ax, (model, y) in zip(axes, panels):
        panel = rows[(rows.model == model) & (rows.y == y)]
        # depth counts the layers a variant analysed: order by the first variant's (the base's) depth
        ordered = panel.assign(rank=panel.variant.map({v: k for k, v in enumerate(variants)}))
        layers = list(dict.fromkeys(ordered.sort_values(["rank", "depth"]).layer))
        for k, variant in enumerate(variants):
            offset = (k - (len(variants) - 1) / 2) * 0.8 / len(variants)
            part = panel[panel.variant == variant]
            pooled, seeds = part[part.seed == POOLED], per_seed(part)
            where = [layers.index(layer) + offset for layer in pooled.layer]
            ax.errorbar(pooled.value, where, xerr=[pooled.value - pooled.ci_low, pooled.ci_high - pooled.value],
                        fmt="o", ms=4, color=colours[variant], label=variant, lw=1)
            ax.scatter(seeds.value, [layers.index(layer) + offset for layer in seeds.layer], s=10,
                       facecolors="none", edgecolors=colours[variant], lw=0.7)
            for layer in pooled.layer[pooled.value.isna()]:
                ax.text(0, layers.index(layer) + offset, "r undefined", fontsize=6, color=colours[variant],
                        ha="center", va="center")
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(range(len(layers)), layers, fontsize=8)
        ax.set(xlim=(-1.05, 1.05), ylim=(len(layers) - 0.5, -0.5), title=f"{model}: {METHOD_NAMES[y[3:]]}",
               xlabel=f"Spearman r({x}, RS)")
    _legend_outside(figure, axes[0])
    figure.suptitle("r(selectivity, RS) per layer: pooled, 95% interval (filled); seeds (open)", fontsize=10)
    return figure


def robustness_grid(table: pd.DataFrame):
    """Claims (rows) by variants (columns), coloured by verdict, one panel per model; a dot
    marks a verdict that differs from the base's on the same layers and seeds."""
    from matplotlib.patches import Patch

    variants = list(dict.fromkeys(table.variant))
    labels = list(dict.fromkeys(table.label))
    models = list(dict.fromkeys(table.model))
    figure, axes = _grid(len(models), width=1.1 * len(variants) + 2.2, height=0.35 * len(labels) + 1.6,
                         columns=min(len(models), 2))
    for ax, model in zip(axes, models):
        rows = table[table.model == model].set_index(["label", "variant"])
        for i, label in enumerate(labels):
            for j, variant in enumerate(variants):
                if (label, variant) in rows.index:
                    verdict = rows.loc[(label, variant), "verdict"]
                    ax.add_patch(plt.Rectangle((j, i), 1, 1, color=VERDICT_COLOURS[verdict], ec="white"))
                    if verdict != rows.loc[(label, variant), "base_verdict_same_coverage"]:
                        ax.plot(j + 0.5, i + 0.5, "o", color="black", markersize=3)
        ax.set(xlim=(0, len(variants)), ylim=(len(labels), 0), title=model)
        ax.set_xticks([j + 0.5 for j in range(len(variants))], variants, rotation=40, ha="right", fontsize=8)
        ax.set_yticks([i + 0.5 for i in range(len(labels))], labels, fontsize=8)
        ax.tick_params(length=0)
    figure.legend(handles=[Patch(color=c, label=v) for v, c in VERDICT_COLOURS.items() if v in set(table.verdict)],
                  loc="lower center",
                  ncol=3, fontsize=8, frameon=False)
    inch = 1 / figure.get_figheight()  # room for the legend below and the title above, whatever the height
    # the grid reads the verdict column (rules v2), whose same-coverage base it can compare with
    figure.suptitle("Verdict by rules v2 of each claim across analysis variants (dot: not the base's verdict on "
                    "the same layers and seeds)", fontsize=10, y=1 - 0.1 * inch, va="top")
    # the legend below and the title above sit outside the panels' rectangle: a tight layout there
    figure.set_layout_engine("tight", rect=(0, 0.5 * inch, 1, 1 - 0.4 * inch))
    return figure
