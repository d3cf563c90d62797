"""Representative substitution (RS) from a substitution matrix."""

import numpy as np
import pandas as pd


def rs_table(substitution: np.ndarray, units: np.ndarray, layer: str, method: str,
             tolerance: float = 0.0) -> pd.DataFrame:
    """RS(i) = #{j : x_j > x_i} / n_units on unit i's image (strict inequality).

    ``substitution[k, j]`` is unit j's activation on the image made for unit ``units[k]``.
    With a relative ``tolerance`` (the registered sensitivity analysis), another unit also
    counts where it falls short of the target by no more than ``tolerance * |x_i|``: near-ties
    count as substitutes.
    """
    substitution = np.asarray(substitution)
    units = np.asarray(units)
    target = substitution[np.arange(len(units)), units]
    if tolerance:
        others = np.ones(substitution.shape, dtype=bool)
        others[np.arange(len(units)), units] = False
        n_greater = ((substitution >= (target - tolerance * np.abs(target))[:, None]) & others).sum(axis=1)
    else:
        n_greater = (substitution > target[:, None]).sum(axis=1)
    n_units = substitution.shape[1]
    return pd.DataFrame({
        "layer": layer,
        "unit": units,
        "method": method,
        "rs": n_greater / n_units,
        "target_activation": target,
        "n_greater": n_greater,
        "n_units": n_units,
    })


def top_substitutes(substitution_row: np.ndarray, unit: int, k: int = 2) -> list[int]:
    """The ``k`` other units that respond most strongly to ``unit``'s image."""
    order = np.argsort(-np.asarray(substitution_row), kind="stable")
    return [int(j) for j in order if j != unit][:k]
