"""Activation maximisation (AM) and its inhibition variant (IAM), a layer at a time.

Unlike lucent's ``render_vis``, which optimises one unit at a time through the
whole network, every unit of a layer is optimised at once: image b of a batch
drives only its own unit, the forward pass stops at the target layer, and the
model is in eval mode, so images do not interact and a batch gives the same
images as optimising each unit alone. Only the pixels get gradients, and convs
run channels_last. Images live in pixel space [0, 1]
(the model normalises inside) and are clamped to it after every Adam step.
"""

import numpy as np
import pandas as pd
import torch

from .devices import autocast
from .errors import UserError
from .models import unit_activations
from .progress import progress
from .settings import AMSettings


def select_units(n_units: int, max_units=None, seed: int = 0) -> np.ndarray:
    """All units, or a seeded, sorted subset of ``max_units`` of them: the first ``max_units``
    of one seeded permutation, so that with one seed a smaller subset lies inside a larger
    one (single-unit ablation's units inside AM's, for example)."""
    if max_units is None or max_units >= n_units:
        return np.arange(n_units)
    return np.sort(np.random.default_rng(seed).permutation(n_units)[:max_units])


def starting_noise(units, image_shape, noise_seed: int) -> torch.Tensor:
    """Uniform noise in [0, 1], one image per unit, seeded by (noise_seed, unit) so
    that a unit's start does not depend on which other units share its batch."""
    images = []
    for unit in units:
        generator = torch.Generator().manual_seed(noise_seed * 1_000_003 + int(unit))
        images.append(torch.rand(tuple(image_shape), generator=generator))
    return torch.stack(images)


def objective(acts: torch.Tensor, units: torch.Tensor, method: str) -> torch.Tensor:
    """Per image: its unit's activation (AM), minus the mean of the others (IAM)."""
    target = acts.gather(1, units[:, None]).squeeze(1)
    if method == "am":
        return target
    if method == "iam":
        return target - (acts.sum(1) - target) / (acts.shape[1] - 1)
    raise UserError(f"unknown method {method!r}; use am or iam")


def layer_activations(model, images, layer, which, unit="spatial_mean"):
    """One value per unit of ``layer``: before or after its ReLU (``which``), a conv map's
    spatial mean or max (``unit``)."""
    return unit_activations(model.forward_to(images, layer, pre_relu=which == "pre_relu"), unit)


def jitter_shifts(settings: AMSettings):
    """The (rows, columns) shift of each AM step, up to ``settings.jitter`` pixels either way,
    drawn from one generator seeded by the noise seed: the same for every chunk, so a unit's
    image does not depend on which units share its batch."""
    generator = torch.Generator().manual_seed(settings.noise_seed)
    span = 2 * settings.jitter + 1
    return (torch.randint(0, span, (settings.steps + 1, 2), generator=generator) - settings.jitter).tolist()


def optimise_chunk(model, layer, units, method, settings, image_shape, device, precision, unit, trace_rows):
    """Optimise one image per unit of ``units`` (forward passes under ``precision``; each
    step sees the images rolled by its jitter shift, as lucent's jitter transform);
    return the final images (CPU)."""
    dtype = next(model.parameters()).dtype  # float32 normally; tests use float64
    images = starting_noise(units, image_shape, settings.noise_seed).to(device, dtype)
    images = images.contiguous(memory_format=torch.channels_last).requires_grad_(True)
    unit_index = torch.as_tensor(units, device=device)
    optimiser = torch.optim.Adam([images], lr=settings.lr)
    shifts = jitter_shifts(settings)
    for step in range(settings.steps + 1):
        seen = images.roll(shifts[step], dims=(2, 3)) if settings.jitter else images
        with autocast(device, precision):
            acts = layer_activations(model, seen, layer, settings.optimise, unit).to(dtype)
        values = objective(acts, unit_index, method)
        if not torch.isfinite(values).all():
            bad = int(units[int((~torch.isfinite(values)).nonzero()[0])])
            raise UserError(f"{method.upper()} of {layer} unit {bad} became non-finite at step {step}; "
                            f"lower am.lr or check the checkpoint")
        if step % settings.trace_every == 0 or step == settings.steps:
            trace_rows.append(pd.DataFrame({"step": step, "unit": units, "objective": values.detach().cpu().numpy()}))
        if step == settings.steps:
            break
        optimiser.zero_grad(set_to_none=True)
        (-values.sum()).backward()
        optimiser.step()
        with torch.no_grad():
            images.clamp_(0, 1)
    return images.detach().cpu()


def maximise_layer(model, layer, units, method, settings: AMSettings, image_shape, device, precision="fp32",
                   unit="spatial_mean"):
    """AM or IAM images for ``units`` of ``layer``, optimised under ``precision`` (fp32 or
    bf16 autocast); the substitution matrix is always measured in fp32.

    Returns (images [n, C, H, W], substitution matrix [n, n_units_in_layer] of
    the ``settings.compare`` activations of every unit on every image, trace).
    """
    model = model.eval().to(device, memory_format=torch.channels_last)  # faster convs, CPU and GPU
    for parameter in model.parameters():
        parameter.requires_grad_(False)  # gradients for the pixels only
    trace_rows, chunks = [], []
    starts = range(0, len(units), settings.chunk_size)
    for start in progress(starts, desc=f"{method} {layer}"):
        chunks.append(optimise_chunk(model, layer, units[start : start + settings.chunk_size], method,
                                     settings, image_shape, device, precision, unit, trace_rows))
    images = torch.cat(chunks)
    trace = pd.concat(trace_rows, ignore_index=True).sort_values(["unit", "step"], kind="stable")
    return images, substitution_matrix(model, images, layer, settings, device, unit), trace.reset_index(drop=True)


@torch.no_grad()
def substitution_matrix(model, images, layer, settings: AMSettings, device, unit="spatial_mean"):
    """The ``settings.compare`` activation of every unit of ``layer`` on every image (CPU)."""
    dtype = next(model.parameters()).dtype
    return torch.cat([
        layer_activations(model, images[s : s + settings.chunk_size].to(device, dtype), layer, settings.compare, unit).cpu()
        for s in range(0, len(images), settings.chunk_size)
    ])
