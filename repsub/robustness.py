"""Do the verdicts survive the analysis choices the paper leaves open?

Each analysis variant (a config's ``variants:``) changes one choice: the AM
objective, its number of steps, jitter, what one conv unit's activation is.
The workflow recomputes each variant's claims; this module lines them up, one
row per claim, model and variant (the base analysis first), with the layers the
variant covers, so that a verdict that flips with a choice is plain to see.
"""

import pandas as pd

from .claims import CLAIMS_COLUMNS, runs_of
from .errors import UserError
from .io import read_table

ROBUSTNESS_COLUMNS = ["claim_id", "label", "claim", "dataset", "model", "variant", "layers", "all_layers", "seeds",
                      "verdict", "verdict_v1", "key_statistic", "values"]


def claim_labels(claims: pd.DataFrame) -> pd.Series:
    """A short row name per claim: its id, with the RS source where one id tests several (C1 AM, C1 noise)."""
    method = claims.claim.str.extract(r"\((AM|IAM|noise|top image)\)$", expand=False).fillna("")
    return (claims.claim_id + " " + method).str.strip()


def robustness_table(claims_by_variant: dict, coverage: dict) -> pd.DataFrame:
    """``claims_by_variant``: variant -> its claims table (the base first); ``coverage``:
    variant -> run name -> {"layers": [...], "seeds": [...]} that variant analysed."""
    base = coverage.get(next(iter(claims_by_variant)), {})
    frames = []
    for variant, claims in claims_by_variant.items():
        covered = coverage.get(variant)
        if covered is None or any(run not in covered for model in claims.model for run in runs_of(model)):
            raise UserError(f"--layers lacks the runs of variant {variant}; pass the layers and seeds of every run "
                            f"in every variant")
        rows = [_coverage(covered, model) for model in claims.model]
        frames.append(claims.assign(
            label=claim_labels(claims), variant=variant,
            layers=[" ".join(row["layers"]) for row in rows],
            all_layers=[row["layers"] == _coverage(base, model).get("layers") for row, model in zip(rows, claims.model)],
            seeds=[" ".join(map(str, row["seeds"])) for row in rows],
        ))
    return pd.concat(frames, ignore_index=True)[ROBUSTNESS_COLUMNS]


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
