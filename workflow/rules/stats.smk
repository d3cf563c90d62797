rule model_statistics:
    input:
        unpack(model_tables),
    output:
        units=report(
            str(layout.model_units(RESULTS, DATASET, MODEL)),
            caption="../report/units.rst",
            category="Summary tables",
            labels={"data": "{dataset}", "model": "{model}", "table": "per-unit"},
        ),
        stats=report(
            str(layout.model_stats(RESULTS, DATASET, MODEL)),
            caption="../report/stats.rst",
            category="Summary tables",
            labels={"data": "{dataset}", "model": "{model}", "table": "statistics"},
        ),
    log:
        job_log(layout.model_dir(RESULTS, DATASET, MODEL), "stats"),
    benchmark:
        job_benchmark(layout.model_dir(RESULTS, DATASET, MODEL), "stats")
    conda:
        "../../envs/stats.yaml"
    threads: 1
    resources:
        **retried(4000, 30),
    params:
        results=results_folder,
        seeds=lambda wc: run_of(wc.dataset, wc.model)["seeds"],
        layers=lambda wc: layers_of(run_of(wc.dataset, wc.model)),
        methods=METHODS,
    shell:
        "python -m repsub stats --results {params.results:q} --dataset {wildcards.dataset:q}"
        " --model {wildcards.model:q} --seeds {params.seeds:q} --layers {params.layers:q}"
        " --methods {params.methods:q} --units {output.units:q} --out {output.stats:q} > {log:q} 2>&1"


rule study_statistics:
    input:
        lambda wc: [
            str(layout.model_stats(RESULTS, run["dataset"], run["model"]))
            for run in RUNS
            if run["dataset"] == wc.dataset
        ],
    output:
        stats=report(
            str(layout.study_stats(RESULTS, DATASET)),
            caption="../report/study_stats.rst",
            category="Summary tables",
            labels={"data": "{dataset}", "table": "study statistics"},
        ),
        claims=report(
            str(layout.claims(RESULTS, DATASET)),
            caption="../report/claims.rst",
            category="Claims",
            labels={"data": "{dataset}", "table": "claims"},
        ),
    log:
        job_log(layout.study_stats(RESULTS, DATASET).parent, "study_statistics"),
    benchmark:
        job_benchmark(layout.study_stats(RESULTS, DATASET).parent, "study_statistics")
    conda:
        "../../envs/stats.yaml"
    threads: 1
    resources:
        **retried(2000, 10),
    shell:
        "python -m repsub study-stats --inputs {input:q} --out {output.stats:q}"
        " --claims {output.claims:q} > {log:q} 2>&1"
