"""Batched single-unit ablation against the naive way, per layer of the shallow CNN.

Naive: for every unit, a full forward pass over the images with a hook that
zeroes that unit. Ours: the activations entering the layer's successors are
computed once per batch, and several ablations share one batched pass through
the rest of the network. Both give identical results (tests/test_ablation.py).
"""

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from common import compare, setup

from repsub.ablation import evaluate_masks, intact_and_masks
from repsub.data import TensorSplit


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
                loss += F.cross_entropy(logits, labels, reduction="sum").item()
                correct += (logits.argmax(1) == labels).sum().item()
        handle.remove()
        results.append((loss, correct))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--masks-per-pass", type=int, default=16)
    parser.add_argument("--layers", nargs="+", help="only these layers (default all)")
    args, device, model = setup(parser)
    generator = torch.Generator().manual_seed(0)
    split = TensorSplit(torch.randint(0, 256, (args.images, 3, 32, 32), dtype=torch.uint8, generator=generator),
                        torch.randint(0, 10, (args.images,), generator=generator))

    def rows():
        for layer in args.layers or model.layers:
            with torch.no_grad():
                n_units = model.forward_to(torch.zeros(1, 3, 32, 32, device=device), layer).shape[1]
            units = np.arange(n_units)
            masks = intact_and_masks(n_units, units)
            yield (layer, n_units,
                   lambda: evaluate_masks(model, split, layer, masks, 10, args.batch_size, args.masks_per_pass, device),
                   lambda: naive_ablation(model, split, layer, units, args.batch_size, device))

    compare(rows(), device, repeats=2)


if __name__ == "__main__":
    main()
