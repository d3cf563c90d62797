"""Per-unit tables merged per run, and the Spearman statistics behind the figures and claims.

Beside the plain correlations, each layer gets partial Spearman correlations that hold
the unit's mean activation fixed: RS and ablation effects both follow a unit's
magnitude, so a verdict about RS must survive that control (docs/CHOICES.md).
"""

import warnings

import numpy as np
import pandas as pd

from .errors import UserError
from .io import load_npy, read_table
from .layout import table_paths
from .settings import METHODS, OPTIMISED, AblationSettings
from .unit_subsets import select_units

SELECTIVITY_COLUMNS = ["layer", "kind", "unit", "selectivity", "preferred_class", "mean_activation", "weight_norm", "dead"]
ABLATION_COLUMNS = ["unit", "accuracy_drop", "loss_increase", "max_class_accuracy_drop", "max_drop_class"]
STATS_COLUMNS = ["dataset", "model", "architecture", "seed", "depth", "layer", "kind", "statistic", "x", "y", "covariate", "n", "value",
                 "ci_low", "ci_high", "p"]
MAGNITUDE = "mean_activation"  # the covariate of the partial correlations
RS_COLUMNS = tuple(f"rs_{m}" for m in METHODS)


IMPORTANCE = ("accuracy_drop", "loss_increase", "max_class_accuracy_drop")  # what ablating one unit costs


def correlations(columns):
    """The (x, y) pairs of plain Spearman rows: selectivity against each RS, selectivity and
    each RS against each measure of importance, and magnitude against RS and accuracy drop."""
    rs = [c for c in RS_COLUMNS if c in columns]
    importance = [c for c in IMPORTANCE if c in columns]
    magnitude = [(MAGNITUDE, c) for c in rs] + [(MAGNITUDE, "accuracy_drop")] if MAGNITUDE in columns else []
    return [("selectivity", c) for c in rs] + [(x, y) for y in importance for x in ("selectivity", *rs)] + magnitude


def partial_correlations(columns):
    """The (x, y) pairs of partial Spearman rows, each with MAGNITUDE held fixed."""
    rs = [c for c in RS_COLUMNS if c in columns]
    return [("selectivity", c) for c in rs] + [(c, "accuracy_drop") for c in rs] if MAGNITUDE in columns else []


def described(columns):
    return [c for c in ("selectivity", *RS_COLUMNS, "accuracy_drop", MAGNITUDE, "weight_norm") if c in columns]


def unit_table(tables, dataset, model, architecture, layers, methods, ablation=None) -> pd.DataFrame:
    """One row per (seed, layer, unit): selectivity, RS per method, ablation effect, from the
    ``tables`` (:func:`repsub.layout.run_tables`) of run ``model`` of ``architecture``. Each
    table must hold exactly the units its stage chose: AM's (its units.npy) and single-unit
    ablation's (:func:`repsub.unit_subsets.select_units` under the ``ablation`` settings)."""
    ablation = ablation or AblationSettings()
    path = table_paths(tables)
    frames = []
    for seed in dict.fromkeys(t.seed for t in tables):
        selectivity = read_table(path["selectivity", seed, None, None], SELECTIVITY_COLUMNS, "selectivity")
        for layer in layers:
            units = selectivity[selectivity.layer == layer][SELECTIVITY_COLUMNS[2:]]
            if units.empty:
                raise UserError(f"{path['selectivity', seed, None, None]} has no units of layer {layer}; rerun the "
                                f"selectivity step of this checkpoint")
            for method in methods:
                rs = read_table(path["rs", seed, layer, method], ["unit", "rs"], "am")
                chosen = load_npy(path["units", seed, layer, method], "am", 1)
                _check_units(rs, path["rs", seed, layer, method], chosen, "its units.npy")
                units = units.merge(rs[["unit", "rs"]].rename(columns={"rs": f"rs_{method}"}),
                                    on="unit", how="left")
                if method in OPTIMISED:
                    moved = read_table(path["movement", seed, layer, method], ["unit", "moved"], "am")
                    _check_units(moved, path["movement", seed, layer, method], chosen, "its units.npy")
                    units = units.merge(moved[["unit", "moved"]].rename(columns={"moved": f"moved_{method}"}),
                                        on="unit", how="left")
            ablated = read_table(path["ablation", seed, layer, None], ABLATION_COLUMNS, "ablate")
            _check_units(ablated, path["ablation", seed, layer, None], select_units(
                len(units), ablation.max_units(layer), ablation.seed), "the ablation settings")
            units = units.merge(ablated[ABLATION_COLUMNS], on="unit", how="left")
            units.insert(0, "kind", selectivity.kind[selectivity.layer == layer].iloc[0])
            units.insert(0, "layer", layer)
            units.insert(0, "depth", layers.index(layer) + 1)
            units.insert(0, "seed", seed)
            frames.append(units)
    table = pd.concat(frames, ignore_index=True)
    table.insert(0, "architecture", architecture)
    table.insert(0, "model", model)
    table.insert(0, "dataset", dataset)
    return table


def _check_units(table, path, chosen, source):
    """A per-unit table must hold each unit its stage chose once, and no other."""
    got = table["unit"].to_numpy()
    if len(got) != len(chosen) or set(got.tolist()) != set(np.asarray(chosen).tolist()):
        raise UserError(f"{path} does not hold exactly the {len(chosen)} units {source} name, once each ({len(got)} "
                        f"rows); it was cut or edited: delete it and rerun the workflow")


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


def fisher_interval(r, n, covariates=0):
    """95% interval and two-sided p of a Spearman r from n units (``covariates`` held fixed).

    Fisher's z with the Spearman standard error of Fieller, Hartley and Pearson (1957),
    sqrt(1.06 / (n - 3 - covariates)): Pearson's 1 / sqrt(n - 3) is too narrow for
    Spearman's r. Of the two Spearman errors considered, it is the one whose coverage stays
    within 92-97% on data tied like RS too (docs/CHOICES.md gives both; the test checks it).
    The p-value tests z = 0 with the same error, so p < 0.05 exactly when the interval
    excludes 0."""
    from scipy.stats import norm

    with np.errstate(divide="ignore"):  # r = +-1 gives an interval of width 0 and p = 0
        z, se = np.arctanh(r), np.sqrt(spearman_variance(n, covariates))
    half = norm.ppf(0.975) * se
    return {"ci_low": np.tanh(z - half), "ci_high": np.tanh(z + half), "p": 2 * norm.sf(abs(z) / se)}


def spearman_variance(n, covariates=0):
    """Sampling variance of Fisher's z of a Spearman r from n units (Fieller, Hartley and
    Pearson 1957)."""
    return 1.06 / (np.asarray(n, dtype=float) - 3 - covariates)


UNDEFINED = {"r": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan}


def spearman(x, y):
    """n, r, 95% interval and p of a Spearman correlation; NaN where undefined."""
    from scipy.stats import spearmanr

    n = len(x)
    if n < 4 or _no_spread(x, y):
        return {"n": n, **UNDEFINED}
    r = spearmanr(x, y).statistic
    return {"n": n, "r": r, **fisher_interval(r, n)}


def partial_spearman(x, y, covariate):
    """n, r, 95% interval and p of the Spearman correlation of x and y with ``covariate`` held
    fixed (pingouin.partial_corr: Pearson's r of the ranks' residuals)."""
    import pingouin

    n = len(x)
    if n < 5 or _no_spread(x, y, covariate):
        return {"n": n, **UNDEFINED}
    data = pd.DataFrame({"x": x, "y": y, "z": covariate})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = pingouin.partial_corr(data, x="x", y="y", covar="z", method="spearman").iloc[0]["r"]
    return {"n": n, "r": r, **fisher_interval(r, n, covariates=1)}


def layer_statistics(units: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, seed, layer): Spearman rows (plain and with MAGNITUDE held fixed)
    and descriptive rows (mean, std, fraction of zeros). Dead units are excluded and
    counted in ``n_excluded``."""
    rows = []
    keys = ["dataset", "model", "architecture", "seed", "depth", "layer", "kind"]
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
        if "max_drop_class" in group:
            rows.append({**base, "statistic": "class_match", "x": "preferred_class", "y": "max_drop_class",
                         "covariate": "", "n_excluded": excluded, **class_match(alive)})
        for method in OPTIMISED:  # units whose objective AM never raised above its value on the noise
            moved = alive[f"moved_{method}"].dropna() if f"moved_{method}" in group else pd.Series(dtype=bool)
            if len(moved):
                rows.append({**base, "statistic": "fraction_never_moved", "x": f"rs_{method}", "y": "",
                             "covariate": "", "n": len(moved), "n_excluded": excluded,
                             "r": 1 - moved.astype(bool).mean()})
    return pd.DataFrame(rows).rename(columns={"r": "value"})


CUMULATIVE_COLUMNS = ["layer", "order", "repeat", "fraction", "accuracy"]


def cumulative_statistics(units: pd.DataFrame, tables) -> pd.DataFrame:
    """Per (seed, layer, order) of cumulative ablation: ``cumulative_auc``, the area under
    accuracy against the fraction of units ablated (trapezoid rule, averaged over repeats),
    over the fraction range and relative to the accuracy at its first fraction (the intact
    network's where the fractions start at 0): 1 where ablation costs nothing. The less a
    network relies on single directions, the larger it is (Morcos et al. 2018)."""
    keys = ["dataset", "model", "architecture", "seed", "depth", "layer", "kind"]
    where = {(row["seed"], row["layer"]): row for row in units[keys].drop_duplicates().to_dict("records")}
    rows = []
    for table in (t for t in tables if t.kind == "cumulative"):
        curves = read_table(table.path, CUMULATIVE_COLUMNS, "cumulative")
        for order, curve in curves.groupby("order", sort=True):
            areas = []
            for _, run in curve.groupby("repeat", sort=True):
                run = run.sort_values("fraction")
                fraction, accuracy = run.fraction.to_numpy(float), run.accuracy.to_numpy(float)
                span, first = fraction[-1] - fraction[0], accuracy[0]
                areas.append(np.trapezoid(accuracy, fraction) / span / first if span > 0 and first > 0 else np.nan)
            rows.append({**where[table.seed, table.layer],
                         "statistic": "cumulative_auc", "x": order, "y": "accuracy", "covariate": "",
                         "n": len(areas), "n_excluded": 0, "value": np.mean(areas)})
    return pd.DataFrame(rows)


PERMUTATIONS = 2000


def class_match(units, permutations=PERMUTATIONS, seed=0):
    """Does ablating a unit hurt its preferred class most (Zhou et al. 2018)? Over the units
    whose ablation lowers some class's accuracy: the share whose most-hurt class is their
    preferred class, less the share expected by chance, sum over classes of
    p(preferred = c) * p(most hurt = c). Units are not independent draws, so the interval
    and the two-sided p come from permuting the most-hurt classes over the units (seeded)."""
    hurt = units[units["max_class_accuracy_drop"] > 0]
    preferred, worst = hurt["preferred_class"].astype(str).to_numpy(), hurt["max_drop_class"].astype(str).to_numpy()
    n = len(hurt)
    if n < 4:
        return {"n": n, **UNDEFINED}
    classes = np.unique(np.concatenate([preferred, worst]))
    chance = sum(np.mean(preferred == c) * np.mean(worst == c) for c in classes)
    excess = np.mean(preferred == worst) - chance
    shuffled = np.random.default_rng(seed).permuted(np.tile(np.arange(n), (permutations, 1)), axis=1)
    null = (preferred[None] == worst[shuffled]).mean(1) - chance
    low, high = np.quantile(null, [0.025, 0.975])
    extreme = np.sum(np.abs(null) >= abs(excess) - 1e-12)
    return {"n": n, "r": excess, "ci_low": excess - high, "ci_high": excess - low,
            "p": (1 + extreme) / (1 + permutations)}


POOL_KEYS = ("dataset", "model", "architecture", "depth", "layer", "kind", "statistic", "x", "y", "covariate",
             "ablation_precision", "batch_norm")  # the last two are absent from the first release's tables
POOLED = "pooled"  # the seed label of the pooled rows
RETIRED_POOLED = "pooled_v1"  # rules v1's pooled rows, in tables written before v1 retired: never a seed
CORRELATIONS = {"spearman": 0, "partial_spearman": 1}  # statistic -> covariates held fixed
TESTED_MEANS = {"class_match"}  # pooled as a mean over seeds, tested against 0


def per_seed(stats):
    """The rows of single seeds (not the pooled ones)."""
    return stats[~stats.seed.isin([POOLED, RETIRED_POOLED])]


def pool_seeds(stats: pd.DataFrame, keys=POOL_KEYS) -> pd.DataFrame:
    """Append, per layer and statistic (per ``keys``), a pooled row over seeds: a correlation
    by a random-effects meta-analysis of the seeds' Fisher z (:func:`random_effects`), so that
    seeds that happen to agree cannot give an interval narrower than their units allow; any
    other statistic by its mean over seeds with a t interval."""
    keys = [key for key in keys if key in stats.columns]
    # a CSV reads the empty y of descriptive rows as NaN, which groupby would drop
    seeds = stats.assign(seed=stats["seed"].astype(str), y=stats["y"].fillna(""), covariate=stats["covariate"].fillna(""))
    rows = []
    for key, group in seeds.groupby(keys, sort=True):
        common = dict(zip(keys, key), n_seeds=len(group), n=group["n"].sum(), n_excluded=group["n_excluded"].sum(),
                      seed_sd=group["value"].std(ddof=1) if len(group) > 1 else np.nan)
        statistic = common["statistic"]
        if statistic in CORRELATIONS:
            rows.append({**common, "seed": POOLED, **random_effects(group, CORRELATIONS[statistic])})
        elif statistic in TESTED_MEANS and len(group) == 1:
            rows.append({**common, "seed": POOLED, **group.iloc[0][["value", "ci_low", "ci_high", "p"]].to_dict()})
        else:
            rows.append({**common, "seed": POOLED, **mean_over_seeds(group["value"], statistic in TESTED_MEANS)})
    return pd.concat([seeds, pd.DataFrame(rows)], ignore_index=True)


def restate(stats: pd.DataFrame) -> pd.DataFrame:
    """A study's statistics under the current rules, from its per-seed rows alone: each
    correlation's interval and p again from its r and n, then the pooled rows again. A
    referee can so recompute the claims of a stats.csv made by an earlier release."""
    seeds = per_seed(stats).drop(columns=[c for c in ("n_seeds", "seed_sd", "tau2") if c in stats])
    for statistic, covariates in CORRELATIONS.items():
        rows = (seeds.statistic == statistic) & seeds["value"].notna() & (seeds["n"] > 3 + covariates)
        interval = fisher_interval(seeds.loc[rows, "value"].to_numpy(float), seeds.loc[rows, "n"].to_numpy(float),
                                   covariates)
        for column, values in interval.items():
            seeds.loc[rows, column] = values
    return pool_seeds(seeds)


def mean_over_seeds(values, test=False):
    """Mean with a t-based 95% interval (none from one seed); with ``test``, the two-sided p
    of the same t statistic against 0."""
    from scipy.stats import t

    values = values.dropna()
    if len(values) < 2:
        return {"value": values.mean() if len(values) else np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan}
    mean, se = values.mean(), values.std(ddof=1) / np.sqrt(len(values))
    half = t.ppf(0.975, len(values) - 1) * se
    p = 2 * t.sf(abs(mean) / se, len(values) - 1) if test and se > 0 else np.nan
    return {"value": mean, "ci_low": mean - half, "ci_high": mean + half, "p": p}


def random_effects(group, covariates):
    """Seeds' correlations pooled on Fisher z: within-seed variance from each seed's n units
    (:func:`spearman_variance`), between-seed variance by Paule-Mandel, and the Hartung-Knapp interval
    with its max(1, q) correction (t with k - 1 degrees of freedom). One seed: its own."""
    from scipy.stats import t

    defined = group.dropna(subset=["value"])
    defined = defined[defined["n"] > 3 + covariates]
    if len(defined) == 0:
        return {"value": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan, "tau2": np.nan}
    r, n = defined["value"].to_numpy(float), defined["n"].to_numpy(float)
    if len(defined) == 1:
        return {"value": r[0], **fisher_interval(r[0], n[0], covariates), "tau2": np.nan}
    z, within = np.arctanh(np.clip(r, -0.999999, 0.999999)), spearman_variance(n, covariates)
    tau2 = paule_mandel(z, within)
    weights = 1 / (within + tau2)
    mean = np.sum(weights * z) / weights.sum()
    q = np.sum(weights * (z - mean) ** 2) / (len(z) - 1)
    se = np.sqrt(max(1.0, q) / weights.sum())
    half = t.ppf(0.975, len(z) - 1) * se
    return {"value": np.tanh(mean), "ci_low": np.tanh(mean - half), "ci_high": np.tanh(mean + half),
            "p": 2 * t.sf(abs(mean) / se, len(z) - 1), "tau2": tau2}


def paule_mandel(z, within, iterations=200):
    """The between-seed variance at which the weighted squared deviations equal k - 1
    (zero when they fall short of it already), by bisection."""
    def excess(tau2):
        weights = 1 / (within + tau2)
        mean = np.sum(weights * z) / weights.sum()
        return np.sum(weights * (z - mean) ** 2) - (len(z) - 1)

    if excess(0.0) <= 0:
        return 0.0
    low, high = 0.0, max(np.var(z, ddof=1) * 10, within.max())
    for _ in range(iterations):
        middle = (low + high) / 2
        low, high = (middle, high) if excess(middle) > 0 else (low, middle)
    return (low + high) / 2


def trajectory_statistics(units: pd.DataFrame, tables) -> pd.DataFrame:
    """Every statistic of :func:`layer_statistics` that reads RS of AM or IAM, at each step
    of the optimisation where RS was recorded (``rs_steps`` tables), pooled over seeds,
    with a ``step`` column: step 0 is the starting noise, the last step the final images."""
    path = table_paths(tables)
    methods = [m for m in OPTIMISED if f"rs_{m}" in units]
    columns = [f"rs_{m}" for m in methods]
    base = units.drop(columns=[c for c in units if (c.startswith("rs_") and c not in columns)
                               or c.startswith("moved_") or c == "max_drop_class"])
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
