"""fp32 against bf16 autocast, side by side: training steps, the AM loop and ablation.

Training and AM run under bf16 when the job's precision is bf16 (``precision: auto``
picks it on CUDA and on CPUs with native bf16); ablation always runs in fp32, and its
row shows what bf16 would have saved there. fp32 and bf16 repeats alternate, so that
both see the same machine state; each figure is the best of its repeats.
"""

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from common import describe, timed

from repsub.ablation import evaluate_masks, intact_and_masks
from repsub.am import maximise_layer
from repsub.data import TensorSplit
from repsub.devices import autocast, pick_device
from repsub.nets.names import build_model
from repsub.settings import AMSettings

SHAPE = (3, 32, 32)


def cifar_model(name, device):
    torch.manual_seed(0)
    return build_model(name, SHAPE, 10, [0.5] * 3, [0.25] * 3).to(device, memory_format=torch.channels_last)


def training_steps(name, batch_size, steps, device):
    """A callable per precision running ``steps`` SGD steps of model ``name``."""
    model = cifar_model(name, device)
    x = torch.rand(batch_size, *SHAPE, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch_size,), device=device)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)

    def run(precision):
        for _ in range(steps):
            with autocast(device, precision):
                loss = F.cross_entropy(model(x).float(), y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()

    return run


def am_loop(layer, units, steps, device):
    model = cifar_model("shallow_cnn", device).eval()
    settings = AMSettings(steps=steps, chunk_size=256, trace_every=steps)
    return lambda precision: maximise_layer(model, layer, np.arange(units), "am", settings, SHAPE, device, precision)


def ablation_pass(layer, n_images, device):
    model = cifar_model("shallow_cnn", device).eval()
    torch.manual_seed(1)
    split = TensorSplit(torch.randint(0, 256, (n_images, *SHAPE), dtype=torch.uint8), torch.randint(0, 10, (n_images,)))
    masks = intact_and_masks(model.layer_width(layer, SHAPE), np.arange(32))

    def run(precision):
        with autocast(device, precision):
            evaluate_masks(model, split, layer, masks, 10, 200, 16, device)

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = pick_device(args.device)
    print(describe(device))
    cases = [
        ("train shallow_cnn, 8 steps of 256", training_steps("shallow_cnn", 256, 8, device)),
        ("train vgg16, 4 steps of 128", training_steps("vgg16", 128, 4, device)),
        ("AM conv3, 128 units x 16 steps", am_loop("conv3", 128, 16, device)),
        ("AM fc1, 256 units x 16 steps", am_loop("fc1", 256, 16, device)),
        ("ablation conv3, 32 units x 400 images (fp32 in the workflow)", ablation_pass("conv3", 400, device)),
    ]
    print(f"{'case':<62} {'fp32 s':>8} {'bf16 s':>8} {'fp32/bf16':>9}")
    for name, run in cases:
        run("fp32"), run("bf16")  # warm-up both
        best = {"fp32": float("inf"), "bf16": float("inf")}
        for _ in range(args.repeats):
            for precision in best:
                best[precision] = min(best[precision], timed(lambda: run(precision), device))
        print(f"{name:<62} {best['fp32']:>8.3f} {best['bf16']:>8.3f} {best['fp32'] / best['bf16']:>8.2f}x", flush=True)


if __name__ == "__main__":
    main()
