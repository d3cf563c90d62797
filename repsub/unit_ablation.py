"""Single-unit ablation that skips what cannot change.

Two shortcuts, each exact in the arithmetic sense:

- **Silent images.** Where the ablated unit is zero everywhere on an image (after
  its ReLU), zeroing it changes nothing: that image keeps the intact network's
  result. Deep and selective units are silent on most images, so only the images
  where unit u fires go through the rest of the network with u zeroed.
- **The linear successor.** Where the block after the ablated layer starts with
  channel-wise steps (pooling, flattening, dropout) and then a convolution or a
  linear layer, that layer's output with u zeroed is its intact output minus u's
  own contribution (one input channel's convolution, or a rank-one product): the
  block's full layer is computed once per batch, not once per unit. The rest of
  the block (BatchNorm, ReLU) and of the network then runs as usual.

The first is exact when an image's result does not depend on which images share
its batch; the second equals the full pass up to rounding. tests/test_ablation.py
checks both against :func:`repsub.ablation.evaluate_masks` (the full batched pass,
itself equal to a zeroing hook) to 1e-12 in float64, and the losses are summed over
images in the same order as there.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .ablation import CPU_PASS_ELEMENTS, PASS_ELEMENTS, pass_elements, zero_sums
from .ablation_precision import Strict
from .progress import progress

# Elements of one pass on a CPU where only cheap layers follow a linear successor
# (ablation.pass_elements gives the others).
CPU_LINEAR_PASS_ELEMENTS = 1 << 17
CHANNELWISE = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Dropout, nn.Identity,
               nn.Flatten)


class Rerun:
    """The general way: the images' activations with the unit zeroed go through the rest of the network."""

    def __init__(self):
        self.cut = None

    def start(self, cut):
        """A batch's state: here the network cut at the layer (:meth:`rest` runs from it)."""
        self.cut = cut
        return cut.h

    def intact(self, h):
        return self.rest(h.clone(), torch.arange(len(h), device=h.device))

    def pair_size(self, h):
        """Elements one (image, unit) pair takes in a pass."""
        return h[0].numel()

    def pass_elements(self, device):
        return pass_elements(device)

    def entering(self, h, images, units):
        """The input of :meth:`rest` for each pair (``images[j]`` with ``units[j]`` ablated)."""
        x = h[images]
        x[torch.arange(len(x)), units] = 0
        return x

    def rest(self, x, images):
        """Logits of the batch's images ``images``, with ``x`` at the layer."""
        return self.cut.rest(x, images)


class Subtract:
    """The successor layer's output is computed once per batch; ablating unit u subtracts
    u's contribution from it, and the rest of the block and network runs from there."""

    def __init__(self, before, linear, after, onwards):
        self.before, self.linear, self.after, self.onwards = before, linear, after, onwards

    @staticmethod
    def of(model, layer):
        """A Subtract for ``layer`` where the model is a chain of blocks and the successor block
        allows it, else None."""
        successor = model.successor(layer)
        if successor is None:
            return None
        parts, onwards = successor
        for index, part in enumerate(parts):
            if isinstance(part, nn.Linear) or (
                    isinstance(part, nn.Conv2d) and part.groups == 1 and part.padding_mode == "zeros"):
                return Subtract(nn.Sequential(*parts[:index]), part, nn.Sequential(*parts[index + 1:]), onwards)
            if not isinstance(part, CHANNELWISE) or (isinstance(part, nn.Flatten) and part.start_dim != 1):
                return None
        return None

    def start(self, cut):
        """The successor's input ``p`` and output ``z``, and a channel's columns in ``p`` once flattened."""
        h = cut.h
        p = self.before(h)
        width = p.shape[1] // h.shape[1]
        if p.shape[1] != width * h.shape[1] or (isinstance(self.linear, nn.Conv2d) and width != 1):
            raise AssertionError("the successor's channel-wise steps changed the channel count")
        return p, self.linear(p), width

    def intact(self, state):
        return self.rest(state[1].clone(), None)  # torchvision's ReLUs work in place; z serves every unit

    def pair_size(self, state):
        return state[1][0].numel()

    def pass_elements(self, device):
        if device.type != "cpu":
            return PASS_ELEMENTS
        return CPU_LINEAR_PASS_ELEMENTS if isinstance(self.linear, nn.Linear) else CPU_PASS_ELEMENTS

    def entering(self, state, images, units):
        """Pairs come grouped by unit, so each unit's images are one slice of the result."""
        p, z, width = state
        x = z[images]  # indexing keeps z's memory format (channels_last convs)
        stops = units.unique_consecutive(return_counts=True)[1].cumsum(0).tolist()
        for start, stop in zip([0] + stops[:-1], stops):
            unit, pairs = int(units[start]), images[start:stop]
            if isinstance(self.linear, nn.Conv2d):
                conv = self.linear
                x[start:stop] -= F.conv2d(p[pairs, unit:unit + 1], conv.weight[:, unit:unit + 1], None,
                                          conv.stride, conv.padding, conv.dilation)
            else:  # column block u of the flattened input times column block u of the weight
                columns = slice(unit * width, (unit + 1) * width)
                x[start:stop] -= p[pairs, columns] @ self.linear.weight[:, columns].T
        return x

    def rest(self, x, images):
        return self.onwards(self.after(x))


def successor_method(model, layer):
    """Subtract where the network's structure allows it, else Rerun."""
    return Subtract.of(model, layer) or Rerun()


@torch.no_grad()
def evaluate_units(model, split, layer, units, n_classes, batch_size, device, precision=None):
    """Like ``evaluate_masks(..., intact_and_masks(n, units), ...)``: summed loss, correct
    count and per-class correct count over ``split``, row 0 intact, row k+1 with
    ``units[k]`` ablated alone. ``precision`` (:mod:`repsub.ablation_precision`) computes
    the ablated networks; the intact one is always strict fp32."""
    precision = precision or Strict()
    model = model.eval().to(device)
    method = successor_method(model, layer)
    units = torch.as_tensor(units, dtype=torch.long, device=device)
    rows = len(units) + 1
    loss_sum, correct, class_counts = zero_sums(rows, n_classes, device)
    batches = split.batches(batch_size, device)
    for images, labels in progress(batches, desc=f"ablate {layer}", total=-(-len(split) // batch_size)):
        cut = model.cut(images, layer)
        h = cut.h
        class_counts += torch.bincount(labels, minlength=n_classes).double()
        state = method.start(cut)
        intact = method.intact(state)
        precision.calibrate(lambda: method.intact(state))
        # per (row, image), row 0 intact and row k+1 ablating units[k]: silent images keep row 0's values
        losses = F.cross_entropy(intact, labels, reduction="none").repeat(rows, 1)
        hits = (intact.argmax(1) == labels).repeat(rows, 1)
        fires = h[:, units] != 0
        if fires.dim() > 2:
            fires = fires.flatten(2).any(2)
        row, image = fires.T.nonzero(as_tuple=True)  # pairs ordered by unit, then image
        step = max(1, method.pass_elements(images.device) // method.pair_size(state))
        for start in range(0, len(row), step):
            pair_rows, pair_images = row[start:start + step], image[start:start + step]
            logits = precision.logits(method.rest, method.entering(state, pair_images, units[pair_rows]), pair_images)
            losses[pair_rows + 1, pair_images] = F.cross_entropy(logits, labels[pair_images], reduction="none")
            hits[pair_rows + 1, pair_images] = logits.argmax(1) == labels[pair_images]
        loss_sum += losses.double().sum(1)
        correct.index_add_(1, labels, hits.double())
    return loss_sum.cpu().numpy(), correct.cpu().numpy(), class_counts.cpu().numpy()
