"""The study's verdicts as HTML, for the Snakemake report (torch-free).

Snakemake's report shows a CSV only as a download link, and its front page is
fixed text. These pages make the result readable where it is shown: the claims
and robustness tables as HTML tables with coloured verdicts, and a front page
(embedded in the report's description) that names the config files, the runs
and the verdict of every claim for every model. They are built by a rule from
the claims tables, never typed in.
"""

import html

import pandas as pd

from .claims import VERDICT_COLOURS
STYLE = ("<style>table.repsub{border-collapse:collapse;font:12px sans-serif}"
         "table.repsub td,table.repsub th{border:1px solid #bbb;padding:2px 6px;text-align:left;"
         "vertical-align:top}</style>")


def _cell(value, column):
    text = html.escape("" if pd.isna(value) else str(value))
    verdict = str(value).split(" (", 1)[0]  # a front-page cell may say why after its verdict
    colour = VERDICT_COLOURS.get(verdict) if column == "verdict" or column.startswith("verdict ") else None
    tint = f"color-mix(in srgb, {colour} 35%, white)"  # the figures' colour, pale enough to read text on
    return f'<td style="background:{tint}">{text}</td>' if colour else f"<td>{text}</td>"


def table_html(table: pd.DataFrame) -> str:
    """A table as HTML, cells of verdict columns coloured by verdict."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = "".join("<tr>" + "".join(_cell(v, str(c)) for c, v in zip(table.columns, row)) + "</tr>"
                   for row in table.itertuples(index=False))
    return f'<div style="overflow-x:auto"><table class="repsub"><tr>{head}</tr>{rows}</table></div>'


def page(title: str, body: str) -> str:
    """A standalone page (shown in the report's frame)."""
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>{STYLE}'
            f"</head><body><h3>{html.escape(title)}</h3>{body}</body></html>")


def claims_body(table: pd.DataFrame) -> str:
    """A claims table for reading: the verdicts (v2, and the registered v3) and their key
    statistics first, each rule's text once below."""
    from .robustness import claim_labels

    table = table.assign(id=claim_labels(table))
    shown = ["id", "claim", "dataset", "model", "verdict", "key_statistic", "verdict_v3", "key_statistic_v3",
             "values", "values_v3"]
    rules = (table[["id", "rule", "rule_v3"]].drop_duplicates()
             .groupby(["rule", "rule_v3"], sort=False).id.agg(" ".join).reset_index()[["id", "rule", "rule_v3"]])
    return (table_html(table[[c for c in shown if c in table]]) + "<p><b>Rules</b> (v2 decides <code>verdict"
            "</code>; v3, registered, decides <code>verdict_v3</code>)</p>" + table_html(rules))


def _units(stats, run):
    """Per layer, from the first seed's statistics: the live units with an RS (AM), of all units."""
    rows = stats[(stats.dataset == run["dataset"]) & (stats.model == run["name"]) & (stats.seed == str(run["seeds"][0]))
                 & (stats.statistic == "mean")]

    def count(layer, x, dead=False):
        found = rows[(rows.layer == layer) & (rows.x == x)]
        return int(found.n.iloc[0] + (found.n_excluded.iloc[0] if dead else 0)) if len(found) else 0
    return "; ".join(f"{layer} {count(layer, 'rs_am')} of {count(layer, 'selectivity', dead=True)}"
                     for layer in run["layers"])


def _images(manifest, run):
    test = manifest["counts"]["test"]
    ablation = min(run.get("ablation_images") or test, test)
    return f"selectivity {test:,} test images; ablation {ablation:,}"


def _seeds(model, runs):
    """How many seeds a claim row rests on: "one seed", or "3 seeds" ("3 and 3 seeds" for two runs)."""
    from .claims import VERSUS

    counts = [len(run["seeds"]) for name in model.split(VERSUS) for run in runs if run["name"] == name]
    return "one seed" if set(counts) == {1} else f"{' and '.join(map(str, counts))} seeds"


def verdict_matrix(claims: pd.DataFrame, runs=()) -> pd.DataFrame:
    """One row per claim (its label, e.g. C1 AM), one verdict column per data set and model; an
    inconclusive verdict says why: on how many seeds, and how many layers counted each way."""
    from .outcomes import INCONCLUSIVE
    from .robustness import claim_labels

    shown = [f"{v} ({_seeds(m, runs)}: {k})" if v == INCONCLUSIVE and runs else v
             for v, m, k in zip(claims.verdict, claims.model, claims.key_statistic)]
    claims = claims.assign(label=claim_labels(claims), run=claims.dataset + " / " + claims.model, shown=shown)
    matrix = claims.pivot_table(index=["label", "claim"], columns="run", values="shown", aggfunc="first",
                                sort=False)
    matrix.columns = [f"verdict {run}" for run in matrix.columns]
    return matrix.reset_index().rename(columns={"label": "id"})


def front_page(claims: pd.DataFrame, configfiles, runs, stats, manifests) -> str:
    """An HTML fragment for the report's front page: what ran and was measured (accuracy, units
    per layer, images), and every verdict (an inconclusive one says on how many seeds, and how
    many layers counted each way)."""
    config_list = ", ".join(f"<code>{html.escape(str(path))}</code>" for path in configfiles) or "none"
    run_rows = pd.DataFrame([{"data set": r["dataset"], "run": r["name"], "model": r["model"],
                              "seeds": " ".join(map(str, r["seeds"])),
                              "test accuracy": ", ".join(f"{100 * a:.2f}%" for a in r["accuracy"]),
                              "units per layer (live with RS, of all)": _units(stats, r),
                              "images": _images(manifests[r["dataset"]], r)}
                             for r in runs])
    return (f"{STYLE}<p><b>Config files:</b> {config_list}</p><p><b>Runs</b></p>{table_html(run_rows)}"
            f"<p><b>Verdict per claim and model</b> (base analysis; rules and numbers in the claims "
            f"tables)</p>{table_html(verdict_matrix(claims, runs))}")
