"""How ablation computes the network after the ablated layer: strict fp32, or a checked
low-precision pass.

Strict fp32 is the default: one fixed computation. On a GPU it costs 7-35x what TF32
or bf16 cost (benchmarks/README.md), so ablation may opt in to a checked pass
(``ablation.precision``): every image runs in TF32 or bf16, and every image whose
top-two logit margin is at most twice an error bound ``eps`` runs again in strict
fp32. ``eps`` is the largest per-image logit difference between the two precisions
on a calibration batch of the same model (the first batch, intact), times a safety
factor. A prediction that the low precision could have flipped is so re-decided in
fp32: "every prediction equals strict fp32" is tested (tests/test_ablation.py, on
the default study's trained models), not proven, as an ablated network may err more
than the intact one did. Losses of images not re-checked keep the low precision's
rounding; the step's provenance record names the mode, ``eps`` and the re-checked
share.
"""

import contextlib

import torch

from .errors import UserError

SAFETY = 4.0


class Strict:
    """Plain fp32 (TF32 stays off, as the device setup leaves it)."""

    name = "fp32"

    def calibrate(self, intact):
        pass

    def logits(self, run, x, images):
        """``run(x, images)``: the logits of images ``images`` of the batch, with ``x`` at the layer."""
        return run(x, images)

    def record(self):
        return {"mode": self.name}


class Checked:
    """Low precision for every image, strict fp32 again for those near a tie."""

    def __init__(self, name, device):
        if name == "checked_tf32" and torch.device(device).type != "cuda":
            raise UserError("ablation.precision checked_tf32 needs a CUDA device; use checked_bf16 or fp32 here")
        self.name, self.device = name, torch.device(device)
        self.eps, self.images, self.rechecked = None, 0, 0

    @contextlib.contextmanager
    def low(self):
        if self.name == "checked_bf16":
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                yield
            return
        matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn

    def calibrate(self, intact):
        """eps from the largest logit difference of ``intact()``, the intact network's logits
        on the first batch, between the two precisions; once."""
        if self.eps is None:
            with self.low():
                low = intact().float()
            self.eps = SAFETY * (low - intact()).abs().max().item()

    def logits(self, run, x, images):
        with self.low():
            logits = run(x.clone(), images).float()  # torchvision's ReLUs work in place; x serves the re-check
        top = logits.topk(2, dim=1).values
        near = (top[:, 0] - top[:, 1]) <= 2 * self.eps
        if near.any():
            logits[near] = run(x[near], images[near])
        self.images += len(x)
        self.rechecked += int(near.sum())
        return logits

    def record(self):
        return {"mode": self.name, "eps": self.eps, "safety": SAFETY, "images": self.images,
                "rechecked": self.rechecked, "rechecked_share": self.rechecked / max(1, self.images)}


def ablation_precision(name, device):
    """The computation that ablation setting ``precision`` names."""
    return Strict() if name == "fp32" else Checked(name, device)
