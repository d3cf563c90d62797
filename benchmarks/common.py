"""Shared helpers for the benchmark scripts."""

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def setup(parser):
    """Parse the arguments (adding --device), print the machine, and return
    (args, device, a seeded shallow CNN for CIFAR-shaped input in eval mode)."""
    from repsub.devices import pick_device
    from repsub.models import build_model

    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    print(describe(device))
    torch.manual_seed(0)
    model = build_model("shallow_cnn", (3, 32, 32), 10, [0.5] * 3, [0.25] * 3).eval().to(device)
    return args, device, model


def synchronise(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(function, device, repeats=1):
    """Best wall time of ``repeats`` calls, in seconds (the first pays for warm-up)."""
    best = float("inf")
    for _ in range(repeats):
        synchronise(device)
        start = time.perf_counter()
        function()
        synchronise(device)
        best = min(best, time.perf_counter() - start)
    return best


def describe(device):
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    return f"torch {torch.__version__} on {name}"


def compare(rows, device, repeats):
    """Time ours against the naive way per layer and print the ratios.

    ``rows`` yields (layer, units, ours, naive), the last two callables."""
    totals = {"ours": 0.0, "naive": 0.0}
    print(f"{'layer':<6} {'units':>5} {'ours s':>8} {'naive s':>8} {'ratio':>6}")
    for layer, units, ours_run, naive_run in rows:
        ours, naive = timed(ours_run, device, repeats), timed(naive_run, device, repeats)
        totals["ours"] += ours
        totals["naive"] += naive
        print(f"{layer:<6} {units:>5} {ours:>8.2f} {naive:>8.2f} {naive / ours:>5.1f}x")
    print(f"{'total':<6} {'':>5} {totals['ours']:>8.2f} {totals['naive']:>8.2f} "
          f"{totals['naive'] / totals['ours']:>5.1f}x")
