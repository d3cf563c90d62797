"""How AM represents the image it optimises: one small class per parameterisation.

Each takes the unit's starting noise, holds the tensor Adam updates
(``parameters``), gives the image in [0, 1] (``image()``) and keeps it valid
after a step (``after_step()``). Images never mix across a batch.

- ``pixel`` (default): the pixels themselves, clamped to [0, 1] after each step.
- ``fourier``: the decorrelated parameterisation of feature visualisation
  (lucent; Olah et al. 2017, Distill; Mordvintsev et al. 2018, "Differentiable
  Image Parameterizations"): the image is a sigmoid of an inverse real FFT of a
  spectrum scaled by 1/frequency, so that every frequency gets a like share of
  the gradient rather than the high ones most, as in pixel space. Its spectrum
  starts at the one that gives the starting noise (clipped to [0.01, 0.99]
  before the sigmoid's inverse), so both start from the unit's noise. lucent
  also decorrelates colour with ImageNet's colour covariance; a data set's
  colour covariance is not in repsub's manifest, so colour is left as it is.
"""

import torch

EDGE = 0.01  # the noise is clipped to [EDGE, 1 - EDGE] before the sigmoid's inverse


class Pixel:
    def __init__(self, noise: torch.Tensor):
        self.parameters = noise.contiguous(memory_format=torch.channels_last).requires_grad_(True)

    def image(self):
        return self.parameters

    def after_step(self):
        with torch.no_grad():
            self.parameters.clamp_(0, 1)


class Fourier:
    def __init__(self, noise: torch.Tensor):
        height, width = noise.shape[-2:]
        rows = torch.fft.fftfreq(height, dtype=noise.dtype, device=noise.device)[:, None]
        columns = torch.fft.rfftfreq(width, dtype=noise.dtype, device=noise.device)[None, :]
        frequency = torch.sqrt(rows ** 2 + columns ** 2)
        self.scale = 1.0 / torch.clamp(frequency, min=1.0 / max(height, width))  # 1/f, bounded at the lowest
        self.size = (height, width)
        logits = torch.logit(noise.clamp(EDGE, 1 - EDGE))
        spectrum = torch.fft.rfft2(logits, norm="ortho") / self.scale
        self.parameters = torch.view_as_real(spectrum).contiguous().requires_grad_(True)

    def image(self):
        spectrum = torch.view_as_complex(self.parameters) * self.scale
        return torch.sigmoid(torch.fft.irfft2(spectrum, s=self.size, norm="ortho"))

    def after_step(self):
        pass  # the sigmoid keeps the image in (0, 1)


PARAMETERISATIONS = {"pixel": Pixel, "fourier": Fourier}
