"""Contact sheets: a grid of images, each labelled with its unit id.

The grid is one image on one set of axes (a montage), not one axes per unit: an AM step draws
four sheets per layer, and 64 axes each cost matplotlib more than the optimisation of a small
layer does."""

import math

import numpy as np


def as_display(image: np.ndarray) -> np.ndarray:
    """(C, H, W) in [0, 1] to something ``imshow`` shows: (H, W) or (H, W, 3)."""
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)


def montage(images: np.ndarray, columns: int, gap: tuple[int, int]):
    """(N, C, H, W) images in [0, 1] tiled row by row into one RGBA canvas whose gaps are
    transparent; ``gap`` is (above each tile, right of each tile) in pixels. Returns the canvas
    and each tile's top-left corner (x, y)."""
    n, channels, height, width = images.shape
    above, right = gap
    rows = math.ceil(n / columns)
    canvas = np.zeros((rows * (height + above), columns * (width + right), 4))
    corners = []
    for k, image in enumerate(images):
        x, y = (k % columns) * (width + right), (k // columns) * (height + above) + above
        tile = np.clip(image.transpose(1, 2, 0), 0, 1)
        canvas[y:y + height, x:x + width, :3] = tile if channels == 3 else tile[..., :1]
        canvas[y:y + height, x:x + width, 3] = 1
        corners.append((x, y))
    return canvas, corners


def contact_sheet(images: np.ndarray, units, title: str, max_images: int = 64, unmoved=()):
    """Up to ``max_images`` images with their unit ids; a unit in ``unmoved`` (one AM never
    raised above its starting noise) is labelled so, in red."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure

    shown = min(len(images), max_images)
    columns = min(8, shown)
    height, width = images.shape[2:]
    gap = (max(2, round(0.3 * height)), max(1, round(0.08 * width)))  # room for a label; a margin
    canvas, corners = montage(images[:shown], columns, gap)
    figure = Figure(figsize=(1.2 * columns, 1.2 * columns * canvas.shape[0] / canvas.shape[1] + 0.4))
    ax = figure.add_axes((0, 0, 1, 1 - 0.4 / figure.get_figheight()))
    ax.imshow(canvas, interpolation="nearest")
    ax.axis("off")
    # a frame round each tile: a saturated image is all white
    ax.add_collection(PolyCollection([[(x - .5, y - .5), (x + width - .5, y - .5), (x + width - .5, y + height - .5),
                                       (x - .5, y + height - .5)] for x, y in corners],
                                     facecolors="none", edgecolors="black", linewidths=0.5, clip_on=False))
    for k, (x, y) in enumerate(corners):
        still = units[k] in unmoved
        ax.text(x + width / 2, y - 1, f"unit {units[k]}" + (" unmoved" if still else ""), fontsize=7,
                ha="center", va="bottom", color="tab:red" if still else "black")
    suffix = f" (first {shown} of {len(images)})" if shown < len(images) else ""
    if len(unmoved):
        suffix += f"; {len(unmoved)} unit(s) AM never moved"
    figure.suptitle(title + suffix, fontsize=9)
    return figure
