"""Cumulative ablation two ways, per layer: cache-sized passes against one pass of the whole batch.

Both evaluate a study's cumulative masks (every order and fraction of the default
ablation settings, distinct masks once) with repsub.ablation.evaluate_masks; they
differ only in how many ablated activations one pass holds (the header's units column
reads units/distinct masks): the CPU's default
(ablation.CPU_PASS_ELEMENTS: a slice of the batch's images per mask where the layer
is wide) or the GPU's (ablation.PASS_ELEMENTS: every image of the batch, several
masks where they fit). Their correct counts are checked equal here; in float64 they
equal a zeroing hook (tests/test_ablation.py).
"""

import argparse

import numpy as np
import pandas as pd
import torch
from common import ablation_case, case_arguments, compare, setup

from repsub.ablation import PASS_ELEMENTS, ablation_orders, cumulative_masks, evaluate_masks, pass_elements
from repsub.settings import AblationSettings


def study_masks(n_units, settings):
    """The distinct masks of every order (scores seeded at random, RS with ties as RS has)."""
    rng = np.random.default_rng(0)
    scores = pd.DataFrame({"unit": np.arange(n_units), "selectivity": rng.random(n_units),
                           "rs": rng.integers(0, 4, n_units) / 4, "mean_activation": rng.random(n_units),
                           "weight_norm": rng.random(n_units)})
    orders = ablation_orders(scores, n_units, settings.random_repeats, settings.seed, settings.tie_repeats)
    return torch.unique(cumulative_masks(orders, n_units, settings.fractions)[1], dim=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    case_arguments(parser, images=500)
    parser.add_argument("--repeats", type=int, default=1)
    args, device, model = setup(parser)
    settings = AblationSettings()
    model, split, shape, n_classes = ablation_case(args, device, model)
    print(f"{len(split)} images of shape {shape}, batches of {args.batch_size}; default ablation settings")

    def rows():
        for layer in args.layers or model.layers:
            n_units = model.layer_width(layer, shape)
            masks = study_masks(n_units, settings)
            counts = {}

            def way(size, elements):
                counts[size] = evaluate_masks(model, split, layer, masks, n_classes, args.batch_size,
                                              settings.masks_per_pass, device, elements=elements)[1]

            yield layer, f"{n_units}/{len(masks)}", {"cache": lambda: way("cache", pass_elements(device)),
                                                      "batch": lambda: way("batch", PASS_ELEMENTS)}
            assert np.array_equal(counts["cache"], counts["batch"]), f"{layer}: the two ways disagree"

    compare(rows(), device, repeats=args.repeats)


if __name__ == "__main__":
    main()
