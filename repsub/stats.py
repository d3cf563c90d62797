"""Per-unit tables merged per run, and the Spearman statistics behind the figures and claims.

Beside the plain correlations, each layer gets partial Spearman correlations that hold
the unit's mean activation fixed: RS and ablation effects both follow a unit's
magnitude, so a verdict about RS must survive that control (docs/CHOICES.md).
"""

import warnings

import numpy as np
import pandas as pd

from .errors import UserError
from .io import read_table
from .settings import METHODS, OPTIMISED

SELECTIVITY_COLUMNS = ["layer", "unit", "selectivity", "mean_activation", "weight_norm", "dead"]
STATS_COLUMNS = ["dataset", "model", "architecture", "seed", "depth", "layer", "statistic", "x", "y", "covariate", "n", "value",
                 "ci_low", "ci_high", "p"]
MAGNITUDE = "mean_activation"  # the covariate of the partial correlations
RS_COLUMNS = tuple(f"rs_{m}" for m in METHODS)


def correlations(columns):
    """The (x, y) pairs of plain Spearman rows: selectivity and ablation against each RS,
    and magnitude against RS and ablation."""
    rs = [c for c in RS_COLUMNS if c in columns]
    magnitude = [(MAGNITUDE, c) for c in rs] + [(MAGNITUDE, "accuracy_drop")] if MAGNITUDE in columns else []
    return [("selectivity", c) for c in rs] + [("selectivity", "accuracy_drop")] + [(c, "accuracy_drop") for c in rs] \
        + magnitude


def partial_correlations(columns):
    """The (x, y) pairs of partial Spearman rows, each with MAGNITUDE held fixed."""
    rs = [c for c in RS_COLUMNS if c in columns]
    return [("selectivity", c) for c in rs] + [(c, "accuracy_drop") for c in rs] if MAGNITUDE in columns else []


def described(columns):
    return [c for c in ("selectivity", *RS_COLUMNS, "accuracy_drop", MAGNITUDE, "weight_norm") if c in columns]


def unit_table(tables, dataset, model, architecture, layers, methods) -> pd.DataFrame:
    """One row per (seed, layer, unit): selectivity, RS per method, ablation effect, from the
    ``tables`` (:func:`repsub.layout.run_tables`) of run ``model`` of ``architecture``."""
    path = {(t.kind, t.seed, t.layer, t.method): t.path for t in tables}
    frames = []
    for seed in dict.fromkeys(t.seed for t in tables):
        selectivity = read_table(path["selectivity", seed, None, None], SELECTIVITY_COLUMNS, "selectivity")
        for layer in layers:
            units = selectivity[selectivity.layer == layer][SELECTIVITY_COLUMNS[1:]]
            if units.empty:
                raise UserError(f"{path['selectivity', seed, None, None]} has no units of layer {layer}; rerun the "
                                f"selectivity step of this checkpoint")
            for method in methods:
                rs = read_table(path["rs", seed, layer, method], ["unit", "rs"], "am")
                units = units.merge(rs[["unit", "rs"]].rename(columns={"rs": f"rs_{method}"}),
                                    on="unit", how="left")
                if method in OPTIMISED:
                    moved = read_table(path["movement", seed, layer, method], ["unit", "moved"], "am")
                    units = units.merge(moved[["unit", "moved"]].rename(columns={"moved": f"moved_{method}"}),
                                        on="unit", how="left")
            ablation = read_table(path["ablation", seed, layer, None], ["unit", "accuracy_drop", "loss_increase"],
                                  "ablate")
            units = units.merge(ablation[["unit", "accuracy_drop", "loss_increase"]], on="unit", how="left")
            units.insert(0, "layer", layer)
            units.insert(0, "depth", layers.index(layer) + 1)
            units.insert(0, "seed", seed)
            frames.append(units)
    table = pd.concat(frames, ignore_index=True)
    table.insert(0, "architecture", architecture)
    table.insert(0, "model", model)
    table.insert(0, "dataset", dataset)
    return table


def without_unmoved(units: pd.DataFrame) -> pd.DataFrame:
    """The unit table with RS of AM (IAM) blanked where AM (IAM) never raised the unit's
    objective above its value on the starting noise: those units leave every statistic that
    reads that RS, and its trajectory."""
    units = units.copy()
    for method in OPTIMISED:
        if f"moved_{method}" in units:
            units.loc[~units[f"moved_{method}"].astype(bool), f"rs_{method}"] = np.nan
    return units


def _no_spread(*columns):
    return any(np.ptp(c) == 0 for c in columns)


def spearman(x, y):
    """n, r, 95% CI and p of a Spearman correlation (pingouin); NaN where undefined."""
    import pingouin

    n = len(x)
    if n < 4 or _no_spread(x, y):
        return {"n": n, "r": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = pingouin.corr(x, y, method="spearman").iloc[0]
        low, high = pingouin.compute_esci(stat=result["r"], nx=n, ny=n, eftype="r", decimals=6)
    return {"n": n, "r": result["r"], "ci_low": low, "ci_high": high, "p": result["p_val"]}


def partial_spearman(x, y, covariate):
    """n, r, 95% CI and p of the Spearman correlation of x and y with ``covariate`` held fixed
    (pingouin.partial_corr); the Fisher-z interval uses n - 1 for the one covariate."""
    import pingouin

    n = len(x)
    if n < 5 or _no_spread(x, y, covariate):
        return {"n": n, "r": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan}
    data = pd.DataFrame({"x": x, "y": y, "z": covariate})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = pingouin.partial_corr(data, x="x", y="y", covar="z", method="spearman").iloc[0]
        low, high = pingouin.compute_esci(stat=result["r"], nx=n - 1, ny=n - 1, eftype="r", decimals=6)
    return {"n": n, "r": result["r"], "ci_low": low, "ci_high": high, "p": result["p_val"]}


def layer_statistics(units: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, seed, layer): Spearman rows (plain and with MAGNITUDE held fixed)
    and descriptive rows (mean, std, fraction of zeros). Dead units are excluded and
    counted in ``n_excluded``."""
    rows = []
    keys = ["dataset", "model", "architecture", "seed", "depth", "layer"]
    for key, group in units.groupby(keys, sort=True):
        base = dict(zip(keys, key))
        alive = group[~group["dead"].astype(bool)]
        excluded = int(len(group) - len(alive))
        for x, y in correlations(group.columns):
            pair = alive[[x, y]].dropna()
            rows.append({**base, "statistic": "spearman", "x": x, "y": y, "covariate": "", "n_excluded": excluded,
                         **spearman(pair[x].to_numpy(), pair[y].to_numpy())})
        for x, y in partial_correlations(group.columns):
            triple = alive[[x, y, MAGNITUDE]].dropna()
            rows.append({**base, "statistic": "partial_spearman", "x": x, "y": y, "covariate": MAGNITUDE,
                         "n_excluded": excluded, **partial_spearman(*(triple[c].to_numpy() for c in (x, y, MAGNITUDE)))})
        for column in described(group.columns):
            values = alive[column].dropna()
            for name, value in (("mean", values.mean()), ("std", values.std(ddof=0)),
                                ("fraction_zero", (values == 0).mean())):
                rows.append({**base, "statistic": name, "x": column, "y": "", "covariate": "", "n": len(values),
                             "n_excluded": excluded, "r": value})
        for method in OPTIMISED:  # units whose objective AM never raised above its value on the noise
            moved = alive[f"moved_{method}"].dropna() if f"moved_{method}" in group else pd.Series(dtype=bool)
            if len(moved):
                rows.append({**base, "statistic": "fraction_never_moved", "x": f"rs_{method}", "y": "",
                             "covariate": "", "n": len(moved), "n_excluded": excluded,
                             "r": 1 - moved.astype(bool).mean()})
    return pd.DataFrame(rows).rename(columns={"r": "value"})


POOL_KEYS = ("dataset", "model", "architecture", "depth", "layer", "statistic", "x", "y", "covariate")


def pool_seeds(stats: pd.DataFrame, keys=POOL_KEYS) -> pd.DataFrame:
    """Append, per layer and statistic (per ``keys``), a ``pooled`` row: the mean over seeds,
    its spread (sd) and a t-based 95% interval; with one seed, that seed's own CI and p."""
    from scipy import stats as scipy_stats

    keys = list(keys)
    per_seed = stats.assign(seed=stats["seed"].astype(str), covariate=stats["covariate"].fillna(""))
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


def trajectory_statistics(units: pd.DataFrame, tables) -> pd.DataFrame:
    """Every statistic of :func:`layer_statistics` that reads RS of AM or IAM, at each step
    of the optimisation where RS was recorded (``rs_steps`` tables), pooled over seeds,
    with a ``step`` column: step 0 is the starting noise, the last step the final images."""
    path = {(t.kind, t.seed, t.layer, t.method): t.path for t in tables}
    methods = [m for m in OPTIMISED if f"rs_{m}" in units]
    columns = [f"rs_{m}" for m in methods]
    base = units.drop(columns=[c for c in units if (c.startswith("rs_") and c not in columns)
                               or c.startswith("moved_")])
    recorded = {m: pd.concat([read_table(path["rs_steps", seed, layer, m], ["step", "unit", "rs"], "am")
                              .assign(seed=seed, layer=layer)[["seed", "layer", "unit", "step", "rs"]]
                              for seed, layer in base[["seed", "layer"]].drop_duplicates().itertuples(index=False)])
                for m in methods}
    frames = []
    for step in sorted(set().union(*(set(r.step) for r in recorded.values()))):
        table = base
        for method, rs in recorded.items():
            at = rs[rs.step == step].drop(columns="step").rename(columns={"rs": f"rs_{method}"})
            table = table.drop(columns=f"rs_{method}").merge(at, on=["seed", "layer", "unit"], how="left")
            table.loc[base[f"rs_{method}"].isna().to_numpy(), f"rs_{method}"] = np.nan  # as left out at the end
        stats = layer_statistics(table)
        frames.append(stats[stats.x.isin(columns) | stats.y.isin(columns)].assign(step=step))
    return pool_seeds(pd.concat(frames, ignore_index=True), keys=(*POOL_KEYS, "step"))
