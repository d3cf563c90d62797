"""Training with the whole data set as one tensor on the device (no DataLoader).

Augmentation (random crop with padding, horizontal flip) runs on batched
tensors; conv nets run channels_last (faster with oneDNN on CPU as well as on
CUDA). The training steps run under bf16 autocast when the job's precision is
bf16; the per-epoch test accuracy is measured in fp32.
With ``resume: true`` the state after each epoch is saved, and a rerun after a
kill continues from it to the same final weights (on CPU).
"""

import sys
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from .devices import autocast
from .errors import UserError
from .io import sha256_file
from .settings import TrainSettings
from .torchfiles import load_torch_file, save_torch

def random_crop_flip(images, padding, flip, generator):
    """Random translation by up to ``padding`` pixels (reflect padding) and random
    horizontal flips, drawn per image from ``generator`` (a CPU generator)."""
    n, _, height, width = images.shape
    if padding:
        padded = F.pad(images, (padding,) * 4, mode="reflect")
        dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(images.device)
        dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(images.device)
        rows = (dy[:, None] + torch.arange(height, device=images.device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(width, device=images.device))[:, None, None, :]
        batch = torch.arange(n, device=images.device)[:, None, None, None]
        channel = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
        images = padded[batch, channel, rows, cols]
    if flip:
        mirrored = (torch.rand(n, generator=generator) < 0.5).to(images.device)
        images = torch.where(mirrored[:, None, None, None], images.flip(3), images)
    return images


@torch.no_grad()
def evaluate(model, split, batch_size, device):
    """Mean cross-entropy loss and accuracy of ``model`` on ``split``."""
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for images, labels in split.batches(batch_size, device):
        logits = model(images).float()
        total_loss += F.cross_entropy(logits, labels, reduction="sum").item()
        correct += (logits.argmax(1) == labels).sum().item()
        count += len(labels)
    return total_loss / count, correct / count


def make_optimizer(model, settings, steps_total):
    decay = [p for p in model.parameters() if p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.dim() <= 1]
    optimizer = torch.optim.SGD(
        [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=settings.lr, momentum=settings.momentum, nesterov=settings.nesterov,
    )
    warmup = max(1, int(settings.warmup_fraction * steps_total))

    def triangle(step):  # linear warm-up to lr, then linear decay to zero
        return step / warmup if step < warmup else max(0.0, (steps_total - step) / max(1, steps_total - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, triangle)


def train(model, train_split, test_split, settings: TrainSettings, device, precision, generator, resume_path=None,
          run=None):
    """Train ``model`` in place (``precision`` fp32 or bf16); return the per-epoch metrics as a
    DataFrame and, where it continued from ``resume_path``, what that state was (else None).
    ``run`` says what this training is (model, seed, settings, data): a saved state carries
    it, and one saved by another run is refused rather than continued."""
    if not hasattr(train_split, "images"):
        raise UserError("training needs the data set in memory; set in_memory: true for it (streaming is "
                        "for evaluating pretrained models on ImageNet)")
    if settings.crop_padding >= min(train_split.images.shape[-2:]):
        raise UserError(f"train.crop_padding {settings.crop_padding} is not smaller than the images' side "
                        f"{min(train_split.images.shape[-2:])}; lower it")
    images, labels = train_split.images.to(device), train_split.labels.to(device)
    model.to(memory_format=torch.channels_last)
    steps_per_epoch = -(-len(labels) // settings.batch_size)
    optimizer, scheduler = make_optimizer(model, settings, steps_per_epoch * settings.epochs)
    rows, first_epoch, resumed = [], 1, None
    if resume_path is not None and Path(resume_path).is_file():
        state = load_resume_state(resume_path, run)
        resumed = {"sha256": sha256_file(resume_path), "epoch": state["epoch"], "run": state["run"]}
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        rows, first_epoch = state["rows"], state["epoch"] + 1
    for epoch in range(first_epoch, settings.epochs + 1):
        model.train()
        order = torch.randperm(len(labels), generator=generator).to(device)
        loss_sum, correct = torch.zeros((), device=device), torch.zeros((), device=device)
        for step in range(steps_per_epoch):
            index = order[step * settings.batch_size : (step + 1) * settings.batch_size]
            batch = random_crop_flip(images[index].float().div_(255), settings.crop_padding, settings.flip, generator)
            batch = batch.contiguous(memory_format=torch.channels_last)
            with autocast(device, precision):
                logits = model(batch).float()
            loss = F.cross_entropy(logits, labels[index], label_smoothing=settings.label_smoothing)
            if not torch.isfinite(loss):
                raise UserError(f"training diverged: the loss became {loss.item()} at epoch {epoch}, "
                                f"step {step + 1}; lower train.lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.detach() * len(index)
            correct += (logits.argmax(1) == labels[index]).sum()
        test_loss, test_acc = evaluate(model, test_split, settings.eval_batch_size, device)
        rows.append({
            "epoch": epoch,
            "train_loss": loss_sum.item() / len(labels),
            "train_accuracy": correct.item() / len(labels),
            "test_loss": test_loss,
            "test_accuracy": test_acc,
            "lr_end": scheduler.get_last_lr()[0],
        })
        print(f"epoch {epoch}/{settings.epochs}: train accuracy {rows[-1]['train_accuracy']:.3f}, test accuracy "
              f"{test_acc:.3f}", file=sys.stderr, flush=True)  # a line per epoch: logs hold no progress bars
        if resume_path is not None:
            save_torch(resume_path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                     "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                                     "rows": rows, "epoch": epoch, "run": run})
    model.to(memory_format=torch.contiguous_format)
    return pd.DataFrame(rows), resumed


RESUME_KEYS = ("model", "optimizer", "scheduler", "generator", "rows", "epoch", "run")


def load_resume_state(path, run):
    """The training state at ``path``, if this run saved it: a checkpoint or a state saved by
    another run (other model, seed, settings or data) is refused with one sentence."""
    state = load_torch_file(path, "training state", "delete it to train from the start")
    if not isinstance(state, dict) or any(key not in state for key in RESUME_KEYS):
        kind = "a checkpoint" if isinstance(state, dict) and "state_dict" in state else "no training state"
        raise UserError(f"{path} is {kind}, not the state this training saves after each epoch; delete it to "
                        f"train from the start")
    if state["run"] != run:
        differ = sorted(k for k in {*(state["run"] or {}), *(run or {})}
                        if (state["run"] or {}).get(k) != (run or {}).get(k))
        raise UserError(f"{path} was saved by another training run (its {', '.join(differ)} differ from this "
                        f"one's); delete it to train from the start")
    return state
