"""The registered analysis (docs/REGISTRATION.md): the claims on each sample of seeds, and the
primary test.

A study's stats.csv holds every seed's rows, the exploratory seeds' and the registered
(confirmatory) seeds' alike, and its claims pool them all. The registration makes the
confirmatory sample's verdicts those of record and reports the exploratory sample's and
all seeds' beside them, so each sample's pooled statistics are computed again from its own
per-seed rows (:func:`repsub.stats.restate`) and its claims tested by the same rules. The
registered seeds count only in the registered networks: a sensitivity analysis that trains
another network on one of them (the 100-epoch runs) is reported in robustness.csv, in no sample.

The primary test is C1a on AM in the two shallow CNNs, on the confirmatory seeds: the four
layer tests (two networks, their two early conv layers) form one Holm family, for the
effect and for the equivalence alike, and each network gets a rules-v3 verdict from its two
layers. The paper's claim is supported where both networks reproduce it, refuted where
both contradict it or show it absent, and otherwise the two verdicts stand as they are.
"""

import pandas as pd

from .claims import claims_table, early_conv_layers
from .confirmatory import seed_test, verdict
from .errors import UserError
from .outcomes import ABSENT, ALPHA, CONTRADICTED, REPRODUCED, holm
from .stats import per_seed, restate

PRIMARY_RUNS = ("shallow_cnn", "shallow_cnn_nobn")
PRIMARY_RS = "rs_am"
SUPPORTED, REFUTED, MIXED = "supported", "refuted", "neither: the two verdicts as they are"


def joined_seeds(tables, paths) -> pd.DataFrame:
    """The per-seed rows of studies analysed apart, in one table; a run's seed in two of them
    is refused (which copy would count?)."""
    seen = {}
    for table, path in zip(tables, paths):
        for run, seed in per_seed(table)[["model", "seed"]].drop_duplicates().itertuples(index=False):
            if (run, seed) in seen:
                raise UserError(f"{run} seed {seed} is in both {seen[run, seed]} and {path}; give each seed's "
                                f"statistics once")
            seen[run, seed] = path
    return pd.concat([per_seed(table) for table in tables], ignore_index=True)


def registered_networks(stats, seeds, runs=None) -> pd.DataFrame:
    """The per-seed rows the samples are drawn from: the registered ``seeds`` count only in the
    registered networks ``runs`` (every run if None); another run of those seeds, such as a
    sensitivity analysis's 100-epoch network, is in no sample. The other seeds' rows stay."""
    rows = per_seed(stats)
    if runs is None:
        return rows
    registered = rows.seed.astype(int).isin(seeds)
    missing = sorted(set(runs) - set(rows.model[registered]))
    if missing:
        raise UserError(f"the study's stats.csv has no rows of the registered networks {missing} on the registered "
                        f"seeds; finish their runs first (or check registration.runs)")
    return rows[~registered | rows.model.isin(runs)]


def sample_seeds(stats, registered) -> dict:
    """Each sample's seeds: the registered ones, the others, and all of them."""
    seeds = sorted({int(seed) for seed in per_seed(stats).seed}, key=int)
    registered = sorted(set(registered))
    missing = [seed for seed in registered if seed not in seeds]
    if missing:
        raise UserError(f"the study's stats.csv has no rows of the registered seeds {missing}; finish their runs "
                        f"first (or check registration.seeds)")
    found = {"confirmatory": registered, "exploratory": [s for s in seeds if s not in registered], "all": seeds}
    return {name: seeds for name, seeds in found.items() if seeds}  # a study may have no exploratory seeds


def sample_stats(stats, seeds) -> pd.DataFrame:
    """The study's statistics on ``seeds`` alone: their per-seed rows, pooled again."""
    rows = per_seed(stats)
    return restate(rows[rows.seed.astype(int).isin(seeds)])


def samples(stats, registered, runs=None):
    """(statistics, claims) of every sample, each with a ``sample`` column first; ``runs``: the
    registered networks (:func:`registered_networks`)."""
    stats = registered_networks(stats, registered, runs)
    tables = []
    for name, seeds in sample_seeds(stats, registered).items():
        restated = sample_stats(stats, seeds)
        tables.append((restated.assign(sample=name), claims_table(restated).assign(sample=name)))
    return tuple(_sample_first(pd.concat(parts, ignore_index=True)) for parts in zip(*tables))


def _sample_first(table):
    return table[["sample", *[column for column in table.columns if column != "sample"]]]


def primary_test(stats) -> pd.DataFrame:
    """The registered primary test on the confirmatory sample's ``stats``: a row per layer
    test with its seeds' r, intervals, p and TOST p (each Holm-adjusted across the four),
    the network's verdict and the reading of the paper's claim."""
    seeds = per_seed(stats)
    rows = []
    for run in PRIMARY_RUNS:
        tested = seeds[(seeds.model == run) & (seeds.statistic == "spearman") & (seeds.x == "selectivity")
                       & (seeds.y == PRIMARY_RS)]
        layers = early_conv_layers(tested.drop_duplicates("layer").sort_values("depth"))
        if len(layers) < 2:
            raise UserError(f"the confirmatory sample has no two early conv layers of {run} with RS from AM; "
                            f"finish its runs first")
        for layer in layers.layer:
            r = tested[tested.layer == layer].sort_values("seed", key=lambda s: s.astype(int))
            rows.append({"model": run, "layer": layer, "seeds": " ".join(r.seed.astype(str)),
                         **seed_test(r.value.to_numpy(float))})
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table.p).to_numpy()
    table["p_equivalence_holm"] = holm(table.p_equivalence).to_numpy()
    positive = (table.p_holm < ALPHA) & (table.value > 0)
    negative = (table.p_holm < ALPHA) & (table.value < 0)
    equivalent = table.p_equivalence_holm < ALPHA
    table["counts_for"] = [("r > 0" if p else "r < 0" if n else "equivalent" if e else "neither")
                           for p, n, e in zip(positive, negative, equivalent)]
    verdicts = {run: verdict(positive[table.model == run].to_numpy(), negative[table.model == run].to_numpy(),
                             equivalent[table.model == run].to_numpy(), sign=1) for run in PRIMARY_RUNS}
    table["verdict"] = table.model.map(verdicts)
    table["reading"] = reading(list(verdicts.values()))
    return table


def reading(verdicts) -> str:
    if all(v == REPRODUCED for v in verdicts):
        return SUPPORTED
    if all(v in (CONTRADICTED, ABSENT) for v in verdicts):
        return REFUTED
    return MIXED
