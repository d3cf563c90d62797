"""Batched, truncated AM against the naive way, per layer of the shallow CNN.

Naive (as lucent's render_vis with a channel objective): one unit at a time,
every step a forward pass through the whole network, the layer's value caught
by a forward hook, and the backward pass also filling the model's parameter
gradients (render_vis leaves them on). Ours: all units of the layer in one
batch, the forward pass stopping at the layer, gradients for the pixels only,
convs channels_last. Same units, steps, learning rate and starting noise.
"""

import argparse
import copy

import numpy as np
import torch
from common import compare, setup

from repsub.am import maximise_layer, starting_noise
from repsub.settings import AMSettings


def naive_am(model, layer, units, settings, image_shape, device):
    caught = {}
    pre_relu = model.blocks[layer][-2]  # the module just before the layer's ReLU
    handle = pre_relu.register_forward_hook(lambda module, inputs, output: caught.__setitem__("h", output))
    images = []
    for unit in units:
        image = starting_noise([unit], image_shape, settings.noise_seed).to(device).requires_grad_(True)
        optimiser = torch.optim.Adam([image], lr=settings.lr)
        for _ in range(settings.steps):
            model(image)
            value = caught["h"][0, unit].mean()
            optimiser.zero_grad(set_to_none=True)
            (-value).backward()
            optimiser.step()
            with torch.no_grad():
                image.clamp_(0, 1)
        images.append(image.detach())
    handle.remove()
    return torch.cat(images)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=32, help="units per layer (the first N)")
    parser.add_argument("--steps", type=int, default=32)
    args, device, model = setup(parser)
    naive_model = copy.deepcopy(model)  # ours freezes its parameters; render_vis does not
    settings = AMSettings(steps=args.steps, chunk_size=256, trace_every=args.steps)
    units = np.arange(args.units)
    compare(((layer, len(units), {
        "ours": lambda layer=layer: maximise_layer(model, layer, units, "am", settings, (3, 32, 32), device),
        "naive": lambda layer=layer: naive_am(naive_model, layer, units, settings, (3, 32, 32), device)})
        for layer in model.layers), device, repeats=3)

if __name__ == "__main__":
    main()
