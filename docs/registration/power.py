"""Power of the registered test (docs/REGISTRATION.md), by simulation, for 3 to 12 seeds.

Run from the repository root: ``python docs/registration/power.py`` (under a minute on
one CPU core); it writes docs/registration/power.csv and prints the confirmatory seed
count that the registration's rule picks. The effect simulated is the smallest effect
size of interest (SESOI, fixed in the registration before this script existed); the
exploratory seeds (docs/results/cifar10/stats.csv, seeds 0-2) give only the nuisance
parameter, the spread of a layer's per-seed Fisher z across seeds.

Model: seed s of a network gives layer l the Fisher z value atanh(rho) + e, with
e ~ N(0, sd_z^2), independent across seeds and layers; each simulated data set goes
through repsub.confirmatory's seed test, Holm adjustment and verdict, batched (checked
against the one-layer functions first).
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import chi2

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from repsub.claims import CONTRADICTED, REPRODUCED  # noqa: E402
from repsub.confirmatory import (ABSENT, SESOI_R, layer_counts, seed_test, seed_tests, verdict,  # noqa: E402
                                 verdicts_many)

SIMULATIONS = 20000
SEEDS = range(3, 13)
TARGET = 0.8
EXPLORATORY = ROOT / "docs" / "results" / "cifar10" / "stats.csv"
NUISANCE_GROUPS = {  # whose per-seed spread stands for which design's networks
    "shallow CNNs": ["shallow_cnn", "shallow_cnn_nobn", "shallow_cnn_lr005"],
    "MLP": ["mlp"],
    "VGG16": ["vgg16"],
}


def spread_of_seeds():
    """Per group of networks: the pooled sd of per-seed Fisher z across the exploratory seeds
    (every layer with a defined r, every RS source, selectivity against RS), with its degrees
    of freedom and its upper one-sided 90% confidence bound, the registered nuisance value."""
    stats = pd.read_csv(EXPLORATORY, dtype={"seed": str})
    rows = stats[(stats.statistic == "spearman") & (stats.x == "selectivity") & stats.y.str.startswith("rs_")
                 & stats.seed.isin(["0", "1", "2"])].copy()
    rows["z"] = np.arctanh(rows.value.clip(-0.999999, 0.999999))
    spread = {}
    for name, models in NUISANCE_GROUPS.items():
        groups = rows[rows.model.isin(models)].dropna(subset=["z"]).groupby(["model", "layer", "y"]).z
        variances, counts = groups.var(ddof=1).dropna(), groups.count()
        df = int((counts[variances.index] - 1).sum())
        pooled = float(np.sqrt((variances * (counts[variances.index] - 1)).sum() / df))
        spread[name] = {"sd_z": pooled, "df": df, "sd_z_upper90": pooled * np.sqrt(df / chi2.ppf(0.10, df))}
    return spread


DESIGNS = [  # name, nuisance group, networks, layers per network, claimed sign, the claim it sizes
    ("primary: C1a on AM, shallow CNN and shallow CNN without BatchNorm (conv1, conv2 each; one Holm family of 4)",
     "shallow CNNs", 2, 2),
    ("secondary: C1, one shallow CNN (5 layers)", "shallow CNNs", 1, 5),
    ("secondary: C1a, one shallow CNN (conv1, conv2)", "shallow CNNs", 1, 2),
    ("secondary: C1, the MLP (4 layers)", "MLP", 1, 4),
    ("VGG16 at its 3 seeds: C1 (14 layers)", "VGG16", 1, 14),
    ("VGG16 at its 3 seeds: C1a (conv1-conv7)", "VGG16", 1, 7),
]


def simulate(rng, k, sd_z, rho, networks, layers):
    """Shares of simulated studies whose first network's claim comes out reproduced,
    contradicted and absent (each network's layers one Holm family with the others')."""
    z = np.arctanh(rho) + rng.normal(0, sd_z, size=(SIMULATIONS, networks * layers, k))
    tests = seed_tests(z)
    outcomes = verdicts_many(tests["value"], tests["p"], tests["p_equivalence"], layers, +1)
    return {name: float(np.mean(outcomes == name)) for name in (REPRODUCED, CONTRADICTED, ABSENT)}


def check_against_the_one_layer_functions(rng):
    """The batched functions give the verdicts of seed_test, layer_counts and verdict."""
    z = rng.normal(0.2, 0.15, size=(200, 4, 4))
    tests = seed_tests(z)
    batched = verdicts_many(tests["value"], tests["p"], tests["p_equivalence"], 2, +1)
    for row, expected in zip(z, batched):
        one = [seed_test(np.tanh(layer)) for layer in row]
        counts = layer_counts([t["value"] for t in one], [t["p"] for t in one], [t["p_equivalence"] for t in one])
        assert verdict(*(c[:2] for c in counts), +1) == expected


def main():
    rng = np.random.default_rng(20261205)
    check_against_the_one_layer_functions(rng)
    spread = spread_of_seeds()
    rows = []
    for design, group, networks, layers in DESIGNS:
        seeds = [3] if design.startswith("VGG16") else SEEDS
        for scale, sd_name in ((1.0, "sd_z_upper90"), (1.5, "1.5 x sd_z_upper90")):
            sd_z = spread[group]["sd_z_upper90"] * scale
            for k in seeds:
                at_sesoi = simulate(rng, k, sd_z, SESOI_R, networks, layers)
                at_zero = simulate(rng, k, sd_z, 0.0, networks, layers)
                rows.append({"design": design, "nuisance_group": group, "sd_z_basis": sd_name, "sd_z": sd_z,
                             "seeds": k, "sesoi_r": SESOI_R, "power_reproduced_at_sesoi": at_sesoi[REPRODUCED],
                             "power_absent_at_zero": at_zero[ABSENT],
                             "false_reproduced_at_zero": at_zero[REPRODUCED],
                             "false_absent_at_sesoi": at_sesoi[ABSENT]})
                print(f"{design[:60]:<60} {sd_name:<20} k={k:>2} detect {at_sesoi[REPRODUCED]:.3f} "
                      f"absent {at_zero[ABSENT]:.3f}", flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(Path(__file__).with_name("power.csv"), index=False, float_format="%.4g", lineterminator="\n")
    nuisance = pd.DataFrame([{"group": g, **v} for g, v in spread.items()])
    nuisance.to_csv(Path(__file__).with_name("nuisance.csv"), index=False, float_format="%.4g", lineterminator="\n")
    primary = table[table.design.str.startswith("primary") & (table.sd_z_basis == "sd_z_upper90")]
    enough = primary[(primary.power_reproduced_at_sesoi >= TARGET) & (primary.power_absent_at_zero >= TARGET)]
    print(f"confirmatory seeds: {int(enough.seeds.min()) if len(enough) else 'none of 3-12 reaches the target'}")


if __name__ == "__main__":
    main()
