"""The traced-graph path (torchvision and user models) against the built-in chain and the naive hook.

Part 1, what tracing costs: the shallow CNN for CIFAR-shaped input analysed both as the
built-in chain of blocks and as the same network traced with torch.fx (a user's module
would be), side by side: AM (every unit of a layer, batched) and single-unit ablation
(the chain also takes the successor shortcut, which the graph cannot).

Part 2, what batching gains on a graph with skip connections: torchvision's ResNet-18
with the CIFAR stem, single-unit ablation of sampled units of several nodes, the cut
graph (only the nodes after the ablated one re-run, many ablations in one pass) against
the naive way (for each unit, a full forward pass with a hook that zeroes it).

Random weights (seeded), random images; both parts print seconds and ratios measured in
one run.
"""

import argparse
import copy
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from common import describe, timed
from torch import nn

from repsub.am import maximise_layer
from repsub.data import TensorSplit
from repsub.devices import pick_device
from repsub.nets.graph import GraphNet
from repsub.nets.names import build_model
from repsub.settings import AMSettings
from repsub.unit_ablation import evaluate_units


def traced(model):
    """The chain's blocks as a plain nn.Sequential behind the same normalisation, traced."""
    blocks = copy.deepcopy(model.blocks)
    first = blocks[model.layers[0]]
    normalize, first[0] = first[0], nn.Identity()
    graph = GraphNet("python:chain:copy", nn.Sequential(OrderedDict(blocks.items())),
                     normalize.mean.flatten().tolist(), normalize.std.flatten().tolist())
    return graph.eval(), {layer: f"{layer}.{len(blocks[layer]) - 1}" for layer in model.layers}


def naive(net_model, module, split, units, batch_size, device, second_call):
    """Per unit, a full pass with a hook zeroing it on ``module`` (on every second call of a
    module that a residual block calls twice)."""
    for unit in units:
        calls = []

        def zero(mod, inputs, output, unit=unit):
            calls.append(1)
            if second_call and len(calls) % 2 == 1:
                return output
            output = output.clone()
            output[:, unit] = 0
            return output

        handle = module.register_forward_hook(zero)
        with torch.no_grad():
            for images, labels in split.batches(batch_size, device):
                F.cross_entropy(net_model(images), labels, reduction="sum").item()
        handle.remove()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--units", type=int, default=16, help="ResNet-18 units per node")
    parser.add_argument("--resnet-only", action="store_true", help="part 2 alone")
    args = parser.parse_args()
    device = pick_device(args.device)
    print(describe(device))
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    split = TensorSplit(torch.randint(0, 256, (args.images, 3, 32, 32), dtype=torch.uint8, generator=generator),
                        torch.randint(0, 10, (args.images,), generator=generator))

    if not args.resnet_only:
        chain_vs_graph(split, device)
    resnet_cut_vs_naive(split, device, args.units)


def chain_vs_graph(split, device):
    print("\nshallow CNN: built-in chain vs traced graph")
    chain = build_model("shallow_cnn", (3, 32, 32), 10, [0.5] * 3, [0.25] * 3).eval().to(device)
    graph, node = traced(chain)
    graph = graph.to(device)
    settings = AMSettings(steps=16, chunk_size=128)
    print(f"{'layer':<8} {'AM chain s':>10} {'AM graph s':>10} {'ratio':>6} {'abl chain s':>11} {'abl graph s':>11} "
          f"{'ratio':>6}")
    for layer in chain.layers:
        width = chain.layer_width(layer, (3, 32, 32))
        units = np.arange(width)
        am = [timed(lambda m=m, l=l: maximise_layer(m, l, units, "am", settings, (3, 32, 32), device), device)
              for m, l in ((chain, layer), (graph, node[layer]))]
        ablation = [timed(lambda m=m, l=l: evaluate_units(m, split, l, units, 10, 250, device), device)
                    for m, l in ((chain, layer), (graph, node[layer]))]
        print(f"{layer:<8} {am[0]:>10.2f} {am[1]:>10.2f} {am[1] / am[0]:>5.2f}x {ablation[0]:>11.2f} "
              f"{ablation[1]:>11.2f} {ablation[1] / ablation[0]:>5.2f}x")



def resnet_cut_vs_naive(split, device, n_units):
    print("\nResNet-18 (CIFAR stem): cut-graph single-unit ablation vs the naive hook")
    resnet = build_model("torchvision:resnet18", (3, 32, 32), 10, [0.5] * 3, [0.25] * 3, cifar_stem=True)
    resnet = resnet.eval().to(device)
    print(f"{'node':<16} {'units':>5} {'cut s':>8} {'naive s':>8} {'gain':>6}")
    totals = [0.0, 0.0]
    for name, module, second_call in (("relu", resnet.net.relu, False),
                                      ("layer1.1.relu_1", resnet.net.layer1[1].relu, True),
                                      ("layer2.1.relu_1", resnet.net.layer2[1].relu, True),
                                      ("layer3.1.relu_1", resnet.net.layer3[1].relu, True),
                                      ("layer4.1.relu_1", resnet.net.layer4[1].relu, True)):
        width = resnet.layer_width(name, (3, 32, 32))
        units = np.sort(np.random.default_rng(0).permutation(width)[:n_units])
        cut = timed(lambda: evaluate_units(resnet, split, name, units, 10, 250, device), device)
        slow = timed(lambda: naive(resnet, module, split, units, 250, device, second_call), device)
        totals[0] += cut
        totals[1] += slow
        print(f"{name:<16} {len(units):>5} {cut:>8.2f} {slow:>8.2f} {slow / cut:>5.1f}x")
    print(f"{'total':<16} {'':>5} {totals[0]:>8.2f} {totals[1]:>8.2f} {totals[1] / totals[0]:>5.1f}x")


if __name__ == "__main__":
    main()
