"""What AM maximises for each unit: one small function per method, one interface.

Each objective gets the layer's unit activations in the spaces it asks for
(``pre_relu``, ``post_relu``: :func:`repsub.am.activations_by_space`) and the
index of each image's own unit, and returns one value per image. Image b's
value depends on image b alone, so a batch of units optimises as each alone.

- AM: the unit's activation in the optimised space (``am.optimise``).
- IAM: that minus the mean of the layer's other units. Where the others are
  taken is a setting (``am.iam_others``): in the optimised space, as repsub
  did first, or in the compared space (``am.compare``, where RS is measured).
  With the default spaces (optimise pre-ReLU, compare post-ReLU) the first
  rewards pushing silent units further below zero, which cannot change RS;
  the second does not (docs/CHOICES.md).
"""

import torch

from .errors import UserError


def spaces_needed(method, settings) -> tuple:
    """The activation spaces ``method``'s objective reads."""
    if method == "iam" and settings.iam_others == "compared":
        return tuple(dict.fromkeys((settings.optimise, settings.compare)))
    return (settings.optimise,)


def _own(acts: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
    return acts.gather(1, units[:, None]).squeeze(1)


def activation(acts: dict, units: torch.Tensor, settings) -> torch.Tensor:
    return _own(acts[settings.optimise], units)


def inhibition(acts: dict, units: torch.Tensor, settings) -> torch.Tensor:
    target = _own(acts[settings.optimise], units)
    others = acts[settings.optimise if settings.iam_others == "optimised" else settings.compare]
    return target - (others.sum(1) - _own(others, units)) / (others.shape[1] - 1)


OBJECTIVES = {"am": activation, "iam": inhibition}


def objective(method):
    if method not in OBJECTIVES:
        raise UserError(f"unknown method {method!r}; use {' or '.join(OBJECTIVES)}")
    return OBJECTIVES[method]
