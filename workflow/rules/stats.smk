rule model_statistics:
    input:
        tables=model_tables,
    output:
        units=report(
            str(layout.model_units(RESULTS, DATASET, MODEL, VARIANT)),
            caption="../report/units.rst",
            category="Summary tables",
            labels={
                "data": "{dataset}",
                "model": "{model}",
                "variant": "{variant}",
                "table": "per-unit",
            },
        ),
        stats=report(
            str(layout.model_stats(RESULTS, DATASET, MODEL, VARIANT)),
            caption="../report/stats.rst",
            category="Summary tables",
            labels={
                "data": "{dataset}",
                "model": "{model}",
                "variant": "{variant}",
                "table": "statistics",
            },
        ),
        trajectory=str(layout.model_trajectory(RESULTS, DATASET, MODEL, VARIANT)),
    log:
        job_log(layout.model_units(RESULTS, DATASET, MODEL, VARIANT).parent, "stats"),
    benchmark:
        job_benchmark(
            layout.model_units(RESULTS, DATASET, MODEL, VARIANT).parent, "stats"
        )
    conda:
        "../../envs/stats.yaml"
    threads: 1
    resources:
        **retried(4000, 30),
    params:
        architecture=lambda wc: run_of(wc.dataset, wc.model)["model"],
        batch_norm=lambda wc: batch_norm_of(run_of(wc.dataset, wc.model)),
        seeds=lambda wc: seeds_of(run_of(wc.dataset, wc.model), wc.variant),
        layers=lambda wc: layers_of(run_of(wc.dataset, wc.model), wc.variant),
        methods=METHODS,
        from_base=from_base,
        exclude_unmoved=lambda wc: as_json(
            VARIANTS[wc.variant].get("exclude_unmoved", False)
        ),
        ablation=stage_settings("ablation"),
    shell:
        "python -m repsub stats --tables {input.tables:q} --dataset {wildcards.dataset:q}"
        " --model {wildcards.model:q} --architecture {params.architecture:q} --seeds {params.seeds:q}"
        " --layers {params.layers:q} --methods {params.methods:q} --variant {wildcards.variant:q}"
        " --from-base {params.from_base:q} --units {output.units:q} --out {output.stats:q}"
        " --trajectory {output.trajectory:q} --exclude-unmoved {params.exclude_unmoved:q}"
        " --ablation-settings {params.ablation:q} --batch-norm {params.batch_norm:q} > {log:q} 2>&1"
        " || (tail -n 1 {log:q} >&2; exit 1)"


rule study_statistics:
    input:
        stats=lambda wc: [
            str(layout.model_stats(RESULTS, run["dataset"], run["name"], wc.variant))
            for run in runs_in(wc.variant, wc.dataset)
        ],
        trajectories=lambda wc: [
            str(
                layout.model_trajectory(
                    RESULTS, run["dataset"], run["name"], wc.variant
                )
            )
            for run in runs_in(wc.variant, wc.dataset)
        ],
    output:
        stats=report(
            str(layout.study_stats(RESULTS, DATASET, VARIANT)),
            caption="../report/study_stats.rst",
            category="Summary tables",
            labels={
                "data": "{dataset}",
                "variant": "{variant}",
                "table": "study statistics",
            },
        ),
        claims=report(
            str(layout.claims(RESULTS, DATASET, VARIANT)),
            caption="../report/claims_csv.rst",
            category="Summary tables",
            labels={
                "data": "{dataset}",
                "variant": "{variant}",
                "table": "claims (CSV)",
            },
        ),
        trajectory=str(layout.study_trajectory(RESULTS, DATASET, VARIANT)),
    log:
        job_log(layout.study_dir(RESULTS, DATASET, VARIANT), "study_statistics"),
    benchmark:
        job_benchmark(layout.study_dir(RESULTS, DATASET, VARIANT), "study_statistics")
    conda:
        "../../envs/stats.yaml"
    threads: 1
    resources:
        **retried(2000, 10),
    shell:
        "python -m repsub study-stats --inputs {input.stats:q} --trajectories {input.trajectories:q}"
        " --out {output.stats:q} --claims {output.claims:q} --trajectory {output.trajectory:q}"
        " > {log:q} 2>&1"
        " || (tail -n 1 {log:q} >&2; exit 1)"


rule registered_analysis:
    input:
        stats=lambda wc: [
            str(layout.study_stats(RESULTS, wc.dataset, BASE)),
            *map(str, exploratory_stats(config["registration"])),
        ],
        registration=lambda wc: str(registration_file(config["registration"])),
    output:
        stats=str(layout.registered(RESULTS, DATASET, "stats")),
        claims=report(
            str(layout.registered(RESULTS, DATASET, "claims")),
            caption="../report/registered_claims.rst",
            category="Summary tables",
            labels={"data": "{dataset}", "table": "registered claims (CSV)"},
        ),
        primary=report(
            str(layout.registered(RESULTS, DATASET, "primary")),
            caption="../report/registered_primary.rst",
            category="Summary tables",
            labels={"data": "{dataset}", "table": "primary test (CSV)"},
        ),
    log:
        job_log(layout.registered(RESULTS, DATASET, "stats").parent, "registered"),
    benchmark:
        job_benchmark(layout.registered(RESULTS, DATASET, "stats").parent, "registered")
    conda:
        "../../envs/stats.yaml"
    threads: 1
    resources:
        **retried(2000, 10),
    params:
        seeds=lambda wc: config["registration"]["seeds"],
        runs=lambda wc: registered_runs(config["registration"]),
    shell:
        "python -m repsub registered --stats {input.stats:q} --registration {input.registration:q}"
        " --seeds {params.seeds:q} {params.runs:q} --out {output.stats:q} --claims {output.claims:q}"
        " --primary {output.primary:q} > {log:q} 2>&1"
        " || (tail -n 1 {log:q} >&2; exit 1)"


rule robustness:
    input:
        claims=lambda wc: [
            str(layout.claims(RESULTS, wc.dataset, variant))
            for variant in VARIANTS
            if runs_in(variant, wc.dataset)
        ],
        stats=lambda wc: [
            str(layout.study_stats(RESULTS, wc.dataset, variant))
            for variant in VARIANTS
            if runs_in(variant, wc.dataset)
        ],
    output:
        table=report(
            str(layout.robustness(RESULTS, DATASET)),
            caption="../report/robustness_csv.rst",
            category="Summary tables",
            labels={"data": "{dataset}", "table": "robustness (CSV)"},
        ),
        figure=report(
            str(layout.study_figure(RESULTS, DATASET, "robustness")),
            caption="../report/robustness_figure.rst",
            category="Claims",
            labels={"data": "{dataset}", "figure": "robustness"},
        ),
        pdf=str(layout.study_figure(RESULTS, DATASET, "robustness", "pdf")),
        forest=report(
            str(layout.study_figure(RESULTS, DATASET, "forest")),
            caption="../report/forest.rst",
            category="Claims",
            labels={"data": "{dataset}", "figure": "forest"},
        ),
        forest_pdf=str(layout.study_figure(RESULTS, DATASET, "forest", "pdf")),
    log:
        job_log(layout.study_dir(RESULTS, DATASET, BASE).parent, "robustness"),
    benchmark:
        job_benchmark(layout.study_dir(RESULTS, DATASET, BASE).parent, "robustness")
    conda:
        "../../envs/stats.yaml"
    threads: 1
    resources:
        **retried(2000, 10),
    params:
        variants=lambda wc: [v for v in VARIANTS if runs_in(v, wc.dataset)],
        coverage=lambda wc: as_json(
            {
                variant: {
                    run["name"]: {
                        "layers": layers_of(run, variant),
                        "seeds": seeds_of(run, variant),
                    }
                    for run in runs
                }
                for variant in VARIANTS
                if (runs := runs_in(variant, wc.dataset))
            }
        ),
    shell:
        "python -m repsub robustness --variants {params.variants:q} --claims {input.claims:q}"
        " --stats {input.stats:q} --layers {params.coverage:q} --out {output.table:q}"
        " --figure {output.figure:q} --forest {output.forest:q} > {log:q} 2>&1"
        " || (tail -n 1 {log:q} >&2; exit 1)"


rule report_pages:
    input:
        claims=[str(layout.claims(RESULTS, d, BASE)) for d in datasets_studied()],
        robustness=[str(layout.robustness(RESULTS, d)) for d in datasets_studied()],
        stats=[str(layout.study_stats(RESULTS, d, BASE)) for d in datasets_studied()],
        manifests=[str(layout.manifest(RESULTS, d)) for d in datasets_studied()],
        metrics=[
            str(layout.metrics(RESULTS, run["dataset"], run["name"], seed))
            for run in RUNS
            for seed in run["seeds"]
        ],
    output:
        front_page=report(
            str(layout.report_page(RESULTS, "front_page")),
            caption="../report/front_page.rst",
            category="Claims",
            labels={"table": "verdicts of every run"},
        ),
        claims=[
            report(
                str(layout.report_page(RESULTS, "claims", d)),
                caption="../report/claims.rst",
                category="Claims",
                labels={"data": d, "table": "claims"},
            )
            for d in datasets_studied()
        ],
        robustness=[
            report(
                str(layout.report_page(RESULTS, "robustness", d)),
                caption="../report/robustness.rst",
                category="Claims",
                labels={"data": d, "table": "robustness"},
            )
            for d in datasets_studied()
        ],
    log:
        job_log(layout.report_page(RESULTS, "front_page").parent, "report_pages"),
    benchmark:
        job_benchmark(layout.report_page(RESULTS, "front_page").parent, "report_pages")
    conda:
        "../../envs/stats.yaml"
    threads: 1
    resources:
        **retried(2000, 10),
    params:
        configfiles=[str(path) for path in workflow.configfiles],
        runs=as_json(
            [
                {
                    "dataset": run["dataset"],
                    "name": run["name"],
                    "model": run["model"],
                    "seeds": run["seeds"],
                    "layers": layers_of(run),
                    "metrics": [
                        str(layout.metrics(RESULTS, run["dataset"], run["name"], seed))
                        for seed in run["seeds"]
                    ],
                    "ablation_images": {
                        **config["analysis"]["ablation"],
                        **run.get("analysis", {}).get("ablation", {}),
                    }.get("max_images"),
                }
                for run in RUNS
            ]
        ),
    shell:
        "python -m repsub report-pages --claims {input.claims:q} --robustness {input.robustness:q}"
        " --stats {input.stats:q} --manifests {input.manifests:q} --metrics {input.metrics:q}"
        " --configfiles {params.configfiles:q} --runs {params.runs:q} --claims-pages {output.claims:q}"
        " --robustness-pages {output.robustness:q} --front-page {output.front_page:q} > {log:q} 2>&1"
        " || (tail -n 1 {log:q} >&2; exit 1)"
