"""A claim's possible outcomes and the multiplicity adjustment every rule set shares (a
module of its own, so that the rules of :mod:`repsub.claims` and the registered test of
:mod:`repsub.confirmatory` import them without importing each other)."""

import numpy as np
import pandas as pd

REPRODUCED, CONTRADICTED, INCONCLUSIVE = "reproduced", "contradicted", "inconclusive"
ABSENT = "absent"  # rules v3: the data bound the effect below the smallest effect of interest
ALPHA = 0.05


def holm(p):
    """Holm's step-down adjustment of the p-values of one claim's layers (NaN stays NaN and
    counts in the family, so an undefined layer never makes the others look stronger)."""
    p = pd.Series(p, dtype=float)
    order = p.sort_values(na_position="last").index
    m = len(p)
    adjusted = pd.Series(np.nan, index=p.index)
    running = 0.0
    for rank, index in enumerate(order):
        if pd.isna(p[index]):
            break
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted
