"""Which units of a layer a stage analyses: all, or a seeded subset (torch-free, so the
statistics step can check that a table holds exactly the units its stage chose)."""

import numpy as np


def select_units(n_units: int, max_units=None, seed: int = 0) -> np.ndarray:
    """All units, or a seeded, sorted subset of ``max_units`` of them: the first ``max_units``
    of one seeded permutation, so that with one seed a smaller subset lies inside a larger
    one (single-unit ablation's units inside AM's, for example)."""
    if max_units is None or max_units >= n_units:
        return np.arange(n_units)
    return np.sort(np.random.default_rng(seed).permutation(n_units)[:max_units])
