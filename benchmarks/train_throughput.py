"""Shallow CNN training throughput against the fp32 matmul peak of the same machine.

Counts the multiply-adds of every conv and linear layer with forward hooks,
takes a training step as 3x the forward FLOPs (forward, input and weight
gradients), and prints the achieved FLOP/s as a fraction of the FLOP/s torch
reaches on a large fp32 matrix multiply in the same run.
"""

import argparse

import torch
import torch.nn.functional as F
from common import describe, timed

from repsub.devices import pick_device
from repsub.nets.names import build_model


def forward_flops(model, x):
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total += 2 * output.numel() * per_output
        elif isinstance(module, torch.nn.Linear):
            total += 2 * output.numel() * module.in_features

    handles = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return total


def matmul_flops_per_second(device, size, repeats):
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    seconds = timed(lambda: [a @ b for _ in range(4)], device, repeats)
    return 4 * 2 * size**3 / seconds


def training_images_per_second(device, batch_size, steps, channels_last):
    model = build_model("shallow_cnn", (3, 32, 32), 10, [0.5] * 3, [0.25] * 3).to(device)
    x = torch.rand(batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch_size,), device=device)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)

    def run():
        for _ in range(steps):
            loss = F.cross_entropy(model(x), y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()

    run()  # warm-up
    seconds = timed(run, device, repeats=3)
    return batch_size * steps / seconds, forward_flops(model, x[:1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    print(describe(device))
    peak = matmul_flops_per_second(device, 4096 if device.type == "cuda" else 2048, repeats=5)
    print(f"fp32 matmul peak: {peak / 1e9:.1f} GFLOP/s")
    for channels_last in (False, True):
        images, flops = training_images_per_second(device, args.batch_size, args.steps, channels_last)
        achieved = 3 * flops * images
        layout = "channels_last (ours)" if channels_last else "contiguous (naive)"
        print(f"shallow CNN training, {layout}: {images:.0f} images/s, {achieved / 1e9:.1f} GFLOP/s, "
              f"{achieved / peak:.0%} of the matmul peak")


if __name__ == "__main__":
    main()
