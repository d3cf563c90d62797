"""Class selectivity (Morcos et al. 2018) from class-conditional mean activations, and
two magnitude scores beside it (mean activation, incoming weight norm): a unit that is
weak everywhere also scores a high RS on its own image and matters little when ablated,
so every verdict about RS is checked against magnitude (docs/CHOICES.md)."""

import numpy as np
import pandas as pd
import torch

from .nets.base import unit_activations
from .progress import progress


@torch.no_grad()
def class_means(model, split, layers, n_classes, batch_size, device, unit="spatial_mean"):
    """Per layer of ``layers``, the (n_classes, n_units) class-conditional mean post-ReLU
    activations (of each conv map's spatial mean or max: ``unit``), and the number of
    images per class, from one streamed pass over ``split``."""
    sums, counts = {}, torch.zeros(n_classes, dtype=torch.float64, device=device)
    for images, labels in progress(split.batches(batch_size, device), desc="selectivity pass",
                                   total=-(-len(split) // batch_size)):
        counts += torch.bincount(labels, minlength=n_classes).double()
        for layer, h in model.layer_activations(images, layers).items():
            acts = unit_activations(h, unit).double()
            if layer not in sums:
                sums[layer] = torch.zeros(n_classes, acts.shape[1], dtype=torch.float64, device=device)
            sums[layer].index_add_(0, labels, acts)
    counts_np = counts.cpu().numpy()
    return {layer: (s / counts[:, None]).cpu().numpy() for layer, s in sums.items()}, counts_np


def selectivity_index(means: np.ndarray, rectified=True):
    """Selectivity of each column of a (n_classes, n_units) array of class means.

    Returns selectivity, mu_max, mu_rest, preferred class index and a dead flag;
    a dead unit (zero for every class) has undefined (NaN) selectivity. Units that are not
    ``rectified`` (a raw node's) can respond below 0: the index, defined for responses
    that never are, is undefined (NaN) wherever a class mean is negative.
    """
    preferred = means.argmax(axis=0)
    mu_max = means.max(axis=0)
    mu_rest = (means.sum(axis=0) - mu_max) / (means.shape[0] - 1)
    dead = mu_max <= 0 if rectified else (means == 0).all(axis=0)
    undefined = dead | (means.min(axis=0) < 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        selectivity = np.where(undefined, np.nan, (mu_max - mu_rest) / (mu_max + mu_rest))
    return selectivity, mu_max, mu_rest, preferred, dead


@torch.no_grad()
def weight_norms(model, widths: dict) -> dict:
    """Per layer (name -> number of units), each unit's L2 norm of incoming weights (the
    conv or linear map that makes it), times the scale |gamma| / sqrt(var + eps) of a
    BatchNorm that follows it; NaN where no single map makes the units (a residual sum)."""
    norms = {}
    for layer, width in widths.items():
        found = model.incoming(layer)
        if found is None or found[0].weight.shape[0] != width:
            norms[layer] = np.full(width, np.nan)
            continue
        linear, bn = found
        norm = linear.weight.flatten(1).double().norm(dim=1)
        if bn is not None:
            norm = norm * (bn.weight.double().abs() / (bn.running_var.double() + bn.eps).sqrt())
        norms[layer] = norm.cpu().numpy()
    return norms


def selectivity_table(means_by_layer: dict, counts: np.ndarray, classes, norms: dict, kinds: dict,
                      rectified: dict) -> pd.DataFrame:
    """One row per unit of each layer; ``kinds`` gives each layer's kind (conv or vector),
    ``rectified`` whether its units are post-ReLU."""
    frames = []
    weights = counts / counts.sum()
    for layer, means in means_by_layer.items():
        selectivity, mu_max, mu_rest, preferred, dead = selectivity_index(means, rectified[layer])
        frames.append(pd.DataFrame({
            "layer": layer,
            "kind": kinds[layer],
            "unit": np.arange(means.shape[1]),
            "selectivity": selectivity,
            "mu_max": mu_max,
            "mu_rest": mu_rest,
            "preferred_class": np.asarray(classes)[preferred],
            "mean_activation": weights @ means,
            "weight_norm": norms[layer],
            "dead": dead,
        }))
    return pd.concat(frames, ignore_index=True)
