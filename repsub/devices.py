"""Device choice and seeding."""

import random

import numpy as np
import torch

from .errors import UserError


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' was asked for but no CUDA GPU is visible; use device: auto or cpu")
    if name not in ("cpu", "cuda"):
        raise UserError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def describe_device(name: str = "auto") -> str:
    """The device a job will use, as provenance records it: ``cuda:0 (<card>)`` or ``cpu (<n> threads)``."""
    device = pick_device(name)
    if device.type == "cuda":
        index = torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def seed_everything(seed: int) -> torch.Generator:
    """Seed the global generators and return a dedicated CPU generator for data order."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)
