"""repsub: representative substitution (Chen et al. 2019) and single-unit ablation.

The science lives here as plain functions; the Snakemake workflow calls the
command-line entry points in :mod:`repsub.cli`.
"""

__version__ = "0.1.0"
