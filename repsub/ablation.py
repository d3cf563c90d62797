"""Ablation: zero units' post-ReLU outputs and measure accuracy and loss.

Fast and exact: the activations entering the ablated layer's successors are
computed once per batch of images, and many ablations (rows of a 0/1 mask)
share one batched pass through the rest of the network. Multiplying by 1.0 or
0.0 leaves kept values bit-identical, so the result equals a full forward pass
with a zeroing hook.
"""

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .progress import progress

# Cap on the ablated activations of one pass (floats): bigger passes of wide
# early layers only add memory traffic. On a CPU, passes that stay in cache run
# fastest (benchmarks/README.md), so there a pass is smaller.
PASS_ELEMENTS = 1 << 24
CPU_PASS_ELEMENTS = 1 << 21


def pass_elements(device):
    return CPU_PASS_ELEMENTS if torch.device(device).type == "cpu" else PASS_ELEMENTS


@torch.no_grad()
def evaluate_masks(model, split, layer, masks: torch.Tensor, n_classes, batch_size, masks_per_pass, device,
                   precision=None, elements=None):
    """For each row of ``masks`` (n_masks, n_units; 1 keeps a unit, 0 ablates it):
    summed loss, correct count and per-class correct count over ``split``.

    A pass holds at most ``elements`` ablated activations (default :func:`pass_elements`):
    up to ``masks_per_pass`` masks of the batch's images, or one mask of a slice of them
    where the layer is wide. ``precision`` (:mod:`repsub.ablation_precision`) computes the
    passes (strict fp32 by default)."""
    from .ablation_precision import Strict

    precision = precision or Strict()
    model = model.eval().to(device)
    masks = masks.to(device)
    n_masks = len(masks)
    loss_sum, correct, class_counts = zero_sums(n_masks, n_classes, device)
    elements = elements or pass_elements(device)
    batches = split.batches(batch_size, device)
    for images, labels in progress(batches, desc=f"ablate {layer}", total=-(-len(split) // batch_size)):
        cut = model.cut(images, layer)
        h = cut.h
        class_counts += torch.bincount(labels, minlength=n_classes).double()
        precision.calibrate(lambda: cut.rest(h.clone(), torch.arange(len(h), device=h.device)))
        shape = (1,) * (h.dim() - 2)
        per_slice = max(1, elements // h[0].numel())  # images of one mask's pass
        for first in range(0, len(h), per_slice):
            part = torch.arange(first, min(first + per_slice, len(h)), device=h.device)
            h_part, labels_part = h[part], labels[part]
            per_pass = max(1, min(masks_per_pass, elements // h_part.numel()))
            for start in range(0, n_masks, per_pass):
                chunk = masks[start : start + per_pass]
                ablated = (h_part[None] * chunk.view(len(chunk), 1, -1, *shape)).flatten(0, 1)
                logits = precision.logits(cut.rest, ablated, part.repeat(len(chunk)))
                losses = F.cross_entropy(logits, labels_part.repeat(len(chunk)), reduction="none")
                loss_sum[start : start + len(chunk)] += losses.view(len(chunk), -1).double().sum(1)
                hits = (logits.argmax(1).view(len(chunk), -1) == labels_part).double()
                correct[start : start + len(chunk)].index_add_(1, labels_part, hits)
    return loss_sum.cpu().numpy(), correct.cpu().numpy(), class_counts.cpu().numpy()


def zero_sums(rows, n_classes, device):
    """Accumulators in float64: summed loss and per-class correct count per row, and images per class."""
    return (torch.zeros(rows, dtype=torch.float64, device=device),
            torch.zeros(rows, n_classes, dtype=torch.float64, device=device),
            torch.zeros(n_classes, dtype=torch.float64, device=device))


def intact_and_masks(n_units, units):
    """Row 0 keeps every unit; row k+1 ablates ``units[k]`` alone."""
    masks = torch.ones(len(units) + 1, n_units)
    masks[torch.arange(1, len(units) + 1), torch.as_tensor(units)] = 0
    return masks


def single_unit_table(layer, units, loss_sum, correct, class_counts, classes) -> pd.DataFrame:
    """Rows for each ablated unit, relative to the intact model in row 0."""
    n_images = class_counts.sum()
    accuracy = correct.sum(1) / n_images
    loss = loss_sum / n_images
    class_accuracy = correct / class_counts
    class_drop = class_accuracy[0] - class_accuracy[1:]
    worst = class_drop.argmax(1)
    return pd.DataFrame({
        "layer": layer,
        "unit": np.asarray(units),
        "accuracy": accuracy[1:],
        "loss": loss[1:],
        "accuracy_drop": accuracy[0] - accuracy[1:],
        "loss_increase": loss[1:] - loss[0],
        "max_class_accuracy_drop": class_drop[np.arange(len(worst)), worst],
        # empty where no class lost accuracy: argmax would name the first class
        "max_drop_class": np.where(class_drop.max(1) > 0, np.asarray(classes, dtype=object)[worst], ""),
        "intact_accuracy": accuracy[0],
        "intact_loss": loss[0],
    })


ORDER_SCORES = ("selectivity", "rs", "mean_activation", "weight_norm")


def ablation_orders(unit_scores: pd.DataFrame, n_units: int, random_repeats: int, seed: int, tie_repeats: int):
    """Unit orders for cumulative ablation, keyed (order name, repeat).

    ``unit_scores`` has a column unit and one per name in ORDER_SCORES; units
    lacking a score (dead units, units without RS) go last in both directions.
    Units that share a score (RS takes few values) are ordered by a seeded random
    key, ``tie_repeats`` times, so that unit indices never decide an order; an
    order without ties runs once.
    """
    orders = {}
    for index, column in enumerate(ORDER_SCORES):
        values = unit_scores.set_index("unit")[column].reindex(range(n_units)).to_numpy(dtype=float)
        for direction, sign in (("high_to_low", -1.0), ("low_to_high", 1.0)):
            key = np.where(np.isnan(values), np.inf, sign * values)
            tied = len(np.unique(key)) < n_units
            breaker = np.random.default_rng([seed, index])  # the same tie breaks in both directions
            for repeat in range(tie_repeats if tied else 1):
                orders[(f"{column}_{direction}", repeat)] = np.lexsort((breaker.random(n_units), key))
    generator = np.random.default_rng(seed)
    for repeat in range(random_repeats):
        orders[("random", repeat)] = generator.permutation(n_units)
    return orders


def layer_scores(selectivity: pd.DataFrame, rs: pd.DataFrame, layer) -> pd.DataFrame:
    """Per unit of ``layer``: its selectivity, magnitude scores and RS (NaN for units without an RS)."""
    units = selectivity[selectivity.layer == layer][["unit", "selectivity", "mean_activation", "weight_norm"]]
    return units.merge(rs[["unit", "rs"]], on="unit", how="left")


def cumulative_table(model, split, layer, scores, n_units, n_classes, settings, batch_size, device, precision=None):
    """Accuracy and loss as growing fractions of ``layer`` are ablated, in every order."""
    orders = ablation_orders(scores, n_units, settings.random_repeats, settings.seed, settings.tie_repeats)
    keys, masks = cumulative_masks(orders, n_units, settings.fractions)
    # Every order ablates nothing at fraction 0 and everything at 1 (and ties repeat masks):
    # evaluate each distinct mask once.
    distinct, which = torch.unique(masks, dim=0, return_inverse=True)
    loss_sum, correct, class_counts = evaluate_masks(model, split, layer, distinct, n_classes, batch_size,
                                                     settings.masks_per_pass, device, precision)
    which = which.numpy()
    keys.insert(0, "layer", layer)
    keys["accuracy"] = correct.sum(1)[which] / class_counts.sum()
    keys["loss"] = loss_sum[which] / class_counts.sum()
    return keys


def cumulative_masks(orders: dict, n_units: int, fractions):
    """One mask per (order, fraction): the first round(fraction * n_units) units ablated."""
    keys, masks = [], []
    for (name, repeat), order in orders.items():
        for fraction in fractions:
            count = int(round(fraction * n_units))
            mask = torch.ones(n_units)
            mask[torch.as_tensor(order[:count], dtype=torch.long)] = 0
            keys.append({"order": name, "repeat": repeat, "fraction": fraction, "n_ablated": count})
            masks.append(mask)
    return pd.DataFrame(keys), torch.stack(masks)
