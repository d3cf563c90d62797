"""Class selectivity (Morcos et al. 2018) from class-conditional mean activations."""

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from .models import all_layer_activations, unit_activations


@torch.no_grad()
def class_means(model, split, n_classes, batch_size, device):
    """Per layer, the (n_classes, n_units) class-conditional mean post-ReLU activations,
    and the number of images per class, from one streamed pass over ``split``."""
    sums, counts = {}, torch.zeros(n_classes, dtype=torch.float64, device=device)
    for images, labels in tqdm(split.batches(batch_size, device), desc="selectivity pass",
                               total=-(-len(split) // batch_size), mininterval=5):
        counts += torch.bincount(labels, minlength=n_classes).double()
        for layer, h in all_layer_activations(model, images).items():
            acts = unit_activations(h).double()
            if layer not in sums:
                sums[layer] = torch.zeros(n_classes, acts.shape[1], dtype=torch.float64, device=device)
            sums[layer].index_add_(0, labels, acts)
    counts_np = counts.cpu().numpy()
    return {layer: (s / counts[:, None]).cpu().numpy() for layer, s in sums.items()}, counts_np


def selectivity_index(means: np.ndarray):
    """Selectivity of each column of a (n_classes, n_units) array of class means.

    Returns selectivity, mu_max, mu_rest, preferred class index and a dead flag;
    a dead unit (zero for every class) has undefined (NaN) selectivity.
    """
    preferred = means.argmax(axis=0)
    mu_max = means.max(axis=0)
    mu_rest = (means.sum(axis=0) - mu_max) / (means.shape[0] - 1)
    dead = mu_max <= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        selectivity = np.where(dead, np.nan, (mu_max - mu_rest) / (mu_max + mu_rest))
    return selectivity, mu_max, mu_rest, preferred, dead


def selectivity_table(means_by_layer: dict, counts: np.ndarray, classes) -> pd.DataFrame:
    frames = []
    weights = counts / counts.sum()
    for layer, means in means_by_layer.items():
        selectivity, mu_max, mu_rest, preferred, dead = selectivity_index(means)
        frames.append(pd.DataFrame({
            "layer": layer,
            "unit": np.arange(means.shape[1]),
            "selectivity": selectivity,
            "mu_max": mu_max,
            "mu_rest": mu_rest,
            "preferred_class": np.asarray(classes)[preferred],
            "mean_activation": weights @ means,
            "dead": dead,
        }))
    return pd.concat(frames, ignore_index=True)
