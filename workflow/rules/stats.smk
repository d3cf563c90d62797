METHODS = config["analysis"]["am"]["methods"]


rule run_statistics:
    input:
        unpack(run_inputs),
    output:
        units=report(
            f"{RESULTS}/{{dataset}}/{{model}}/units.csv",
            caption="../report/units.rst",
            category="Statistics",
            labels={"data": "{dataset}", "model": "{model}", "table": "per-unit"},
        ),
        stats=report(
            f"{RESULTS}/{{dataset}}/{{model}}/stats.csv",
            caption="../report/stats.rst",
            category="Statistics",
            labels={"data": "{dataset}", "model": "{model}", "table": "statistics"},
        ),
    log:
        f"{RESULTS}/logs/{{dataset}}/{{model}}/stats.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/{{model}}/stats.tsv"
    conda:
        "../../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        results=lambda wc, output: Path(output.stats).parents[2],
        seeds=lambda wc: run_of(wc.dataset, wc.model)["seeds"],
        layers=lambda wc: layers_of(run_of(wc.dataset, wc.model)),
        methods=METHODS,
    shell:
        "python -m repsub stats --results {params.results:q} --dataset {wildcards.dataset:q} --model {wildcards.model:q}"
        " --seeds {params.seeds:q} --layers {params.layers:q} --methods {params.methods:q}"
        " --units {output.units:q} --out {output.stats:q} 2> {log:q}"


rule study_statistics:
    input:
        lambda wc: [
            layout.model_stats(RESULTS, run["dataset"], run["model"])
            for run in RUNS
            if run["dataset"] == wc.dataset
        ],
    output:
        stats=report(
            f"{RESULTS}/{{dataset}}/stats.csv",
            caption="../report/study_stats.rst",
            category="Statistics",
            labels={"data": "{dataset}", "table": "study statistics"},
        ),
        claims=report(
            f"{RESULTS}/{{dataset}}/claims.csv",
            caption="../report/claims.rst",
            category="Claims",
            labels={"data": "{dataset}", "table": "claims"},
        ),
    log:
        f"{RESULTS}/logs/{{dataset}}/study_statistics.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/study_statistics.tsv"
    conda:
        "../../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "python -m repsub study-stats --inputs {input:q} --out {output.stats:q} --claims {output.claims:q} 2> {log:q}"
