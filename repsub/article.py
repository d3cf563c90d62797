"""A study's write-up rendered from its committed tables, so that no number in it is typed by hand.

The article is a Jinja template (``docs/articles/<study>.md.j2``) whose fields are
expressions over a :class:`Study`: the published folder's claims, statistics,
trajectory and robustness tables, each run's training metrics, and the preset configs
the runs were made with. Derived statements (the AM step at which a sign turns, how
many layers are lower, which layers count) are computed here too, so that new data
changes the sentence instead of leaving it wrong. Prose around the fields is written by
hand. A test renders the template again and compares it byte for byte with the
committed article.
"""

from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from .claims import early_conv_layers, holm
from .errors import UserError
from .publish import VARIANTS
from .stats import POOLED

TABLES = ("claims.csv", "stats.csv", "trajectory.csv", "robustness.csv")
VERDICT_COLUMNS = {"v2": "verdict", "v3": "verdict_v3"}


def number(value, digits=2) -> str:
    """A correlation as the article prints it, signed; undefined where one of its variables is
    constant (an MLP's first layer gives every unit the same RS on its AM image)."""
    return "undefined" if pd.isna(value) else f"{value:+.{digits}f}"


def share(value, digits=1) -> str:
    return "nan" if pd.isna(value) else f"{100 * value:.{digits}f}%"


class Presets:
    """Config files as Snakemake merges them, asked for one value at a time."""

    def __init__(self, paths):
        import yaml

        self.paths = [Path(p) for p in paths]
        self.configs = [yaml.safe_load(p.read_text()) for p in self.paths]

    def get(self, *keys):
        """A value the files give (the last file that gives it), e.g. get("analysis", "am", "steps")."""
        found = None
        for config in self.configs:
            found = _dig(config, keys) if _dig(config, keys) is not None else found
        if found is None:
            raise UserError(f"none of {', '.join(map(str, self.paths))} gives {'.'.join(keys)}")
        return found

    def run(self, name, *keys):
        """A value of one run's entry (named by its name, else its model), e.g. run("mlp", "train", "epochs")."""
        found = None
        for config in self.configs:
            for entry in config.get("runs", []):
                if entry.get("name", entry["model"]) == name and _dig(entry, keys) is not None:
                    found = _dig(entry, keys)
        if found is None:
            raise UserError(f"no run {name} of {', '.join(map(str, self.paths))} gives {'.'.join(keys)}")
        return found


def claim_rows(table, claim_id, run, source=None) -> pd.DataFrame:
    """A claims or robustness table's rows of one claim and network, and of one RS source
    (the claim text's bracket, e.g. "(AM)") where given."""
    rows = table[(table.claim_id == claim_id) & (table.model == run)]
    return rows if source is None else rows[rows.claim.str.endswith(f"({source})")]


def _dig(mapping, keys):
    for key in keys:
        mapping = mapping.get(key) if isinstance(mapping, dict) else None
    return mapping


class Study:
    """The tables of one published study folder, and the statements the article makes from them."""

    def __init__(self, folder, ours=(), paper=(), registered=None, power=None):
        self.folder = Path(folder)
        missing = [name for name in TABLES if not (self.folder / name).is_file()]
        if missing:
            raise UserError(f"{self.folder} lacks {', '.join(missing)}; publish the study there first "
                            f"('python -m repsub publish')")
        read = {name: pd.read_csv(self.folder / name, keep_default_na=False, na_values=[""], dtype={"seed": str})
                for name in TABLES}
        self.claims, self.stats = read["claims.csv"], read["stats.csv"]
        self.trajectory, self.robustness = read["trajectory.csv"], read["robustness.csv"]
        self.runs = list(dict.fromkeys(self.claims.model[~self.claims.model.str.contains(" vs ")]))
        self.ours, self.paper = Presets(ours), Presets(paper)  # the configs of the runs, and of the paper's design
        # the registered analysis (repsub/registered.py): in the study's own folder, or in the
        # published folder of the confirmatory study (``registered``), whose robustness table
        # holds the registered sensitivity analyses
        where = Path(registered or self.folder) / "registered"
        found = {name: where / f"{name}.csv" for name in ("claims", "primary")}
        if registered:
            found["sensitivity"] = Path(registered) / "robustness.csv"
            if not all(path.is_file() for path in found.values()):
                raise UserError(f"--registered {registered} holds no registered/claims.csv, registered/primary.csv "
                                f"and robustness.csv; publish the confirmatory study there first "
                                f"('python -m repsub publish')")
        self.registered = {name: pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"seed": str})
                           for name, path in found.items() if path.is_file()}
        self.registered_folder = registered
        # an analysis variant's trajectory (variants/<variant>/trajectory.csv), where published
        self.variant_trajectories = {path.parent.name: pd.read_csv(path, dtype={"seed": str})
                                     for path in sorted((self.folder / VARIANTS).glob("*/trajectory.csv"))}
        self.power = None if power is None else power_table(power)

    @cached_property
    def confirmatory(self):
        """The published confirmatory study's own tables (its runs' seeds, metrics, per-seed
        statistics, variants' trajectories), read when the article first asks for them."""
        return Study(self.registered_folder) if self.registered_folder else None

    # --- what was run ---------------------------------------------------------------

    def run_table(self, run, name):
        """One of a run's own tables (``metrics.csv``, ``cumulative.csv``)."""
        path = self.folder / run / name
        if not path.is_file():
            raise UserError(f"{path} is missing; publish the study there first ('python -m repsub publish')")
        return pd.read_csv(path, dtype={"seed": str})

    def metrics(self, run):
        return self.run_table(run, "metrics.csv")

    def seeds(self, run):
        return sorted(self.metrics(run).seed.unique(), key=int)

    def epochs(self, run) -> int:
        return int(self.metrics(run).epoch.max())

    def accuracies(self, run, seeds=None) -> str:
        """The final test accuracy of each seed (or of ``seeds``), as "86.12%, 85.35%, 85.31%"."""
        metrics = self.metrics(run)
        if seeds is not None:
            missing = sorted({str(seed) for seed in seeds} - set(metrics.seed))
            if missing:
                raise UserError(f"{run}/metrics.csv has no rows of seeds {', '.join(missing)}")
            metrics = metrics[metrics.seed.isin([str(seed) for seed in seeds])]
        last = metrics.loc[metrics.groupby("seed", sort=False).epoch.idxmax()]
        return ", ".join(f"{100 * a:.2f}%" for a in last.test_accuracy)

    # --- verdicts -------------------------------------------------------------------

    def census(self, ids=None) -> dict:
        rows = self.claims if ids is None else self.claims[self.claims.claim_id.isin(ids)]
        counts = rows.verdict.value_counts()
        return {verdict: int(counts.get(verdict, 0)) for verdict in ("reproduced", "contradicted", "inconclusive")}

    def verdict(self, claim_id, run, source=None, rules="v2") -> str:
        """The verdict of a claim's row by rules v2 (the tables' ``verdict``) or ``rules="v3"``."""
        rows = claim_rows(self.claims, claim_id, run, source)
        return rows[VERDICT_COLUMNS[rules]].iloc[0] if len(rows) else "not tested"

    def key(self, claim_id, run, source=None) -> str:
        rows = claim_rows(self.claims, claim_id, run, source)
        return rows.key_statistic.iloc[0] if len(rows) else ""

    def claim_text(self, claim_id) -> str:
        """The claim as the table states it, without the RS source in brackets."""
        text = self.claims[self.claims.claim_id == claim_id].claim.iloc[0]
        return text.rsplit(" (", 1)[0] if text.endswith(")") and claim_id.startswith(("C1", "C2", "E1", "E3")) \
            else text

    def rows_with(self, ids, verdict):
        """(claim id, run, RS source) of the rows of ``ids`` with ``verdict``."""
        rows = self.claims[self.claims.claim_id.isin(ids) & (self.claims.verdict == verdict)]
        return [(r.claim_id, r.model, r.claim.rsplit("(", 1)[1].rstrip(")") if r.claim.endswith(")") else "")
                for r in rows.itertuples()]

    # --- the registered test -----------------------------------------------------------

    def sample_verdict(self, sample, claim_id, run, source=None, rules="v3") -> str:
        """A claim's verdict on one sample of seeds (confirmatory, exploratory, all)."""
        claims = self.registered["claims"]
        rows = claim_rows(claims[claims["sample"] == sample], claim_id, run, source)
        return rows[VERDICT_COLUMNS[rules]].iloc[0] if len(rows) else "not tested"

    def sample_networks(self, sample, claim_id, verdict, source=None) -> tuple:
        """(the networks where a claim has ``verdict`` on a sample of seeds, the networks the
        claim is tested in there), each in the sample's order."""
        verdicts = {run: self.sample_verdict(sample, claim_id, run, source) for run in self.sample_runs(sample)}
        tested = [run for run, found in verdicts.items() if found != "not tested"]
        return [run for run in tested if verdicts[run] == verdict], tested

    def sample_runs(self, sample) -> list:
        """The networks a sample of seeds has (a row comparing two, "a vs b", is not one)."""
        claims = self.registered["claims"]
        return [run for run in dict.fromkeys(claims.model[claims["sample"] == sample]) if " vs " not in run]

    def sample_census(self, sample, rules="v3") -> dict:
        claims = self.registered["claims"]
        counts = claims[claims["sample"] == sample][VERDICT_COLUMNS[rules]].value_counts()
        return {verdict: int(counts.get(verdict, 0)) for verdict in
                ("reproduced", "contradicted", "absent", "inconclusive")}

    def sensitivity_verdict(self, variant, claim_id, run, source=None) -> str:
        """A claim's v3 verdict on the confirmatory seeds under one registered sensitivity analysis
        (a variant of the confirmatory study's robustness.csv; ``base`` for the base's)."""
        table = self.registered["sensitivity"]
        rows = claim_rows(table[table.variant == variant], claim_id, run, source)
        return rows.verdict_v3.iloc[0] if len(rows) else "not tested"

    def sensitivity_changes(self, variant) -> tuple:
        """How one sensitivity analysis re-reads the base's claim rows of the confirmatory networks:
        the rows both hold, those whose v3 verdict changes, and those that change sign (from
        reproduced to contradicted or back), the change a referee would weigh most. The
        100-epoch runs are left out: a variant covers only their conv1, on one seed."""
        table = self.registered["sensitivity"]
        table = table[table.model.isin(self.sample_runs("confirmatory"))]
        keys = ["claim_id", "model", "label"]
        pairs = table[table.variant == "base"].merge(table[table.variant == variant], on=keys,
                                                     suffixes=("", "_variant"), validate="1:1")
        changed = pairs.verdict_v3 != pairs.verdict_v3_variant
        signed = ["reproduced", "contradicted"]
        flipped = changed & pairs.verdict_v3.isin(signed) & pairs.verdict_v3_variant.isin(signed)
        return len(pairs), int(changed.sum()), int(flipped.sum())

    def sensitivity_run(self, variant) -> bool:
        """Whether the confirmatory study's robustness.csv holds a sensitivity analysis (a
        variant, or a run such as the 100-epoch networks) yet."""
        table = self.registered["sensitivity"]
        return bool((table.variant == variant).any() or (table.model == variant).any())

    def power_at(self, design, seeds, basis="sd_z_upper90"):
        """The power table's row of the design whose name starts with ``design`` at ``seeds``
        seeds, with the seeds' spread at ``basis`` (the registered bound, or 1.5 times it)."""
        rows = self.power[self.power.design.str.startswith(design) & (self.power.seeds == int(seeds))
                          & (self.power.sd_z_basis == basis)]
        if len(rows) != 1:
            raise UserError(f"the power table has {len(rows)} rows of {design!r} at {seeds} seeds ({basis}); "
                            f"give docs/registration/power.csv")
        return rows.iloc[0]

    # --- correlations ---------------------------------------------------------------

    def layers(self, run, kind=None):
        rows = self.stats[(self.stats.model == run) & (self.stats.seed == POOLED)]
        rows = rows.drop_duplicates("layer").sort_values("depth")
        return list(rows.layer[rows.kind == kind]) if kind else list(rows.layer)

    def r(self, run, layer, y, x="selectivity", statistic="spearman", seed=POOLED):
        """The row of a correlation, pooled over seeds or of one ``seed``: value, ci_low, ci_high, p."""
        rows = self.stats[(self.stats.model == run) & (self.stats.seed == str(seed)) & (self.stats.layer == layer)
                          & (self.stats.statistic == statistic) & (self.stats.x == x) & (self.stats.y == y)]
        if len(rows) != 1:
            raise UserError(f"stats.csv has {len(rows)} rows of {statistic} {x} {y} in {run} {layer} (seed {seed})")
        return rows.iloc[0]

    def r_text(self, run, layer, y, x="selectivity", statistic="spearman") -> str:
        row = self.r(run, layer, y, x, statistic)
        return f"{number(row.value)} [{number(row.ci_low)}, {number(row.ci_high)}]"

    def p_holm(self, run, layer, y, early=False, x="selectivity") -> float:
        """Holm-adjusted p of a layer within its claim's family (all layers, or the early conv layers)."""
        rows = self.stats[(self.stats.model == run) & (self.stats.seed == POOLED) & (self.stats.statistic ==
                          "spearman") & (self.stats.x == x) & (self.stats.y == y)].sort_values("depth")
        if early:
            rows = early_conv_layers(rows)
        adjusted = holm(rows.p.reset_index(drop=True))
        return float(adjusted[list(rows.layer).index(layer)])

    def significant(self, run, y, sign, early=False) -> list:
        """The layers that count for ``sign`` (Holm-adjusted p < 0.05 with r of that sign)."""
        rows = self.stats[(self.stats.model == run) & (self.stats.seed == POOLED) & (self.stats.statistic ==
                          "spearman") & (self.stats.x == "selectivity") & (self.stats.y == y)].sort_values("depth")
        if early:
            rows = early_conv_layers(rows)
        adjusted = holm(rows.p.reset_index(drop=True)).to_numpy()
        return [layer for layer, value, p in zip(rows.layer, rows.value, adjusted) if p < 0.05 and value * sign > 0]

    def mean(self, run, layer, x) -> float:
        rows = self.stats[(self.stats.model == run) & (self.stats.seed == POOLED) & (self.stats.layer == layer)
                          & (self.stats.statistic == "mean") & (self.stats.x == x)]
        return float(rows.value.iloc[0])

    def fraction_zero(self, run, layer, y="rs_iam") -> float:
        rows = self.stats[(self.stats.model == run) & (self.stats.seed == POOLED) & (self.stats.layer == layer)
                          & (self.stats.statistic == "fraction_zero") & (self.stats.x == y)]
        return float(rows.value.iloc[0])

    def lower(self, run) -> tuple:
        """(layers where mean RS of IAM is below AM's, layers compared)."""
        layers = self.layers(run)
        below = [layer for layer in layers if self.mean(run, layer, "rs_iam") < self.mean(run, layer, "rs_am")]
        return len(below), len(layers)

    # --- along the AM trajectory ----------------------------------------------------

    def steps(self):
        return sorted(self.trajectory.step.unique())

    def pooled_at(self, y, step, variant=None) -> pd.DataFrame:
        """Every layer's pooled r of selectivity and ``y`` at an AM step, in the base's trajectory
        or in a published variant's."""
        if variant is not None and variant not in self.variant_trajectories:
            raise UserError(f"{self.folder} holds no {VARIANTS}/{variant}/trajectory.csv; publish the study again "
                            f"('python -m repsub publish')")
        table = self.trajectory if variant is None else self.variant_trajectories[variant]
        return table[(table.seed == POOLED) & (table.statistic == "spearman") & (table.x == "selectivity")
                     & (table.y == y) & (table.step == step)]

    def r_at(self, run, layer, y, step, variant=None) -> float:
        rows = self.pooled_at(y, step, variant)
        rows = rows[(rows.model == run) & (rows.layer == layer)]
        if len(rows) != 1:
            raise UserError(f"the trajectory of {variant or 'the base'} has {len(rows)} pooled rows of {run} "
                            f"{layer} {y} at step {step}")
        return float(rows.value.iloc[0])

    def differs_from_base(self, variant, step, y="rs_am") -> list:
        """The (run, layer) whose pooled r at ``step`` differs between a variant's trajectory and
        the base's (none where the variant runs the same optimisation on)."""
        base, theirs = (self.pooled_at(y, step, which).set_index(["model", "layer"]).value for which in (None, variant))
        return [key for key in base.index.intersection(theirs.index)
                if not np.isclose(base[key], theirs[key], equal_nan=True)]

    def sign_turn(self, run, layer, y) -> str:
        """Where along the AM steps the pooled r first takes the other sign than at step 0:
        "between steps 2 and 4 (+0.13 to -0.12)", or "never"."""
        steps = self.steps()
        values = [self.r_at(run, layer, y, step) for step in steps]
        for (a, b), (va, vb) in zip(zip(steps, steps[1:]), zip(values, values[1:])):
            if np.sign(vb) != np.sign(values[0]) and np.sign(vb) != 0:
                return f"between steps {a} and {b} ({number(va)} to {number(vb)})"
        return "never"

    # --- cumulative ablation --------------------------------------------------------

    def retained(self, run, layer, order, fraction) -> float:
        """Test accuracy (mean over seeds and repeats) with ``fraction`` of ``layer``'s units
        ablated in ``order`` (e.g. "random", "selectivity_high_to_low")."""
        table = self.run_table(run, "cumulative.csv")
        rows = table[(table.layer == layer) & (table.order == order) & np.isclose(table.fraction, fraction)]
        if not len(rows):
            raise UserError(f"{run}/cumulative.csv has no rows of {layer} in order {order} at fraction {fraction}")
        return float(rows.accuracy.mean())

    def orders(self, run):
        return list(dict.fromkeys(self.run_table(run, "cumulative.csv").order))

    def retained_range(self, run, layer, fraction) -> tuple:
        """(lowest, highest) accuracy over every order at ``fraction``, and the orders that give them."""
        kept = {order: self.retained(run, layer, order, fraction) for order in self.orders(run)}
        low, high = min(kept, key=kept.get), max(kept, key=kept.get)
        return kept[low], low, kept[high], high

    def orders_alike(self, run, a, b) -> list:
        """The orders in which cumulative ablation of layers ``a`` and ``b`` gives the same accuracies."""
        table = self.run_table(run, "cumulative.csv")
        curve = {layer: table[table.layer == layer].set_index(["order", "repeat", "fraction"]).accuracy for layer in (a, b)}
        return [order for order in self.orders(run)
                if curve[a].xs(order, level="order").equals(curve[b].xs(order, level="order"))]

    # --- robustness -----------------------------------------------------------------

    def variants(self):
        return [v for v in dict.fromkeys(self.robustness.variant) if v != "base"]

    def differing(self, variant) -> int:
        """Rows of a variant whose verdict differs from the base's on the same layers and seeds."""
        rows = self.robustness[self.robustness.variant == variant]
        return int((rows.verdict != rows.base_verdict_same_coverage).sum())

    def variant_verdicts(self, variant, claim_id):
        """(run, verdict) of a claim under a variant."""
        rows = self.robustness[(self.robustness.variant == variant) & (self.robustness.claim_id == claim_id)]
        return [(r.model, r.verdict) for r in rows.itertuples()]

    def variant_rows(self, variant) -> int:
        return int((self.robustness.variant == variant).sum())


POWER_COLUMNS = ["design", "sd_z_basis", "seeds", "sesoi_r", "power_reproduced_at_sesoi", "power_absent_at_zero"]


def power_table(path):
    """The registered power analysis's table (docs/registration/power.csv, written by
    docs/registration/power.py), or one sentence saying what is wrong with the file."""
    fix = "give the table docs/registration/power.py wrote (docs/registration/power.csv)"
    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UserError(f"--power {path} cannot be read as a CSV table ({type(error).__name__}); {fix}") from None
    missing = [column for column in POWER_COLUMNS if column not in table]
    if missing:
        raise UserError(f"--power {path} lacks the column(s) {', '.join(missing)}; {fix}")
    return table


def render(template, folder, ours, paper, registered=None, power=None) -> str:
    """The article: ``template`` rendered over the study in ``folder``, the configs its runs were
    made with (``ours``), those of the paper's design (``paper``) and, where given, the
    published confirmatory study that holds the registered analysis (``registered``) and the
    registered power analysis's table (``power``)."""
    import jinja2

    template = Path(template)
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(template.parent), undefined=jinja2.StrictUndefined,
                                     keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    environment.filters.update(number=number, share=share)
    study = Study(folder, ours, paper, registered, power)
    try:
        text = environment.get_template(template.name).render(study=study)
    except jinja2.TemplateError as error:
        raise UserError(f"{template}: {type(error).__name__}: {error}; fix the template") from None
    return text
