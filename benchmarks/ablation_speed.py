"""Single-unit ablation three ways, per layer: with the shortcuts, the full batched pass, and the naive hook.

Naive: for every unit, a full forward pass over the images with a hook that
zeroes that unit. Batched: the activations entering the layer's successors are
computed once per batch, and several ablations share one pass of the whole batch
through the rest of the network (repsub.ablation.evaluate_masks with GPU-sized passes). Shortcuts: the batched way that
also skips images on which the unit is silent and subtracts the unit's own
contribution from the successor layer's output (repsub.unit_ablation). All three
agree (tests/test_ablation.py).

Silent images are what the shortcuts skip, so random weights understate them:
pass a trained checkpoint and its manifest (e.g. the default study's) to measure
what a study gains.
"""

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from common import ablation_case, case_arguments, compare, setup

from repsub.ablation import PASS_ELEMENTS, evaluate_masks, intact_and_masks
from repsub.unit_ablation import evaluate_units


def naive_ablation(model, split, layer, units, batch_size, device):
    results = []
    for unit in units:
        def zero(module, inputs, output, unit=unit):
            output = output.clone()
            output[:, unit] = 0
            return output

        handle = model.blocks[layer].register_forward_hook(zero)
        loss, correct = 0.0, 0
        with torch.no_grad():
            for images, labels in split.batches(batch_size, device):
                logits = model(images)
                loss += F.cross_entropy(logits, labels, reduction="none").double().sum().item()
                correct += (logits.argmax(1) == labels).sum().item()
        handle.remove()
        results.append((loss, correct))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    case_arguments(parser, images=200)
    parser.add_argument("--masks-per-pass", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--without-naive", action="store_true",
                        help="time the shortcuts against the batched pass only (the gain column is then batched / shortcuts)")
    args, device, model = setup(parser)
    model, split, shape, n_classes = ablation_case(args, device, model)
    print(f"{len(split)} images of shape {shape}, batches of {args.batch_size}")

    def rows():
        for layer in args.layers or model.layers:
            n_units = model.layer_width(layer, shape)
            units = np.arange(n_units)
            masks = intact_and_masks(n_units, units)
            ways = {
                "shortcuts": lambda: evaluate_units(model, split, layer, units, n_classes, args.batch_size, device),
                "batched": lambda: evaluate_masks(model, split, layer, masks, n_classes, args.batch_size,
                                                  args.masks_per_pass, device, elements=PASS_ELEMENTS),
                "naive": lambda: naive_ablation(model, split, layer, units, args.batch_size, device)}
            if args.without_naive:
                del ways["naive"]
            yield layer, n_units, ways

    compare(rows(), device, repeats=args.repeats)


if __name__ == "__main__":
    main()
