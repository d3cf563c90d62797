"""Activation maximisation (AM) and its inhibition variant (IAM), a layer at a time.

Unlike lucent's ``render_vis``, which optimises one unit at a time through the
whole network, every unit of a layer is optimised at once: image b of a batch
drives only its own unit, the forward pass stops at the target layer, and the
model is in eval mode, so images do not interact and a batch gives the same
images as optimising each unit alone. Only the image's parameters get gradients,
and convs run channels_last. Images are in [0, 1] (the model normalises inside).

The loop takes its pieces from small modules with one interface each, as lucent
does: what is maximised (:mod:`repsub.objectives`), how the image is represented
(:mod:`repsub.parameterisations`) and how each step moves it before the network
sees it (:mod:`repsub.transforms`). Along the way it records the substitution
matrix at chosen steps and whether each unit's objective ever rose.
"""

from collections import namedtuple

import pandas as pd
import torch

from .devices import autocast
from .errors import UserError
from .nets.base import unit_activations
from . import transforms
from .objectives import objective, spaces_needed
from .parameterisations import PARAMETERISATIONS
from .progress import progress
from .settings import AMSettings


def starting_noise(units, image_shape, noise_seed: int) -> torch.Tensor:
    """Uniform noise in [0, 1], one image per unit, seeded by (noise_seed, unit) so
    that a unit's start does not depend on which other units share its batch."""
    images = []
    for unit in units:
        generator = torch.Generator().manual_seed(noise_seed * 1_000_003 + int(unit))
        images.append(torch.rand(tuple(image_shape), generator=generator))
    return torch.stack(images)


def layer_activations(model, images, layer, which, unit="spatial_mean"):
    """One value per unit of ``layer``: before or after its ReLU (``which``), a conv map's
    spatial mean or max (``unit``)."""
    return unit_activations(model.forward_to(images, layer, pre_relu=which == "pre_relu"), unit)


def activations_by_space(model, images, layer, spaces, unit="spatial_mean"):
    """``layer``'s unit activations in each of ``spaces`` (pre_relu, post_relu) from one
    forward pass: the block's ReLU applied to its pre-ReLU map is its post-ReLU map (a
    traced node analysed as it is, unrectified, is the same in both)."""
    pre = model.forward_to(images, layer, pre_relu=True)
    post = (torch.relu(pre) if model.rectified(layer) else pre) if "post_relu" in spaces else None
    maps = {"pre_relu": pre, "post_relu": post}
    return {space: unit_activations(maps[space], unit) for space in spaces}


def recorded_steps(settings: AMSettings) -> list:
    """The steps at which the substitution matrix is recorded: ``settings.record_steps``, or
    0, 1, 2, 4, ... (powers of two below ``steps``) and ``steps``; the last step always."""
    if settings.record_steps is not None:
        return sorted({*settings.record_steps, settings.steps})
    return sorted({0, *(2 ** k for k in range(settings.steps.bit_length()) if 2 ** k < settings.steps), settings.steps})


AMResult = namedtuple("AMResult", "images substitution trace steps trajectory movement")
AMResult.__doc__ = """Images [n, C, H, W]; substitution matrix [n, n_units_in_layer] on the final images;
trace (objective every trace_every steps); the recorded steps and the substitution matrix at
each [n_steps, n, n_units_in_layer]; per unit its objective at step 0, the highest it
reached, and whether it ever rose above the start (``moved``)."""


def optimise_chunk(model, layer, units, method, settings, image_shape, device, precision, unit, trace_rows):
    """Optimise one image per unit of ``units`` in ``settings.parameterisation`` (forward
    passes under ``precision``; each step shows the network the images moved by that
    step's transforms, :mod:`repsub.transforms`); return the final images (CPU), the
    substitution matrix at each recorded step and the start and best objective of each unit."""
    dtype = next(model.parameters()).dtype  # float32 normally; tests use float64
    image = PARAMETERISATIONS[settings.parameterisation](
        starting_noise(units, image_shape, settings.noise_seed).to(device, dtype))
    unit_index = torch.as_tensor(units, device=device)
    optimiser = torch.optim.Adam([image.parameters], lr=settings.lr)
    moves = transforms.plan(settings)
    goal, spaces, record = objective(method), spaces_needed(method, settings), set(recorded_steps(settings))
    trajectory, start, best = [], None, None
    for step in range(settings.steps + 1):
        images = image.image()
        if step in record:  # measured as the final matrix is: fp32, unmoved, no gradient
            with torch.no_grad():
                trajectory.append(layer_activations(model, images.detach(), layer, settings.compare, unit).cpu())
        seen = transforms.apply(images, moves[step])
        with autocast(device, precision):
            acts = activations_by_space(model, seen, layer, spaces, unit)
        values = goal({space: a.to(dtype) for space, a in acts.items()}, unit_index, settings)
        if not torch.isfinite(values).all():
            bad = int(units[int((~torch.isfinite(values)).nonzero()[0])])
            raise UserError(f"{method.upper()} of {layer} unit {bad} became non-finite at step {step}; "
                            f"lower am.lr or check the checkpoint")
        reached = values.detach()
        start = reached if start is None else start
        best = reached if best is None else torch.maximum(best, reached)
        if step % settings.trace_every == 0 or step == settings.steps:
            trace_rows.append(pd.DataFrame({"step": step, "unit": units, "objective": reached.cpu().numpy()}))
        if step == settings.steps:
            break
        optimiser.zero_grad(set_to_none=True)
        (-values.sum()).backward()
        optimiser.step()
        image.after_step()
    return images.detach().cpu(), torch.stack(trajectory), start.cpu(), best.cpu()


def maximise_layer(model, layer, units, method, settings: AMSettings, image_shape, device, precision="fp32",
                   unit="spatial_mean") -> AMResult:
    """AM or IAM images for ``units`` of ``layer``, optimised under ``precision`` (fp32 or
    bf16 autocast); the substitution matrices are always measured in fp32, of the
    ``settings.compare`` activations of every unit on every image."""
    model = model.eval().to(device, memory_format=torch.channels_last)  # faster convs, CPU and GPU
    for parameter in model.parameters():
        parameter.requires_grad_(False)  # gradients for the pixels only
    trace_rows, chunks = [], []
    for first in progress(range(0, len(units), settings.chunk_size), desc=f"{method} {layer}"):
        chunks.append(optimise_chunk(model, layer, units[first : first + settings.chunk_size], method,
                                     settings, image_shape, device, precision, unit, trace_rows))
    images, trajectories, starts, bests = zip(*chunks)
    images, trajectory = torch.cat(images), torch.cat(trajectories, dim=1)
    start, best = torch.cat(starts), torch.cat(bests)
    trace = pd.concat(trace_rows, ignore_index=True).sort_values(["unit", "step"], kind="stable")
    movement = pd.DataFrame({"unit": units, "start_objective": start.double().numpy(),
                             "best_objective": best.double().numpy(), "moved": (best > start).numpy()})
    return AMResult(images, substitution_matrix(model, images, layer, settings, device, unit),
                    trace.reset_index(drop=True), recorded_steps(settings), trajectory, movement)


@torch.no_grad()
def substitution_matrix(model, images, layer, settings: AMSettings, device, unit="spatial_mean"):
    """The ``settings.compare`` activation of every unit of ``layer`` on every image (CPU)."""
    dtype = next(model.parameters()).dtype
    return torch.cat([
        layer_activations(model, images[s : s + settings.chunk_size].to(device, dtype), layer, settings.compare, unit).cpu()
        for s in range(0, len(images), settings.chunk_size)
    ])
