# repsub: reproduce "Understanding the Importance of Single Directions via
# Representative Substitution" (Chen et al. 2019) and extend it with
# single-unit ablation. See README.md.
from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


# The default study, unless --configfile names a preset: presets stand alone, so that
# none inherits the default study's runs, variants or settings.
if not workflow.overwrite_configfiles:
    import sys

    sys.path.insert(0, workflow.basedir)
    from repsub.configuration import yaml_problem

    problem = yaml_problem(f"{workflow.basedir}/config.yaml")
    if problem:  # one sentence with its line, not Snakemake's two lines without one
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)

    configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/ablation.smk"
include: "workflow/rules/stats.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        all_targets(),
