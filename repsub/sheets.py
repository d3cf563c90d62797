"""Contact sheets: a grid of images, each labelled with its unit id."""

import math

import numpy as np


def as_display(image: np.ndarray) -> np.ndarray:
    """(C, H, W) in [0, 1] to something ``imshow`` shows: (H, W) or (H, W, 3)."""
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)


def contact_sheet(images: np.ndarray, units, title: str, max_images: int = 64, unmoved=()):
    """Up to ``max_images`` images with their unit ids; a unit in ``unmoved`` (one AM never
    raised above its starting noise) is labelled so, in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = min(len(images), max_images)
    columns = min(8, shown)
    rows = math.ceil(shown / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.2 * columns, 1.35 * rows + 0.4), squeeze=False,
                                layout="constrained")  # the title sits right above the images
    for k, ax in enumerate(axes.flat):
        ax.set(xticks=[], yticks=[])  # keep the frame: a saturated image is all white
        if k >= shown:
            ax.axis("off")
        else:
            ax.imshow(as_display(images[k]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            still = units[k] in unmoved
            ax.set_title(f"unit {units[k]}" + (" unmoved" if still else ""), fontsize=7,
                         color="tab:red" if still else "black")
    suffix = f" (first {shown} of {len(images)})" if shown < len(images) else ""
    if len(unmoved):
        suffix += f"; {len(unmoved)} unit(s) AM never moved"
    figure.suptitle(title + suffix, fontsize=9)
    return figure
