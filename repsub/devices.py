"""Device choice, numeric precision of the optimisation loops, and seeding."""

import contextlib
import random

import numpy as np
import torch

from .errors import UserError
from .settings import PRECISIONS


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' was asked for but no CUDA GPU is visible; use device: auto or cpu")
    if name not in ("cpu", "cuda"):
        raise UserError(f"unknown device {name!r}; use auto, cpu or cuda")
    if name == "cuda":
        # cuDNN runs fp32 convolutions in TF32 (10-bit mantissa) unless told not to: the
        # measuring steps promise fp32 on every device, as on the CPU.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    return torch.device(name)


def describe_device(name: str = "auto") -> str:
    """The device a job will use, as provenance records it: ``cuda:0 (<card>)`` or ``cpu (<n> threads)``."""
    device = pick_device(name)
    if device.type == "cuda":
        index = torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    threads = torch.get_num_threads()
    return f"cpu ({threads} thread{'s' if threads > 1 else ''})"


def cpu_has_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU (AVX-512 BF16 or AMX); elsewhere it
    emulates bf16, slower than fp32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(name: str, device: torch.device) -> str:
    """``fp32`` or ``bf16``: what ``auto`` means on ``device`` (bf16 on CUDA and on CPUs with
    native bf16), or the precision asked for."""
    if name not in PRECISIONS:
        raise UserError(f"unknown precision {name!r}; use auto, fp32 or bf16")
    if name != "auto":
        return name
    return "bf16" if device.type == "cuda" or cpu_has_bf16() else "fp32"


def autocast(device: torch.device, precision: str):
    """bf16 autocast for an optimisation loop (training, AM) when ``precision`` is bf16;
    measuring (evaluation, selectivity, RS, ablation) never runs under it."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> torch.Generator:
    """Seed the global generators and return a dedicated CPU generator for data order."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)
