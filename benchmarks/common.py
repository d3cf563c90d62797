"""Shared helpers for the benchmark scripts."""

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


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
