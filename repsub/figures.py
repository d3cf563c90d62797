"""The paper's figures, regenerated from the per-unit tables (matplotlib, Agg)."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .rs import top_substitutes  # noqa: E402
from .sheets import as_display  # noqa: E402

METHOD_COLOURS = {"am": "tab:blue", "iam": "tab:orange", "noise": "tab:gray", "top_image": "tab:green"}
SCORE_COLOURS = {"selectivity": "tab:red", "rs": "tab:blue", "mean_activation": "tab:green",
                 "weight_norm": "tab:purple"}
ORDER_STYLES = {f"{score}_{direction}": (colour, style) for score, colour in SCORE_COLOURS.items()
                for direction, style in (("high_to_low", "-"), ("low_to_high", "--"))}


def _grid(n_panels, width=3.2, height=2.8, columns=None):
    columns = columns or min(n_panels, 4)
    rows = math.ceil(n_panels / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False)
    for ax in axes.flat[n_panels:]:
        ax.axis("off")
    return figure, axes.flat


def selectivity_vs_rs(units: pd.DataFrame, title: str, methods=("am", "iam")):
    """Fig. 1 (and 3a, 4, 5, 6): selectivity against RS per layer, AM and IAM in two colours."""
    layers = list(dict.fromkeys(units.sort_values("depth").layer))
    figure, axes = _grid(len(layers))
    for ax, layer in zip(axes, layers):
        alive = units[(units.layer == layer) & ~units.dead.astype(bool)]
        for method in methods:
            ax.scatter(alive.selectivity, alive[f"rs_{method}"], s=8, alpha=0.6, color=METHOD_COLOURS[method],
                       label=method.upper(), edgecolors="none")
        ax.set(title=layer, xlabel="class selectivity", ylabel="RS (fraction of units)", xlim=(-0.02, 1.02),
               ylim=(-0.03, 1.03))
        ax.legend(fontsize=7, loc="upper left")
    figure.suptitle(title)
    figure.tight_layout()
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
    rows = stats[(stats.seed == "pooled") & (stats.statistic == "spearman") & (stats.x == x) & (stats.y == y)]
    figure, ax = plt.subplots(figsize=(6, 3.8))
    for (dataset, model), group in rows.groupby(["dataset", "model"], sort=True):
        group = group.sort_values("depth")
        line, = ax.plot(group.depth, group.value, marker="o", label=f"{model} ({dataset})")
        ax.fill_between(group.depth, group.ci_low, group.ci_high, color=line.get_color(), alpha=0.15)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(xlabel="layer depth (1 = first analysed layer)", ylabel=f"Spearman r({x}, {y})",
           title="RS/selectivity correlation against depth (band: 95% CI)")
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def ablation_scatter(units: pd.DataFrame, title: str):
    """Single-unit accuracy drop against RS (IAM, or AM where IAM was not run) and against
    selectivity, per layer."""
    layers = list(dict.fromkeys(units.sort_values("depth").layer))
    rs = "rs_iam" if "rs_iam" in units else "rs_am"
    figure, axes = plt.subplots(len(layers), 2, figsize=(6.4, 2.5 * len(layers)), squeeze=False)
    for (ax_rs, ax_sel), layer in zip(axes, layers):
        alive = units[(units.layer == layer) & ~units.dead.astype(bool)]
        for ax, column, label in ((ax_rs, rs, f"RS ({rs[3:].upper()})"), (ax_sel, "selectivity", "class selectivity")):
            ax.scatter(alive[column], 100 * alive.accuracy_drop, s=8, alpha=0.6, edgecolors="none")
            ax.set(xlabel=label, ylabel="accuracy drop (points)", title=layer)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def cumulative_curves(cumulative: pd.DataFrame, title: str):
    """Accuracy as growing fractions of a layer are ablated, one panel per layer; bands span
    the repeats (random orders, and the tie-breaks of orders whose scores tie)."""
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
        ax.set(title=layer, xlabel="fraction of units ablated", ylabel="test accuracy (%)", ylim=(0, 100))
    axes[0].legend(fontsize=6)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def training_curves(metrics_by_seed: dict, title: str):
    figure, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(8, 3.2))
    for seed, metrics in metrics_by_seed.items():
        if "train_loss" in metrics:
            ax_loss.plot(metrics.epoch, metrics.train_loss, label=f"seed {seed} train")
            ax_acc.plot(metrics.epoch, 100 * metrics.train_accuracy, label=f"seed {seed} train")
        ax_loss.plot(metrics.epoch, metrics.test_loss, "--", label=f"seed {seed} test")
        ax_acc.plot(metrics.epoch, 100 * metrics.test_accuracy, "--", label=f"seed {seed} test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)")
    ax_acc.legend(fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


VERDICT_COLOURS = {"reproduced": "#4daf4a", "not reproduced": "#e41a1c", "inconclusive": "#bdbdbd"}


def robustness_grid(table: pd.DataFrame):
    """Claims (rows) by variants (columns), coloured by verdict, one panel per model."""
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
        ax.set(xlim=(0, len(variants)), ylim=(len(labels), 0), title=model)
        ax.set_xticks([j + 0.5 for j in range(len(variants))], variants, rotation=40, ha="right", fontsize=8)
        ax.set_yticks([i + 0.5 for i in range(len(labels))], labels, fontsize=8)
        ax.tick_params(length=0)
    figure.legend(handles=[Patch(color=c, label=v) for v, c in VERDICT_COLOURS.items()], loc="lower center",
                  ncol=3, fontsize=8, frameon=False)
    figure.suptitle("Verdict of each claim across analysis variants", fontsize=10)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    return figure
