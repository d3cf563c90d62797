"""What AM's network sees at each step: the image, moved by a random transform.

Feature visualisation (lucent, after Olah et al. 2017, "Feature Visualization",
Distill) makes an image robust by showing the network a randomly jittered,
scaled and rotated copy at each step. Here each transform is a small function
of (images, the step's value), and the values of every step are drawn once from
generators seeded by ``am.noise_seed``: one draw per step for the whole batch,
so a unit's image never depends on which units share its batch.

- ``am.jitter`` (an integer): roll by up to that many pixels either way.
- ``am.transforms``: any of ``scale`` (by 0.9 to 1.1) and ``rotate`` (by -10 to
  10 degrees), about the image centre, reflecting at the borders.
"""

import math

import torch
import torch.nn.functional as F

SCALES = (0.9, 1.1)
DEGREES = (-10.0, 10.0)
TRANSFORMS = ("scale", "rotate")


def _uniform(seed, count, low, high):
    generator = torch.Generator().manual_seed(seed)
    return (low + (high - low) * torch.rand(count, generator=generator, dtype=torch.float64)).tolist()


def plan(settings) -> list:
    """Per step (0 .. steps), the values of every transform the settings ask for."""
    count = settings.steps + 1
    generator = torch.Generator().manual_seed(settings.noise_seed)
    span = 2 * settings.jitter + 1
    shifts = (torch.randint(0, span, (count, 2), generator=generator) - settings.jitter).tolist()
    # each transform draws from its own generator, so adding one leaves the others' draws as they were
    scales = _uniform(settings.noise_seed * 3 + 1, count, *SCALES) if "scale" in settings.transforms else None
    angles = _uniform(settings.noise_seed * 3 + 2, count, *DEGREES) if "rotate" in settings.transforms else None
    return [{"shift": shifts[k] if settings.jitter else None, "scale": scales and scales[k],
             "degrees": angles and angles[k]} for k in range(count)]


def roll(images, shift):
    return images.roll(shift, dims=(2, 3))


def scale_and_rotate(images, scale, degrees):
    """Resample the images about their centre (bilinear, reflecting at the borders)."""
    radians = math.radians(degrees or 0.0)
    factor = 1.0 / (scale or 1.0)  # the grid maps output to input: zooming in reads a smaller area
    matrix = torch.tensor([[math.cos(radians) * factor, -math.sin(radians) * factor, 0.0],
                           [math.sin(radians) * factor, math.cos(radians) * factor, 0.0]],
                          dtype=images.dtype, device=images.device)
    grid = F.affine_grid(matrix.expand(len(images), 2, 3), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def apply(images, step_plan):
    """The images as the network sees them at one step."""
    if step_plan["shift"] is not None:
        images = roll(images, step_plan["shift"])
    if step_plan["scale"] is not None or step_plan["degrees"] is not None:
        images = scale_and_rotate(images, step_plan["scale"], step_plan["degrees"])
    return images
