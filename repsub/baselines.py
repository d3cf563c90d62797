"""RS without activation maximisation: two baselines beside AM and IAM.

``noise`` measures RS on each unit's starting noise image, before any
optimisation: the RS that noise alone gives, a null for AM's. ``top_image``
measures RS on the evaluation image that excites the unit most: a natural image
instead of a synthetic one, as feature-visualisation work compares them. Both
write the same files as AM (images, substitution matrix, a one-step trace), so
statistics and claims treat them alike.
"""

import numpy as np
import pandas as pd
import torch

from .am import AMResult, activations_by_space, layer_activations, starting_noise, substitution_matrix
from .objectives import activation
from .progress import progress
from .settings import AMSettings


@torch.no_grad()
def noise_baseline(model, layer, units, settings: AMSettings, image_shape, device, unit="spatial_mean"):
    """Each unit's starting noise image (as AM starts from), its substitution matrix and its
    AM objective at step 0."""
    model = model.eval().to(device)
    images = starting_noise(units, image_shape, settings.noise_seed)
    substitution = substitution_matrix(model, images, layer, settings, device, unit)
    start = torch.cat([
        activation(activations_by_space(model, images[s : s + settings.chunk_size].to(device), layer,
                                        (settings.optimise,), unit),
                   torch.as_tensor(units[s : s + settings.chunk_size], device=device), settings).cpu()
        for s in range(0, len(units), settings.chunk_size)
    ])
    return unmoved(images, substitution, pd.DataFrame({"step": 0, "unit": units, "objective": start.numpy()}))


def unmoved(images, substitution, trace) -> AMResult:
    """A baseline as an AM run that never stepped: its one recorded step is step 0."""
    start = trace.objective.to_numpy(np.float64)
    movement = pd.DataFrame({"unit": trace.unit, "start_objective": start, "best_objective": start,
                             "moved": np.zeros(len(start), bool)})
    return AMResult(images, substitution, trace, [0], substitution[None], movement)


@torch.no_grad()
def top_image_baseline(model, layer, units, settings: AMSettings, split, batch_size, device, unit="spatial_mean"):
    """For each unit, the image of ``split`` on which its ``settings.compare`` activation is
    largest (the first such image on ties), its substitution matrix, and that activation."""
    model = model.eval().to(device)
    unit_index = torch.as_tensor(units, device=device)
    best = torch.full((len(units),), -torch.inf, dtype=torch.float64, device=device)
    where = torch.zeros(len(units), dtype=torch.int64, device=device)
    offset = 0
    for images, _ in progress(split.batches(batch_size, device), desc=f"top images {layer}",
                              total=-(-len(split) // batch_size)):
        acts = layer_activations(model, images, layer, settings.compare, unit)[:, unit_index].double()
        value, index = acts.max(0)
        better = value > best
        best, where = torch.where(better, value, best), torch.where(better, index + offset, where)
        offset += len(images)
    chosen = split.subset(where.cpu())
    images = torch.cat([x.cpu() for x, _ in chosen.batches(batch_size)])
    substitution = substitution_matrix(model, images, layer, settings, device, unit)
    trace = pd.DataFrame({"step": 0, "unit": units, "objective": best.cpu().numpy(),
                          "image_index": where.cpu().numpy().astype(np.int64)})
    return unmoved(images, substitution, trace)
