"""Per-unit tables merged per run, and the Spearman statistics behind the figures."""

import warnings

import numpy as np
import pandas as pd

from .errors import UserError
from .io import read_table

SELECTIVITY_COLUMNS = ["layer", "unit", "selectivity", "dead"]
STATS_COLUMNS = ["dataset", "model", "seed", "depth", "layer", "statistic", "x", "y", "n", "value", "ci_low",
                 "ci_high", "p"]

CORRELATIONS = (
    ("selectivity", "rs_am"),
    ("selectivity", "rs_iam"),
    ("selectivity", "accuracy_drop"),
    ("rs_am", "accuracy_drop"),
    ("rs_iam", "accuracy_drop"),
)
DESCRIBED = ("selectivity", "rs_am", "rs_iam", "accuracy_drop")


def unit_table(tables, dataset, model, layers, methods) -> pd.DataFrame:
    """One row per (seed, layer, unit): selectivity, RS per method, ablation effect, from a
    run's ``tables`` (:func:`repsub.layout.run_tables`)."""
    path = {(t.kind, t.seed, t.layer, t.method): t.path for t in tables}
    frames = []
    for seed in dict.fromkeys(t.seed for t in tables):
        selectivity = read_table(path["selectivity", seed, None, None], SELECTIVITY_COLUMNS, "selectivity")
        for layer in layers:
            units = selectivity[selectivity.layer == layer][["unit", "selectivity", "dead"]]
            if units.empty:
                raise UserError(f"{path['selectivity', seed, None, None]} has no units of layer {layer}; rerun the "
                                f"selectivity step of this checkpoint")
            for method in methods:
                rs = read_table(path["rs", seed, layer, method], ["unit", "rs"], "am")
                units = units.merge(rs[["unit", "rs"]].rename(columns={"rs": f"rs_{method}"}),
                                    on="unit", how="left")
            ablation = read_table(path["ablation", seed, layer, None], ["unit", "accuracy_drop", "loss_increase"],
                                  "ablate")
            units = units.merge(ablation[["unit", "accuracy_drop", "loss_increase"]], on="unit", how="left")
            units.insert(0, "layer", layer)
            units.insert(0, "depth", layers.index(layer) + 1)
            units.insert(0, "seed", seed)
            frames.append(units)
    table = pd.concat(frames, ignore_index=True)
    table.insert(0, "model", model)
    table.insert(0, "dataset", dataset)
    return table


def spearman(x, y):
    """n, r, 95% CI and p of a Spearman correlation (pingouin); NaN where undefined."""
    import pingouin

    n = len(x)
    if n < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"n": n, "r": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = pingouin.corr(x, y, method="spearman").iloc[0]
        low, high = pingouin.compute_esci(stat=result["r"], nx=n, ny=n, eftype="r", decimals=6)
    return {"n": n, "r": result["r"], "ci_low": low, "ci_high": high, "p": result["p_val"]}


def layer_statistics(units: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, seed, layer): Spearman rows for each pair in CORRELATIONS and
    descriptive rows (mean, std, fraction of zeros) for each column in DESCRIBED.
    Dead units are excluded and counted in ``n_excluded``."""
    rows = []
    keys = ["dataset", "model", "seed", "depth", "layer"]
    for key, group in units.groupby(keys, sort=True):
        base = dict(zip(keys, key))
        alive = group[~group["dead"].astype(bool)]
        for x, y in CORRELATIONS:
            if x not in group or y not in group:
                continue
            pair = alive[[x, y]].dropna()
            rows.append({**base, "statistic": "spearman", "x": x, "y": y,
                         "n_excluded": int(len(group) - len(alive)), **spearman(pair[x].to_numpy(), pair[y].to_numpy())})
        for column in DESCRIBED:
            if column not in group:
                continue
            values = alive[column].dropna()
            for name, value in (("mean", values.mean()), ("std", values.std(ddof=0)),
                                ("fraction_zero", (values == 0).mean())):
                rows.append({**base, "statistic": name, "x": column, "y": "", "n": len(values),
                             "n_excluded": int(len(group) - len(alive)), "r": value})
    return pd.DataFrame(rows).rename(columns={"r": "value"})


def pool_seeds(stats: pd.DataFrame) -> pd.DataFrame:
    """Append, per layer and statistic, a ``pooled`` row: the mean over seeds, its
    spread (sd) and a t-based 95% interval; with one seed, that seed's own CI and p."""
    from scipy import stats as scipy_stats

    keys = ["dataset", "model", "depth", "layer", "statistic", "x", "y"]
    per_seed = stats.assign(seed=stats["seed"].astype(str))
    rows = []
    for key, group in per_seed.groupby(keys, sort=True):
        row = dict(zip(keys, key), seed="pooled", n_seeds=len(group), n=group["n"].sum(),
                   n_excluded=group["n_excluded"].sum(), value=group["value"].mean())
        if len(group) == 1:
            row.update(group.iloc[0][["ci_low", "ci_high", "p"]].to_dict(), seed_sd=np.nan)
        else:
            values = group["value"].dropna()
            sd = values.std(ddof=1)
            half = scipy_stats.t.ppf(0.975, len(values) - 1) * sd / np.sqrt(len(values)) if len(values) > 1 else np.nan
            row.update(seed_sd=sd, ci_low=row["value"] - half, ci_high=row["value"] + half, p=np.nan)
        rows.append(row)
    return pd.concat([per_seed, pd.DataFrame(rows)], ignore_index=True)
