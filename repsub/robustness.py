"""Do the verdicts survive the analysis choices the paper leaves open?

Each analysis variant (a config's ``variants:``) changes one choice: the AM
objective, its number of steps, jitter, what one conv unit's activation is.
The workflow recomputes each variant's claims; this module lines them up, one
row per claim, model and variant (the base analysis first), with the layers the
variant covers, so that a verdict that flips with a choice is plain to see.
A variant may cover fewer layers or seeds than the base (VGG16's variants run on
one seed), and a verdict on one seed rests on that seed's intervals alone; so each
row also holds the base's verdict recomputed on that row's layers and seeds, and a
verdict that differs from it differs because of the choice, not the coverage.
"""

import pandas as pd

from .claims import CLAIMS_COLUMNS, Rules, claims_table, fc_before_classifier, runs_of
from .errors import UserError
from .io import read_table
from .stats import per_seed, restate

# The registered sensitivity analysis of C3's "RS mostly 0" (over half, the rule's cut): the
# base's statistics read again at other cuts, a row each beside the base's C3.
C3_CUTS = {"c3_cut_40": 0.4, "c3_cut_60": 0.6}

ROBUSTNESS_COLUMNS = ["claim_id", "label", "claim", "dataset", "model", "variant", "layers", "all_layers", "seeds",
                      "verdict", "base_verdict_same_coverage", "verdict_v3", "key_statistic", "values"]


def claim_labels(claims: pd.DataFrame) -> pd.Series:
    """A short row name per claim: its id, with the RS source where one id tests several (C1 AM, C1 noise)."""
    method = claims.claim.str.extract(r"\((AM|IAM|noise|top image)\)$", expand=False).fillna("")
    return (claims.claim_id + " " + method).str.strip()


def robustness_table(claims_by_variant: dict, coverage: dict, base_stats: pd.DataFrame) -> pd.DataFrame:
    """``claims_by_variant``: variant -> its claims table (the base first); ``coverage``:
    variant -> run name -> {"layers": [...], "seeds": [...]} that variant analysed;
    ``base_stats``: the base's study statistics (its per-seed rows are used)."""
    base = coverage.get(next(iter(claims_by_variant)), {})
    frames = []
    for variant, claims in claims_by_variant.items():
        covered = coverage.get(variant)
        if covered is None or any(run not in covered for model in claims.model for run in runs_of(model)):
            raise UserError(f"--layers lacks the runs of variant {variant}; pass the layers and seeds of every run "
                            f"in every variant")
        rows = [_coverage(covered, model) for model in claims.model]
        same_coverage = base_verdicts(base_stats, covered)
        frames.append(claims.assign(
            label=claim_labels(claims), variant=variant,
            layers=[" ".join(row["layers"]) for row in rows],
            all_layers=[row["layers"] == _coverage(base, model).get("layers") for row, model in zip(rows, claims.model)],
            seeds=[" ".join(map(str, row["seeds"])) for row in rows],
            base_verdict_same_coverage=[same_coverage.get(key, "") for key in
                                        zip(claims.claim_id, claims.claim, claims.model)],
        ))
    frames.append(c3_cut_rows(claims_by_variant[next(iter(claims_by_variant))], base, base_stats))
    return pd.concat(frames, ignore_index=True)[ROBUSTNESS_COLUMNS]


def c3_cut_rows(base_claims: pd.DataFrame, base_coverage: dict, base_stats: pd.DataFrame) -> pd.DataFrame:
    """C3 of each model where it applies, on the base's statistics, with "RS mostly 0" read
    at each of :data:`C3_CUTS`; the base's own C3 verdict beside (the same layers and seeds)."""
    base = dict(zip(base_claims.model[base_claims.claim_id == "C3"], base_claims.verdict[base_claims.claim_id == "C3"]))
    rows = []
    for variant, cut in C3_CUTS.items():
        for row in fc_before_classifier(base_stats, Rules(), cut):
            covered = _coverage(base_coverage, row["model"])
            rows.append(row | {"label": "C3", "variant": variant, "layers": " ".join(covered.get("layers", [])),
                               "all_layers": True, "seeds": " ".join(map(str, covered.get("seeds", []))),
                               "base_verdict_same_coverage": base.get(row["model"], ""),
                               "verdict_v3": row["verdict"]})  # a point-value claim: v3 keeps v2's rule
    return pd.DataFrame(rows, columns=ROBUSTNESS_COLUMNS)


def base_verdicts(base_stats: pd.DataFrame, covered: dict) -> dict:
    """The base's verdict per (claim id, claim, model) from its per-seed rows of only the
    runs, layers and seeds in ``covered``, pooled again by the current rules."""
    rows = per_seed(base_stats)
    keep = pd.Series(False, index=rows.index)
    for run, cover in covered.items():
        keep |= ((rows.model == run) & rows.layer.isin(cover["layers"])
                 & rows.seed.astype(str).isin([str(seed) for seed in cover["seeds"]]))
    if not keep.any():
        return {}
    claims = claims_table(restate(rows[keep]))
    return dict(zip(zip(claims.claim_id, claims.claim, claims.model), claims.verdict))


def _coverage(covered: dict, model: str) -> dict:
    """What ``covered`` says a claims row's model analysed: its run's layers and seeds, or for
    a row comparing runs the layers they all analysed and the seeds of any ({} if a run is missing)."""
    runs = [covered[run] for run in runs_of(model) if run in covered]
    if len(runs) != len(runs_of(model)):
        return {}
    if len(runs) == 1:
        return runs[0]
    return {"layers": [layer for layer in runs[0]["layers"] if all(layer in run["layers"] for run in runs)],
            "seeds": sorted({seed for run in runs for seed in run["seeds"]})}


def read_claims(paths, variants) -> dict:
    if len(paths) != len(variants):
        raise UserError(f"--claims names {len(paths)} files for {len(variants)} --variants; pass one claims file "
                        f"per variant, in the same order")
    return {variant: read_table(path, CLAIMS_COLUMNS, "study-stats") for variant, path in zip(variants, paths)}
